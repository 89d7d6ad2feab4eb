"""Where a symbol's stored data came from: its candles' `source` values (an import's file name or the exchange
they were fetched from, with its market), read cheaply from the partitions' footers, and the market (spot or
perpetual swap) the first writer that knew it recorded for the symbol, and whether any writer but the synthetic
generator wrote to it (record_real): real data goes into no lake holding synthetic data (synthetic_refusal)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from python_assets.config import Paths
from python_assets.lake.store import normalize_symbol
from python_assets.lake.symbol_names import split_joined


def _partition_sources(path: Path) -> set[str]:
    """The sources in one candle partition: from the footer when its min and max agree (a day of one source, the
    usual case, costs no column read), else from the column; none for a file pyarrow cannot read (the lake
    health check names it; an import of other days never read it either)."""
    try:
        meta = pq.read_metadata(path)
        at = meta.schema.names.index("source") if "source" in meta.schema.names else None
        if at is None:
            return set()
        stats = [meta.row_group(i).column(at).statistics for i in range(meta.num_row_groups)]
        if all(s is not None and s.has_min_max and s.min == s.max and s.null_count == 0 for s in stats):
            return {s.min for s in stats}
        return {v for v in pq.read_table(path, columns=["source"]).column(0).unique().to_pylist() if v is not None}
    except (OSError, pa.ArrowException):
        return set()


def stored_candle_sources(paths: Paths, symbol: str) -> set[str]:
    """The sources of a symbol's stored candles, every timeframe (what `import` and `fetch` wrote them from)."""
    files = (paths.candles / f"symbol={normalize_symbol(symbol)}").glob("timeframe=*/date=*/*.parquet")
    return {source for f in files if not f.name.startswith(".") for source in _partition_sources(f)}


IMPORT_SOURCE_PREFIX = "import:"  # candles `import` wrote: "import:<file name>" (its name may tell the market)
SPOT_SOURCE_SUFFIX = ":spot"  # candles fetched from an exchange's spot market: "<exchange id>:spot"


def fetched_source(exchange_id: str, spot: bool) -> str:
    """The source of candles fetched from an exchange: its ccxt id for a swap (or other contract) market, the id
    and SPOT_SOURCE_SUFFIX for a spot market, so a later import or fetch can tell which market a symbol holds."""
    return f"{exchange_id}{SPOT_SOURCE_SUFFIX}" if spot else exchange_id


def fetched_market(source: str) -> str | None:
    """'spot' or 'perp' for a fetched candle source (fetched_source), None for an imported one."""
    if source.startswith(IMPORT_SOURCE_PREFIX):
        return None
    return "spot" if source.endswith(SPOT_SOURCE_SUFFIX) else "perp"


# ---- the market a symbol holds, recorded by the first writer that knew it ----------------------------------
MARKETS_DIR = ".lake-markets"  # beside the lake locks: <data>/.lake-markets/<SYMBOL>.json (no lake reader sees it)
DATASETS = ("trades", "funding", "candles")


def market_file(paths: Paths, symbol: str) -> Path:
    return paths.data_dir / MARKETS_DIR / f"{normalize_symbol(symbol)}.json"


def _holds_file(root: Path) -> bool:
    """Whether a folder holds a data file at any depth (stops at the first one found)."""
    return next((f for f in root.rglob("*.parquet") if not f.name.startswith(".")), None) is not None


def holds_data(paths: Paths, symbol: str) -> bool:
    """Whether any trades, funding or candle file of the symbol is stored (stops at the first one found)."""
    symbol = normalize_symbol(symbol)
    return any(_holds_file(paths.lake / dataset / f"symbol={symbol}") for dataset in DATASETS)


def recorded_market(paths: Paths, symbol: str) -> tuple[str, str] | None:
    """('spot' or 'perp', what said so) as recorded for a symbol that still holds data; None without a record
    (a lake from before records, or one no writer that knew its market wrote to), or when the data it spoke
    for is gone (a symbol's folders deleted to start again)."""
    path = market_file(paths, symbol)
    try:
        found = json.loads(path.read_text())
        market, said = found["market"], found["by"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (market, said) if market in ("spot", "perp") and holds_data(paths, symbol) else None


def record_market(paths: Paths, symbol: str, market: str, by: str) -> None:
    """Record the market a symbol holds (the caller holds the symbol's lake lock and has checked it). A plain
    write, not a rename: a file cut short (a kill, a full disk) reads as no record, and what the data itself
    tells stands in until the next writer records it again; a record that cannot be written is left out."""
    path = market_file(paths, symbol)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"market": market, "by": by}))
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


