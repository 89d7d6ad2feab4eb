"""Fill the lake with the synthetic market, and check the lake has data for a window of days. Synthetic data never
joins real data (anything an import, ingest, fetch or recorder wrote): a symbol holding real data gets none, and
the synthetic source refuses a lake holding any (its bars, strategies and reports would mix both)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from python_assets.config import Paths
from python_assets.lake.sources import (SYNTHETIC_BY, data_folders, forget_real, lake_symbol_names, recorded_market,
                                       recorded_real, recorder_folders, recorder_lake_folders, recorder_symbol_names,
                                       synthetic_symbols)
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


GENERATE_HINT = "generate the synthetic market into another BLOFIN_DATA_DIR"
SOURCE_HINT = ("set BLOFIN_SOURCE=lake to materialize the lake's own data (BLOFIN_SOURCE=synthetic, the default, "
               "generates the synthetic market), or point BLOFIN_DATA_DIR at another directory for the synthetic demo")


def real_data(paths: Paths, symbol: str) -> str | None:
    """How a symbol holds data the synthetic generator did not write ('holds spot data (trades from X)'), or None:
    told by a market record another writer made, the record every writer but the generator leaves (record_real),
    or candles (the generator writes none: a lake from before the records), or the recorder's own datasets (live
    hour files, books, mark prices, segments, gaps: all it writes before its first hour merges); no data file is
    opened."""
    from python_assets.ingest.importers import MARKET_LABELS, stored_market

    symbol = normalize_symbol(symbol)
    recorded = recorded_market(paths, symbol)
    if recorded and recorded[1] != SYNTHETIC_BY:
        said = recorded[1]
    elif dataset := recorded_real(paths, symbol):
        said = f"{dataset} written by an import, ingest, fetch or recorder"
    elif any(candle_days(paths, symbol)):
        said = "candles written by an import or fetch"
    elif recorder_folders(paths, symbol):
        said = "written by the recorder, `blofin-stack record`"
    else:
        return None
    market = stored_market(paths, symbol)
    return f"holds {MARKET_LABELS[market[0]] if market else 'real'} data ({said})"


def candle_days(paths: Paths, symbol: str) -> Iterable[Path]:
    """The symbol's candle files, every timeframe (lazily: any() stops at the first)."""
    return (paths.candles / f"symbol={symbol}").glob("timeframe=*/date=*/candles.parquet")


def real_data_refusal(paths: Paths, symbols: Iterable[str], hint: str) -> str | None:
    """One line naming the symbols that hold real data and the folders holding it (a record outlives deleted day
    folders only while the symbol holds data), ending with `hint` (what to do instead), or None."""
    held = {s: said for s in symbols if (said := real_data(paths, s))}
    if not held:
        return None
    where = {s: ", ".join(str(f) for f in data_folders(paths, s) + recorder_folders(paths, s)) for s in held}
    return ("; ".join(f"{s}: {said} under {where[s]}" for s, said in held.items())
            + f"; synthetic data never joins real data: {hint}")


def data_symbols(paths: Paths) -> list[str]:
    """Symbols with a folder of the lake's datasets or of the recorder's own (a recorder's first hour is in no other)."""
    return sorted({*lake_symbol_names(paths), *recorder_symbol_names(paths)})


def synthetic_source_refusal(paths: Paths, hint: str = SOURCE_HINT) -> str | None:
    """Why the synthetic market may not go into this lake at all (a symbol of it holds real data, or the recorder's
    day marks or instruments snapshots are stored), or None; a lake holding both says so (mixed_lake_refusal:
    `hint`'s BLOFIN_SOURCE=lake would not build it either)."""
    if refusal := mixed_lake_refusal(paths) or real_data_refusal(paths, data_symbols(paths), hint):
        return refusal
    if folders := recorder_lake_folders(paths):
        return (f"the lake {paths.lake} holds real data written by the recorder, `blofin-stack record`, under "
                f"{', '.join(str(f) for f in folders)}; synthetic data never joins real data: {hint}")
    return None


