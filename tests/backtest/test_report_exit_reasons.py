"""The backtest report's exit-reason table: Total profit % is of the accounts the trades came from."""

from __future__ import annotations

import pandas as pd

from python_assets.backtest.report import format_run

DAY_MS = 86_400_000
METRICS = ("total_return", "buy_and_hold_return", "cagr", "max_drawdown", "max_drawdown_duration_days", "sharpe",
           "sortino", "calmar", "win_rate", "profit_factor", "expectancy", "exposure", "fees_paid", "funding_paid",
           "final_equity")


def full_result(backtest_id: str, symbol: str, equity: float) -> dict:
    """One symbol's full-window backtest with its own starting equity (metrics left out: NULL)."""
    return {"backtest_id": backtest_id, "strategy_id": "s", "symbol": symbol, "timeframe": "1h", "window_id": "full",
            "window_kind": "full", "window_start": 0, "window_end": 10 * DAY_MS, "trade_count": 1,
            "initial_equity": equity, **dict.fromkeys(METRICS)}


def trade(backtest_id: str, symbol: str, pnl: float) -> dict:
    return {"backtest_id": backtest_id, "symbol": symbol, "trade_no": 1, "side": "long", "entry_at_ms": 0,
            "exit_at_ms": DAY_MS, "entry_price": 100.0, "exit_price": 101.0, "return_pct": 0.01, "pnl": pnl,
            "exit_reason": "signal"}


def test_total_profit_is_of_every_symbols_starting_equity():
    # three symbols, each its own 10,000 account, each trade +100: 300 of 30,000 is 1%; of one account's
    # 10,000 the table said 3%
    symbols = ["A-USDT", "B-USDT", "C-USDT"]
    results = [full_result(f"b{i}", s, 10_000.0) for i, s in enumerate(symbols)]
    trades = pd.DataFrame([trade(f"b{i}", s, 100.0) for i, s in enumerate(symbols)])
    text = format_run(results, trades, pd.DataFrame(), max_trades=0)
    reasons = text.split("Exit reasons\n")[1].splitlines()
    row = reasons[2]
    assert "Total profit %" in reasons[0]
    assert row.split()[:6] == ["signal", "3", "3/0/0", "100.0", "1.00", "300.00"]
    assert row.split()[6] == "1.00", row
