"""Asset checks written in Python (dbt tests already surface as checks through dagster-dbt)."""

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from dagster_defs.partitions import day_start_ms, window_days
from dagster_defs.resources import WAREHOUSE_POOL, MarketSource, Warehouse
from python_assets.config import freshness_minutes
from python_assets.exchange.recorder_quality import backtests_over_unusable_days, span_lines, spans_of
from python_assets.lake.store import normalize_symbol
from python_assets.platform.timeframes import MINUTE_MS, TIMEFRAME_MS
from python_assets.warehouse.connection import connect_warehouse, table_exists


def bars_freshness(warehouse: str | Path, max_gap_minutes: int, day: date | None = None,
                   expected: Sequence[str] = ()) -> tuple[bool, dict]:
    """Per symbol: minutes between the close of its last bar of `day` and that day's end, read from the
    finest bars the symbol has that day (1m from ticks; a day of imported 1h candles is checked on its
    1h bars, not called silent for having no 1m bar). `day` is the run's partition (a backfilled day is
    checked, not the newest day stored); without one, the newest day. Only bars inside the day count (a
    bar stamped after its end made a stale symbol look fresh, a negative lag); every symbol with a bar
    before the day's end is checked, so one without a bar that day is stale (None), and one whose first
    bar comes later has not begun yet and is not listed. An `expected` (configured) symbol without any
    bar up to the day's end is missing: its feed never delivered, whatever later days hold; unless an
    instruments snapshot taken before the day's end did not list it yet (dim_instruments)."""
    with connect_warehouse(Path(warehouse), read_only=True) as con:
        tables = [(f"bars_{tf}", ms) for tf, ms in TIMEFRAME_MS.items() if table_exists(con, f"bars_{tf}")]
        day = day or _newest_day(con, tables)
        lag: dict[str, int | None] = {}
        if day is not None:
            start, end = day_start_ms(day), day_start_ms(day + timedelta(days=1))
            for table, width in tables:  # finest first: a symbol is checked on the finest bars it has that day
                for symbol, last in con.execute(
                        f"select symbol, max(bar_at_ms) filter (where bar_at_ms >= ? and bar_at_ms < ?) from {table} "
                        "where bar_at_ms < ? group by symbol order by symbol", [start, end, end]).fetchall():
                    if lag.get(symbol) is None:
                        lag[symbol] = None if last is None else (end - last - width) // MINUTE_MS
        absent = sorted({lake_spelling(s) for s in expected} - set(lag))
        unlisted = not_yet_listed(con, absent, _day_end_ms(day)) if absent else set()
    lag = dict(sorted(lag.items()))
    stale = {s: m for s, m in lag.items() if m is None or m > max_gap_minutes}
    missing = [s for s in absent if s not in unlisted]
    return not stale and not missing and bool(lag), {"minutes_behind_day_end": lag, "stale": stale,
                                                     "missing": missing}


def _newest_day(con: duckdb.DuckDBPyConnection, tables: list[tuple[str, int]]) -> date | None:
    """The newest bar_date of any bars table (None when none holds a bar)."""
    days = [con.execute(f"select max(bar_date) from {table}").fetchall()[0][0] for table, _ in tables]
    return max((d for d in days if d is not None), default=None)


def lake_spelling(symbol: str) -> str:
    """A configured symbol as the lake stores it ('btc/usdt:usdt' -> 'BTC-USDT'); one it refuses, as set."""
    try:
        return normalize_symbol(symbol)
    except ValueError:
        return symbol


def _day_end_ms(day: date | None) -> int | None:
    """The checked day's end in epoch ms (None: no day, no bars)."""
    return None if day is None else day_start_ms(day + timedelta(days=1))


