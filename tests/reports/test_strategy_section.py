"""The report's top strategies: the day's best backtests by composite score among those with enough trades
to rank on, of symbols that traded on the day (a hostile review's 10-day lake put a 1-trade Sharpe of 26
third and three backtests of a symbol delisted a week earlier in the top ten)."""

from __future__ import annotations

from datetime import date

import duckdb

from python_assets.reports import sections

DAY = date(2026, 12, 5)
COLUMNS = [c.strip() for c in sections.STRATEGY_COLUMNS.split(",")]


def test_top_strategies_leave_out_thin_samples_and_symbols_without_a_bar_on_the_day():
    con = duckdb.connect()
    con.execute(f"create table report_strategies ({', '.join(f'{c} varchar' for c in COLUMNS)}, "
                "partition_date date, symbol_traded_on_day boolean)")
    con.execute("alter table report_strategies alter trade_count type integer")
    con.execute("alter table report_strategies alter composite_score type double")
    rows = [("one_trade", "DOGE", 1, 4.78, True), ("delisted", "XRP", 40, 3.0, False),
            ("best", "BTC", 12, 2.0, True), ("at_the_bar", "ETH", sections.TOP_MIN_TRADES, 1.5, True),
            ("below_the_bar", "ETH", sections.TOP_MIN_TRADES - 1, 1.2, True), ("yesterday", "BTC", 30, 9.0, True)]
    for name, symbol, trades, score, traded in rows:
        con.execute("insert into report_strategies (backtest_id, strategy, symbol, trade_count, composite_score, "
                    "partition_date, symbol_traded_on_day) values (?, ?, ?, ?, ?, ?, ?)",
                    [name, name, symbol, trades, score, DAY if name != "yesterday" else date(2026, 12, 4), traded])
    assert [s["strategy"] for s in sections.strategies(con, DAY)] == ["best", "at_the_bar"]
