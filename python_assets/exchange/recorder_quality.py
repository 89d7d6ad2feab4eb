"""Backtests whose window contains a symbol-day the live recorder left unusable (a lost trades hole or
too little trades coverage; mart recorder_coverage): such a backtest silently spans a hole."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

from python_assets.warehouse.connection import table_exists


def backtests_over_unusable_days(con: duckdb.DuckDBPyConnection, day: date | None = None) -> list[dict[str, Any]]:
    """[{backtest_id, symbol, unusable_days: ['YYYY-MM-DD', ...]}] for backtests (of partition `day` when given)
    whose [window_start, window_end) overlaps an unusable symbol-day; days without recorder rows count as usable."""
    if not (table_exists(con, "strategy_backtest_results") and table_exists(con, "recorder_coverage")):
        return []
    found = con.execute(
        """
        with unusable as (select distinct symbol, coverage_date from recorder_coverage where not is_usable)
        select b.backtest_id, b.symbol, list(distinct strftime(u.coverage_date, '%Y-%m-%d') order by strftime(u.coverage_date, '%Y-%m-%d'))
        from strategy_backtest_results b
        join unusable u on u.symbol = b.symbol
         and u.coverage_date >= cast(b.window_start at time zone 'UTC' as date)
         and u.coverage_date <= cast((b.window_end - interval 1 millisecond) at time zone 'UTC' as date)
        where cast(? as date) is null or b.partition_date = cast(? as date)
        group by b.backtest_id, b.symbol order by b.backtest_id
        """, [day, day]).fetchall()
    return [{"backtest_id": b, "symbol": s, "unusable_days": list(days)} for b, s, days in found]


def unusable_spans(con: duckdb.DuckDBPyConnection, day: date | None = None) -> list[dict[str, Any]]:
    """Per symbol, how many backtests (of partition `day` when given) span days the recorder left unusable, and
    those days with recorder_coverage's reason: [{symbol, backtests, days: [{day, reason}]}] (one definition of
    the overlap, backtests_over_unusable_days, for the check and the daily report alike)."""
    return spans_of(con, backtests_over_unusable_days(con, day))


def spans_of(con: duckdb.DuckDBPyConnection, flagged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """unusable_spans of backtests_over_unusable_days' rows already read (the check has them: not read twice)."""
    if not flagged:
        return []
    reasons = dict(((s, str(d)), r) for s, d, r in con.execute(
        "select distinct symbol, coverage_date, unusable_reason from recorder_coverage where not is_usable").fetchall())
    spans: dict[str, dict[str, Any]] = {}
    for b in flagged:
        span = spans.setdefault(b["symbol"], {"symbol": b["symbol"], "backtests": 0, "days": set()})
        span["backtests"] += 1
        span["days"].update(b["unusable_days"])
    return [{**s, "days": [{"day": d, "reason": reasons.get((s["symbol"], d))} for d in sorted(s["days"])]}
            for _, s in sorted(spans.items())]


def span_lines(spans: list[dict[str, Any]]) -> list[str]:
    """One line per symbol: its backtests that span unusable recorder days, each day with why it is unusable."""
    def one(span: dict[str, Any]) -> str:
        days = ", ".join(f"{d['day']} ({d['reason']})" for d in span["days"])
        which = "a day" if len(span["days"]) == 1 else "days"
        noun = "backtest spans" if span["backtests"] == 1 else "backtests span"
        return f"{span['symbol']}: {span['backtests']} {noun} {days}, {which} the recorder left unusable"
    return [one(s) for s in spans]