# ---- who wrote a symbol's data: the synthetic generator, or any other writer (real data) -------------------
REAL_DIR = ".lake-real"  # <data>/.lake-real/<SYMBOL>: names the first real dataset written (no lake reader sees it)
SYNTHETIC_DIR = ".lake-synthetic"  # <data>/.lake-synthetic/<SYMBOL>: the same for the synthetic generator
SYNTHETIC_BY = "synthetic swap data"  # the market record the generator makes (claim_market): tells older lakes


class SyntheticDataHeld(ValueError):
    """A real write refused: its symbol holds synthetic data (the message says what to do)."""


def real_record_file(paths: Paths, symbol: str) -> Path:
    return paths.data_dir / REAL_DIR / normalize_symbol(symbol)


def synthetic_record_file(paths: Paths, symbol: str) -> Path:
    return paths.data_dir / SYNTHETIC_DIR / normalize_symbol(symbol)


def lake_symbol_names(paths: Paths, datasets: tuple[str, ...] = DATASETS) -> list[str]:
    """Symbols with a folder of these datasets (trades, funding or candles unless told)."""
    roots = (paths.lake / dataset for dataset in datasets)
    return sorted({p.name.removeprefix("symbol=") for root in roots for p in root.glob("symbol=*") if p.is_dir()})


def user_symbol(paths: Paths, raw: str) -> str:
    """The lake symbol a name a user gives (--symbol, generate --symbols, an inbox folder, BLOFIN_SYMBOLS) writes to:
    'BTCUSDT' is BTC-USDT (split_joined), unless the lake holds a BTCUSDT folder, which lakes written before that
    split have and whose records are found by that name; ValueError for a name the lake refuses."""
    name, split = normalize_symbol(raw), split_joined(raw)
    if name == split:
        return name
    return name if name in lake_symbol_names(paths) else split


# what the WebSocket recorder writes (python_assets/exchange/rec_store.py) besides trades and funding: real data
# from its first flush, an hour before its first finished hour merges into trades/
RECORDER_DATASETS = ("live_trades", "live_books", "live_mark_prices", "books", "mark_prices", "recorder_segments",
                     "recorder_gaps")
RECORDER_LAKE_WIDE = ("recorder_days", "instruments")  # its day marks and instruments snapshots: no symbol folder


def recorder_folders(paths: Paths, symbol: str) -> list[Path]:
    """The symbol's folders of the recorder's own datasets (RECORDER_DATASETS) that hold a data file."""
    return data_folders(paths, symbol, RECORDER_DATASETS)


def recorder_symbol_names(paths: Paths) -> list[str]:
    """Symbols with a folder of the recorder's own datasets."""
    return lake_symbol_names(paths, RECORDER_DATASETS)


def recorder_lake_folders(paths: Paths) -> list[Path]:
    """The recorder's lake-wide folders (RECORDER_LAKE_WIDE) that hold a data file."""
    return [root for ds in RECORDER_LAKE_WIDE if _holds_file(root := paths.lake / ds)]


def data_folders(paths: Paths, symbol: str, datasets: tuple[str, ...] = DATASETS) -> list[Path]:
    """The symbol's folders of these datasets (trades, funding and candles unless told) that hold a data file (what
    a refusal names)."""
    symbol = normalize_symbol(symbol)
    return [root for dataset in datasets if _holds_file(root := paths.lake / dataset / f"symbol={symbol}")]


def _record_once(path: Path, dataset: str) -> None:
    """Write a who-wrote record naming `dataset` unless there is one; one that cannot be written is left out."""
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dataset)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def record_real(paths: Paths, symbol: str, dataset: str) -> None:
    """Record that the symbol holds `dataset` rows from a writer other than the synthetic generator (claim_origin),
    so the generator never writes into a real series (candles and the market record still tell without it)."""
    _record_once(real_record_file(paths, symbol), dataset)


