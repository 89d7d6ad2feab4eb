"""composite_score ranks a wiped-out run below every other and never rewards a deeper drawdown: the
expression strategy_backtest_results.sql calls, rendered from macros/composite_score.sql and run on
DuckDB over runs whose metrics come from random equity paths (computed as bt_equity_stats does).
BLOFIN_HYPOTHESIS_EXAMPLES raises the example count (`make soak` runs 10,000)."""

from __future__ import annotations

import math
import os
import re
from functools import lru_cache

import duckdb
import jinja2
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_assets.config import DBT_PROJECT_DIR

EXAMPLES = int(os.environ.get("BLOFIN_HYPOTHESIS_EXAMPLES", "60"))
E0 = 10_000.0
WIPED, FLOOR = -1000.0, -999.0


@lru_cache(maxsize=1)
def score_sql() -> str:
    """select <the model's composite_score expression> from runs, rendered with the project's macro."""
    model = (DBT_PROJECT_DIR / "models" / "marts" / "strategy_backtest_results.sql").read_text()
    call = re.search(r"\{\{\s*composite_score\(.*?\)\s*\}\}", model)
    assert call, "strategy_backtest_results.sql no longer calls the composite_score macro"
    macro = (DBT_PROJECT_DIR / "macros" / "composite_score.sql").read_text()
    return jinja2.Environment().from_string(f"{macro}select {call.group(0)} as score from runs").render()


@lru_cache(maxsize=1)
def connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for the module (a connection per example would dominate the run time)."""
    return duckdb.connect()


def scores(runs: pd.DataFrame) -> np.ndarray:
    """The composite score of each row (sharpe, trade_count, max_drawdown, final_equity), by DuckDB."""
    sql = ("with runs as (select unnest(?::double[]) as sharpe, unnest(?::integer[]) as trade_count, "
           "unnest(?::double[]) as max_drawdown, unnest(?::double[]) as final_equity) "
           f"select score, typeof(score) from ({score_sql()})")
    sharpe = [None if v is None or math.isnan(v) else float(v) for v in runs["sharpe"]]  # no Sharpe: NULL
    rows = connection().execute(sql, [sharpe, runs["trade_count"].astype(int).tolist(),
                                      runs["max_drawdown"].astype(float).tolist(),
                                      runs["final_equity"].astype(float).tolist()]).fetchall()
    assert {kind for _, kind in rows} == {"DOUBLE"}
    return np.array([score for score, _ in rows], dtype=float)


def metrics(path: np.ndarray, trade_count: int, bars_per_year: float) -> dict[str, float | None]:
    """Sharpe, max drawdown and final equity of an equity path after E0, as bt_equity_stats and the mart
    define them: bar returns against the previous equity (none after 0), drawdown against the running peak."""
    prev = np.concatenate([[E0], path[:-1]])
    r = np.array([e / p - 1 for e, p in zip(path, prev) if p != 0])
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    sharpe = float(r.mean() / sd * math.sqrt(bars_per_year)) if sd > 0 else None
    peak = np.maximum(np.maximum.accumulate(path), E0)
    return {"sharpe": sharpe, "trade_count": trade_count, "max_drawdown": min(float((path / peak - 1).min()), 0.0),
            "final_equity": float(path[-1])}


@st.composite
def equity_paths(draw) -> dict[str, float | None]:
    """An equity path (drifting, calm or wild, maybe liquidated to a sliver or wiped out to 0 for good)."""
    n = draw(st.integers(1, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vol = draw(st.sampled_from([1e-7, 1e-3, 0.05, 0.5]))
    drift = draw(st.sampled_from([-1.0, 0.0, 1.0])) * vol * draw(st.floats(0, 3))
    path = E0 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    end = draw(st.sampled_from(["alive", "liquidated", "wiped"]))
    at = draw(st.integers(0, n - 1))
    if end == "liquidated":  # a liquidation leaves the maintenance margin: a sliver of the peak
        path[at:] = path[at:] / path[at] * path[: at + 1].max() * draw(st.floats(1e-4, 0.01))
    elif end == "wiped":
        path[at:] = 0.0
    return metrics(path, draw(st.integers(0, 100)), draw(st.sampled_from([365.0, 8760.0, 525_600.0])))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(equity_paths(), min_size=2, max_size=12), st.floats(0, 1))
def test_a_wipe_out_scores_below_every_other_run_and_a_deeper_drawdown_never_scores_higher(runs, deeper):
    frame = pd.DataFrame(runs)
    # each run's twin: the same Sharpe, trades and final equity with a deeper drawdown
    twins = frame.assign(max_drawdown=frame["max_drawdown"] - deeper * (1 + frame["max_drawdown"]))
    both = pd.concat([frame, twins], ignore_index=True)
    all_scores = scores(both)
    s, t = all_scores[: len(frame)], all_scores[len(frame):]
    assert np.isfinite(all_scores).all()
    wiped = ((both["final_equity"] <= 0) | (both["max_drawdown"] <= -1)).to_numpy()
    assert (all_scores[wiped] == WIPED).all()
    if (~wiped).any():
        assert all_scores[~wiped].min() >= FLOOR > WIPED
    assert (t <= s).all(), pd.DataFrame({"score": s, "deeper": t}).join(frame)


def reference(sharpe: float | None, trades: int, mdd: float, final: float) -> float:
    """The documented formula, written out in Python."""
    if final <= 0 or mdd <= -1:
        return WIPED
    base = (sharpe or 0.0) * math.sqrt(min(trades, 30) / 30)
    return max(FLOOR, base * (1 + mdd) if base >= 0 else base / (1 + mdd))


CASES = [  # sharpe, trades, max drawdown, final equity, score
    (2.0, 40, -0.2, 12_000.0, 1.6),  # enough trades: Sharpe x (1 + mdd)
    (1.0, 15, 0.0, 10_500.0, math.sqrt(0.5)),  # 15 trades: x sqrt(15 / 30)
    (-1.0, 30, -0.5, 5_000.0, -2.0),  # a loser's drawdown deepens its score
    (None, 0, 0.0, 10_000.0, 0.0),  # no Sharpe, no trades
    (5.0, 30, -1.0, 0.0, WIPED),  # a good Sharpe until the wipe-out (the issue-17 case)
    (-3.0, 30, -0.999, 1.0, -999.0),  # -3000 before the floor
]


@pytest.mark.parametrize("sharpe, trades, mdd, final, want", CASES)
def test_composite_score_matches_the_hand_computed_value(sharpe, trades, mdd, final, want):
    got = scores(pd.DataFrame([{"sharpe": sharpe, "trade_count": trades, "max_drawdown": mdd, "final_equity": final}]))
    assert got[0] == pytest.approx(want, rel=1e-12) and reference(sharpe, trades, mdd, final) == pytest.approx(want)
