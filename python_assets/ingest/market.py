"""Fill the lake with the synthetic market, and check the lake has data for a window of days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from python_assets.config import Paths
from python_assets.lake.store import (TRADE_SCHEMA, WriteStats, funding_partition, normalize_symbol, read_partition,
                                stored_symbols, trades_partition, write_funding, write_trades)
from python_assets.platform.progress import track
from python_assets.ingest.synthetic import DEFAULT_SEED, day_index, generate_funding, generate_ticks


def candle_symbols(paths: Paths) -> list[str]:
    """Symbols with at least one candles partition."""
    return sorted(p.name.removeprefix("symbol=") for p in paths.candles.glob("symbol=*") if p.is_dir())


def has_candles(paths: Paths, symbol: str, day: date) -> bool:
    """True when any timeframe of the symbol has candles on the day."""
    return any((paths.candles / f"symbol={symbol}").glob(f"timeframe=*/date={day.isoformat()}/candles.parquet"))


class LakeDataMissing(RuntimeError):
    """A partition's days have no trades in the lake."""


def generate_market_day(paths: Paths, symbol: str, day: date, seed: int = DEFAULT_SEED) -> tuple[WriteStats, WriteStats]:
    """Write the synthetic ticks and funding of a day, each dataset only when its own file is absent.

    Each file is written whole and atomically, so a run killed between the two leaves one dataset
    complete and the other absent, and the rerun writes the missing one. Synthetic data never joins
    real data: a day whose trades were ingested gets no ticks, and no funding either unless its
    stored trades are exactly the ones generated here (a killed generation, not an ingested day).
    The ticks come from the lake's spelling of the symbol (btc/usdt and BTC-USDT are one market).
    """
    from python_assets.exchange.errors import MarketRefused
    from python_assets.ingest.importers import perp_guard

    symbol = normalize_symbol(symbol)
    none = WriteStats(0, 0, 0, ())
    guard = perp_guard(paths, symbol, "synthetic swap data", "the synthetic market (a swap with funding)", MarketRefused)
    had_trades = trades_partition(paths, symbol, day).exists()
    trades = none if had_trades else write_trades(paths, symbol, generate_ticks(symbol, day, seed), guard=guard)
    if funding_partition(paths, symbol, day).exists() or (had_trades and not holds_synthetic_trades(paths, symbol, day, seed)):
        return trades, none
    return trades, write_funding(paths, symbol, generate_funding(symbol, day, seed), guard=guard)


def holds_synthetic_trades(paths: Paths, symbol: str, day: date, seed: int = DEFAULT_SEED) -> bool:
    """True when the day's trades file holds exactly the generator's ticks (ids and times) for this seed."""
    stored = read_partition(trades_partition(paths, symbol, day), TRADE_SCHEMA)
    ticks = generate_ticks(symbol, day, seed)
    pairs = lambda f: set(zip(f["trade_id"].tolist(), f["ts"].tolist()))  # noqa: E731
    return len(stored) == len(ticks) and pairs(stored) == pairs(ticks)


def generate_market(paths: Paths, symbols: Iterable[str], days: Iterable[date], seed: int = DEFAULT_SEED) -> int:
    """Generate every (symbol, day); returns the number of ticks added to the lake. Every symbol and day
    is checked first (ValueError), so a bad one writes nothing."""
    symbols, days = list(dict.fromkeys(normalize_symbol(s) for s in symbols)), list(days)
    for d in days:
        day_index(d)
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
