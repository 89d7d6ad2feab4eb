"""Fill the lake with the synthetic market, and check the lake has data for a window of days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from python_assets.config import Paths
from python_assets.lake import WriteStats, stored_symbols, trades_partition, write_funding, write_trades
from python_assets.progress import track
from python_assets.synthetic import DEFAULT_SEED, generate_funding, generate_ticks


def candle_symbols(paths: Paths) -> list[str]:
    """Symbols with at least one candles partition."""
    return sorted(p.name.removeprefix("symbol=") for p in paths.candles.glob("symbol=*") if p.is_dir())


def has_candles(paths: Paths, symbol: str, day: date) -> bool:
    """True when any timeframe of the symbol has candles on the day."""
    return any((paths.candles / f"symbol={symbol}").glob(f"timeframe=*/date={day.isoformat()}/candles.parquet"))


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
    pairs = [(s, d) for s in symbols for d in days]
    return sum(generate_market_day(paths, s, d, seed)[0].added
               for s, d in track(pairs, len(pairs), "generating symbol-days", every=0.25))


def require_lake_days(paths: Paths, days: Iterable[date]) -> dict[str, list[str]]:
    """Raise LakeDataMissing naming the days no symbol has trades or candles for; return {symbol: days it lacks}."""
    days = list(days)
    symbols = sorted(set(stored_symbols(paths)) | set(candle_symbols(paths)))
    have = {s: {d for d in days if trades_partition(paths, s, d).exists() or has_candles(paths, s, d)} for s in symbols}
    empty = [d.isoformat() for d in days if not any(d in h for h in have.values())]
    if empty:
        raise LakeDataMissing(
            f"no trades or candles in the lake for {', '.join(empty)} (looked under {paths.trades} and {paths.candles}); "
            "ingest files with `blofin-stack ingest FILE --symbol S`, `blofin-stack import FILE`, fetch with "
            "`blofin-stack fetch-ohlcv`, or use BLOFIN_SOURCE=synthetic"
        )
    return {s: [d.isoformat() for d in days if d not in h] for s, h in have.items() if len(h) < len(days)}
