"""Fill the lake with the synthetic market, and check the lake has data for a window of days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from python_assets.config import Paths
from python_assets.lake import WriteStats, stored_symbols, trades_partition, write_funding, write_trades
from python_assets.synthetic import DEFAULT_SEED, generate_funding, generate_ticks


class LakeDataMissing(RuntimeError):
    """A partition's days have no trades in the lake."""


def generate_market_day(paths: Paths, symbol: str, day: date, seed: int = DEFAULT_SEED) -> tuple[WriteStats, WriteStats]:
    """Write one synthetic day of ticks and funding; does nothing when the day already has trades.

    Skipping is safe for generated days (generation is deterministic) and essential for ingested
    ones: synthetic ticks must never be merged into a partition that holds real trades.
    """
    if trades_partition(paths, symbol, day).exists():
        return WriteStats(0, 0, 0, ()), WriteStats(0, 0, 0, ())
    trades = write_trades(paths, symbol, generate_ticks(symbol, day, seed))
    funding = write_funding(paths, symbol, generate_funding(symbol, day, seed))
    return trades, funding


def generate_market(paths: Paths, symbols: Iterable[str], days: Iterable[date], seed: int = DEFAULT_SEED) -> int:
    """Generate every (symbol, day); returns the number of ticks added to the lake."""
    days = list(days)
    return sum(generate_market_day(paths, s, d, seed)[0].added for s in symbols for d in days)


def require_lake_days(paths: Paths, days: Iterable[date]) -> dict[str, list[str]]:
    """Raise LakeDataMissing naming the days no symbol has trades for; return {symbol: days it lacks}."""
    days = list(days)
    symbols = stored_symbols(paths)
    have = {s: {d for d in days if trades_partition(paths, s, d).exists()} for s in symbols}
    empty = [d.isoformat() for d in days if not any(d in h for h in have.values())]
    if empty:
        raise LakeDataMissing(
            f"no trades in the lake for {', '.join(empty)} (looked under {paths.trades}); "
            "ingest files with `blofin-stack ingest FILE --symbol S` or use BLOFIN_SOURCE=synthetic"
        )
    return {s: [d.isoformat() for d in days if d not in h] for s, h in have.items() if len(h) < len(days)}
