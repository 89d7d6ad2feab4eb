"""The walk-forward report chains and lists folds in time order: the fold names sort as text, so past 99
folds wf100 came between wf10 and wf11 (a chained max drawdown of -28.5 % against -24.1 % in time order)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from python_assets.backtest.report import fold_table, out_of_sample_summary

HOUR = 3_600_000


def test_folds_past_99_are_chained_and_listed_in_time_order():
    # fold k: out of sample [k h, k+1 h); equity falls 1 % a fold, except fold 100 (the last) which gains 50 %
    results, equity = [], []
    for k in range(1, 101):
        for kind in ("in_sample", "out_of_sample"):
            results.append({"symbol": "S", "window_id": f"wf{k:02d}", "window_kind": kind, "backtest_id": f"{kind}{k}",
                            "window_start": k * HOUR, "window_end": (k + 1) * HOUR, "initial_equity": 100.0,
                            "total_return": 0.0, "buy_and_hold_return": 0.0, "max_drawdown": 0.0, "trade_count": 0,
                            "sharpe": None, "strategy_id": "x"})
        equity.append({"backtest_id": f"out_of_sample{k}", "bar_at_ms": k * HOUR, "equity": 150.0 if k == 100 else 99.0})
    oos = [r for r in results if r["window_kind"] == "out_of_sample"]
    summary = out_of_sample_summary(oos, pd.DataFrame(columns=["backtest_id", "pnl"]), pd.DataFrame(equity))
    drawdown = float(re.search(r"^S\s+100\s+\S+\s+\S+\s+\S+\s+(\S+)", summary, re.M)[1])
    assert drawdown == round((0.99 ** 99 - 1) * 100, 2)  # the gain comes last: the whole fall is the drawdown
    listed = re.findall(r"^S\s+(wf\d+)\s", fold_table(results), re.M)
    assert listed == [f"wf{k:02d}" for k in range(1, 101)]
    assert np.all(np.diff([int(w[2:]) for w in listed]) == 1)