def recorded_real(paths: Paths, symbol: str) -> str | None:
    """The dataset a symbol's real-data record names while the symbol still holds data (None without a record, or
    for one left from folders deleted to start again: forget_real drops it before the generator writes)."""
    try:
        dataset = real_record_file(paths, symbol).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return (dataset or "data") if holds_data(paths, symbol) else None


def forget_real(paths: Paths, symbol: str) -> None:
    """Drop a real-data record that no longer speaks for stored data (the generator, its lock held, having found none)."""
    with contextlib.suppress(OSError):
        real_record_file(paths, symbol).unlink(missing_ok=True)


def _generator_market_record(paths: Paths, symbol: str) -> bool:
    """Whether the symbol's market record is the generator's (a lake from before SYNTHETIC_DIR), data or not."""
    try:
        return json.loads(market_file(paths, symbol).read_text()).get("by") == SYNTHETIC_BY
    except (OSError, ValueError, AttributeError):
        return False


def _marked_synthetic(paths: Paths, symbol: str) -> bool:
    """Whether the generator recorded writing the symbol (its record, or its market record in an older lake)."""
    return synthetic_record_file(paths, symbol).exists() or _generator_market_record(paths, symbol)


def synthetic_symbols(paths: Paths) -> list[str]:
    """The lake's symbols holding data the synthetic generator wrote (marked so, with a data file still stored)."""
    return [s for s in lake_symbol_names(paths) if _marked_synthetic(paths, s) and data_folders(paths, s)]


SYNTHETIC_ORIGIN = "from `generate`, `demo` or a run with BLOFIN_SOURCE=synthetic"


def synthetic_refusal(paths: Paths, symbol: str) -> str | None:
    """Why real data may not go into the symbol, or None: it holds data the synthetic generator wrote (its record,
    or its market record in an older lake), and a series half synthetic and half real is garbage for every bar
    and feature; or another symbol of the lake does, and a build reads every symbol of its lake, so the synthetic
    markets would be built, backtested and reported beside the real one. One line naming the folders or symbols
    holding synthetic data and what to do; no data file is opened."""
    symbol = normalize_symbol(symbol)
    folders = data_folders(paths, symbol) if _marked_synthetic(paths, symbol) else []
    if folders:
        return (f"{symbol}: holds synthetic data ({SYNTHETIC_ORIGIN}) under {', '.join(str(f) for f in folders)}; "
                "real data never joins synthetic data: write it into another BLOFIN_DATA_DIR, or delete those "
                "folders first")
    others = [s for s in synthetic_symbols(paths) if s != symbol]
    if not others:
        return None
    return (f"{symbol}: the lake {paths.lake} holds synthetic data ({SYNTHETIC_ORIGIN}) of {', '.join(others)}, and "
            "a build reads every symbol of its lake; real data never joins synthetic data: write it into another "
            f"BLOFIN_DATA_DIR, or delete their folders (trades/symbol=S, funding/symbol=S under {paths.lake}) first")


def claim_origin(paths: Paths, symbol: str, dataset: str, synthetic: bool) -> None:
    """Before a write of `dataset` rows, the symbol's lock held (the store's writers call it): the generator's
    write (`synthetic`) is recorded as such; any other is refused in a symbol, or a lake, holding synthetic data
    (SyntheticDataHeld: synthetic_refusal), else recorded as real, dropping synthetic records left from deleted folders. Recorded
    before the rows, so a write killed or failing midway leaves its stored days marked; a record before a write
    that stores nothing counts for nothing (records speak only while the symbol holds data)."""
    if synthetic:
        _record_once(synthetic_record_file(paths, symbol), dataset)
        return
    if refusal := synthetic_refusal(paths, symbol):
        raise SyntheticDataHeld(refusal)
    with contextlib.suppress(OSError):  # none speaks for stored data (synthetic_refusal found none)
        synthetic_record_file(paths, symbol).unlink(missing_ok=True)
        if _generator_market_record(paths, symbol):
            market_file(paths, symbol).unlink()
    record_real(paths, symbol, dataset)