def not_yet_listed(con: duckdb.DuckDBPyConnection, symbols: list[str], end_ms: int | None) -> set[str]:
    """The symbols an instruments snapshot taken before end_ms did not list (no dim_instruments version
    starts before it while another symbol's does); empty without snapshots before end_ms."""
    if end_ms is None or not table_exists(con, "dim_instruments"):
        return set()
    known = {s for (s,) in con.execute("select distinct symbol from dim_instruments where valid_from_ms < ?",
                                       [end_ms]).fetchall()}
    return {s for s in symbols if s not in known} if known else set()


def window_freshness(warehouse: str | Path, max_gap_minutes: int, days: list[date | None],
                     expected: Sequence[str] = ()) -> tuple[bool, dict]:
    """bars_freshness of every day of a run's window (a range run or backfill checks each of its days,
    not only the last): passed when all are; the lags, stale symbols and missing configured symbols per day."""
    results = {str(day): bars_freshness(warehouse, max_gap_minutes, day, expected) for day in days}
    return all(passed for passed, _ in results.values()), {
        "minutes_behind_day_end": {d: meta["minutes_behind_day_end"] for d, (_, meta) in results.items()},
        "stale": {d: meta["stale"] for d, (_, meta) in results.items() if meta["stale"]},
        "missing": {d: meta["missing"] for d, (_, meta) in results.items() if meta["missing"]}}


def missing_lines(missing: dict[str, list[str]]) -> list[str]:
    """One line per configured symbol that has no bar up to a day's end, naming it and the days."""
    days: dict[str, list[str]] = {}
    for day, symbols in missing.items():
        for symbol in symbols:
            days.setdefault(symbol, []).append("the newest day" if day == "None" else day)  # a run without partitions
    return [f"{s}: configured (BLOFIN_SYMBOLS) but no bars up to the end of {', '.join(d)}: its feed never "
            "delivered" for s, d in sorted(days.items())]


def _window(context: dg.AssetCheckExecutionContext) -> list[date | None]:
    """The days of the run's partition window, or [None] (the newest day) for a run without partitions."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return [None]
    return window_days(*context.partition_time_window)


@dg.asset_check(asset=dg.AssetKey("bars_1m"), pool=WAREHOUSE_POOL,
                description="Every symbol's last bar (1m, or its finest candles on a day without ticks) is close to "
                            "the end of each day of the run's window, and "
                            "every configured symbol (BLOFIN_SYMBOLS) has bars by then.")
def bars_1m_is_fresh(context: dg.AssetCheckExecutionContext, warehouse: Warehouse,
                     market_source: MarketSource) -> dg.AssetCheckResult:
    max_gap = freshness_minutes()
    days = _window(context)
    with warehouse.locked() as p:
        passed, meta = window_freshness(p.warehouse, max_gap, days, market_source.symbol_list())
    lines = missing_lines(meta["missing"])
    for line in lines:
        context.log.warning(line)
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(lines) or None,
        metadata={"max_gap_minutes": max_gap, "days": [str(d) for d in days],
                  **{k: dg.MetadataValue.json(v) for k, v in meta.items()}},
    )


@dg.asset_check(asset=dg.AssetKey("strategy_backtest_results"), pool=WAREHOUSE_POOL,
                description="No backtest of the run's day spans a symbol-day the live recorder left unusable (recorder_coverage).")
def backtests_avoid_unusable_recorder_days(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
    days = _window(context)
    with warehouse.locked() as p, connect_warehouse(p.warehouse, read_only=True) as con:
        found = {day: backtests_over_unusable_days(con, day) for day in days}
        lines = [(f"{day}: " if len(days) > 1 else "") + line for day in days for line in span_lines(spans_of(con, found[day]))]
    flagged = [b for day in days for b in found[day]]
    return dg.AssetCheckResult(
        passed=not flagged,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(lines) or None,
        metadata={"days": [str(d) for d in days], "flagged_backtests": len(flagged),
                  "backtests": dg.MetadataValue.json(flagged[:50])},
    )


defs = dg.Definitions(asset_checks=[bars_1m_is_fresh, backtests_avoid_unusable_recorder_days])