def mixed_lake_refusal(paths: Paths) -> str | None:
    """Why no run may build this lake, whatever BLOFIN_SOURCE, or None: it holds synthetic and real data side by
    side (written before writers refused that, or around them), and a build reads every symbol's folders, so the
    synthetic markets would be built, backtested and reported with the real ones. One line naming both sides."""
    synthetic = synthetic_symbols(paths)
    real = [s for s in data_symbols(paths) if s not in synthetic and real_data(paths, s)] if synthetic else []
    if not real:
        return None
    return (f"the lake {paths.lake} holds synthetic data ({', '.join(synthetic)}: from `generate`, `demo` or a run "
            f"with BLOFIN_SOURCE=synthetic) and real data ({', '.join(real)}), and a build reads every symbol, so "
            "synthetic data would join real data: move one side into another BLOFIN_DATA_DIR, or delete its "
            f"folders (trades/symbol=S, funding/symbol=S, candles/symbol=S under {paths.lake})")


def generate_market_day(paths: Paths, symbol: str, day: date, seed: int = DEFAULT_SEED) -> tuple[WriteStats, WriteStats]:
    """Write the synthetic ticks and funding of a day, each dataset only when its own file is absent.

    Each file is written whole and atomically, so a run killed between the two leaves one dataset
    complete and the other absent, and the rerun writes the missing one. Synthetic data never joins
    real data: a symbol that holds any (real_data) is refused with MarketRefused, checked again under
    its lock as each file is written; in a lake from before the records, a day whose trades were
    ingested gets no ticks, and no funding either unless its stored trades are exactly the ones
    generated here (a killed generation, not an ingested day).
    The ticks come from the lake's spelling of the symbol (btc/usdt and BTC-USDT are one market).
    """
    from python_assets.exchange.errors import MarketRefused
    from python_assets.ingest.importers import perp_guard

    symbol = normalize_symbol(symbol)
    none = WriteStats(0, 0, 0, ())
    swap = perp_guard(paths, symbol, SYNTHETIC_BY, "the synthetic market (a swap with funding)", MarketRefused,
                      real=False)

    def refuse_real() -> None:
        if refusal := real_data_refusal(paths, [symbol], GENERATE_HINT):
            raise MarketRefused(refusal)

    def guard() -> None:
        refuse_real()
        forget_real(paths, symbol)  # no real data stands behind a record left from deleted folders
        swap()

    refuse_real()  # now, before a day is generated; again under the lock of each write (guard)
    had_trades = trades_partition(paths, symbol, day).exists()
    trades = none if had_trades else write_trades(paths, symbol, generate_ticks(symbol, day, seed), guard=guard,
                                                  synthetic=True)
    if funding_partition(paths, symbol, day).exists() or (had_trades and not holds_synthetic_trades(paths, symbol, day, seed)):
        return trades, none
    return trades, write_funding(paths, symbol, generate_funding(symbol, day, seed), guard=guard, synthetic=True)


def holds_synthetic_trades(paths: Paths, symbol: str, day: date, seed: int = DEFAULT_SEED) -> bool:
    """True when the day's trades file holds exactly the generator's ticks (ids and times) for this seed."""
    stored = read_partition(trades_partition(paths, symbol, day), TRADE_SCHEMA)
    ticks = generate_ticks(symbol, day, seed)
    pairs = lambda f: set(zip(f["trade_id"].tolist(), f["ts"].tolist()))  # noqa: E731
    return len(stored) == len(ticks) and pairs(stored) == pairs(ticks)


def generate_market(paths: Paths, symbols: Iterable[str], days: Iterable[date], seed: int = DEFAULT_SEED) -> int:
    """Generate every (symbol, day); returns the number of ticks added to the lake. Every symbol and day
    is checked first (ValueError; MarketRefused for a symbol holding real data), so a bad one writes nothing."""
    from python_assets.exchange.errors import MarketRefused

    symbols, days = list(dict.fromkeys(normalize_symbol(s) for s in symbols)), list(days)
    for d in days:
        day_index(d)
    if refusal := real_data_refusal(paths, symbols, GENERATE_HINT):
        raise MarketRefused(refusal)
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
