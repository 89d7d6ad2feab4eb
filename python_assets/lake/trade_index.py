"""The trade-id index of a symbol: which ids each day file may hold, so that an id is looked up across the
symbol's whole lake without reading every day.

`lake/trade_index/symbol=S/id_ranges.parquet` has one row per day file: `date`, and `id_min`/`id_max`,
the smallest and largest id key (`id_keys`: digit ids compare as numbers) stored that day, null for a
day of content-hash ids only (`h` + 16 hex, made by ingest for rows without an id: they include the
time, so such an id can only ever be on its own day and is never looked up elsewhere).

Cost: a lookup reads the id column of the days whose range holds one of the ids looked up. Exchange ids
grow with time (BloFin, OKX, Binance, Coinbase, Kraken), so that is the neighbours of the ids' own days,
however many years the lake holds; random ids (UUIDs) make every range wide and each lookup then reads
every day's id column (correct, but linear in the history).

The index is a conservative filter, kept right without a transaction: a write widens the ranges of the
days it is about to write *before* writing them (a crash in between leaves a range too wide, never too
narrow), and a day file the index does not list (a lake from before the index, files copied in) is
summarised from its file on the next lookup. Deleting the index folder rebuilds it.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from python_assets.config import Paths
from python_assets.lake.atomic import write_table_atomic
from python_assets.lake.store import trades_partition
from python_assets.platform.timeframes import DAY_MS

INDEX_SCHEMA = pa.schema([("date", pa.string()), ("id_min", pa.string()), ("id_max", pa.string())])
HASH_ID = r"^h[0-9a-f]{16}$"
_DIGITS = 40  # digit ids up to 40 digits are zero-padded to compare as numbers
_EPOCH = date(1970, 1, 1)


def index_file(paths: Paths, symbol: str) -> Path:
    """Where the id index of a symbol lives."""
    return paths.lake / "trade_index" / f"symbol={symbol}" / "id_ranges.parquet"


def id_keys(ids: pd.Series) -> tuple[pa.StringArray, np.ndarray]:
    """(sortable key per id: 'n' + zero-padded digits or 's' + the id, whether it is a content-hash id)."""
    arr = pa.array(ids.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    digits = pc.match_substring_regex(arr, rf"^[0-9]{{1,{_DIGITS}}}$")
    keys = pc.if_else(digits, pc.binary_join_element_wise("n", pc.utf8_lpad(arr, _DIGITS, "0"), ""),
                      pc.binary_join_element_wise("s", arr, ""))
    return keys, pc.match_substring_regex(arr, HASH_ID).to_numpy(zero_copy_only=False)


Ranges = dict[str, tuple[str | None, str | None]]  # date -> (id_min, id_max)


def _day_range(ids: pd.Series) -> tuple[str | None, str | None]:
    """(smallest, largest) key of a day's ids, content-hash ids left out."""
    keys, is_hash = id_keys(ids)
    span = pc.min_max(pc.filter(keys, pa.array(~is_hash))).as_py()
    return span["min"], span["max"]


def _day_files(paths: Paths, symbol: str) -> dict[str, Path]:
    """The symbol's trade files by date (YYYY-MM-DD)."""
    root = paths.trades / f"symbol={symbol}"
    found = root.glob("date=*/trades.parquet") if root.exists() else []
    return {f.parent.name.removeprefix("date="): f for f in found}


def load_ranges(paths: Paths, symbol: str) -> Ranges:
    """The symbol's index, completed from the day files it does not list yet (and saved if it was)."""
    target = index_file(paths, symbol)
    ranges: Ranges = {}
    try:
        if target.exists():
            t = pq.read_table(target, schema=INDEX_SCHEMA).to_pydict()
            ranges = dict(zip(t["date"], zip(t["id_min"], t["id_max"])))
    except (pa.ArrowException, OSError):  # a damaged index is rebuilt from the day files
        ranges = {}
    missing = {d: f for d, f in _day_files(paths, symbol).items() if d not in ranges}
    if missing:
        for day, f in missing.items():
            ranges[day] = _day_range(pq.read_table(f, columns=["trade_id"]).column(0).to_pandas())
        _save(target, ranges)
    return ranges


def _save(target: Path, ranges: Ranges) -> None:
    """Write the index atomically, one row per day in date order."""
    days = sorted(ranges)
    table = pa.table({"date": days, "id_min": [ranges[d][0] for d in days], "id_max": [ranges[d][1] for d in days]},
                     schema=INDEX_SCHEMA)
    write_table_atomic(table, target)


def _day_number(day: str) -> int:
    """YYYY-MM-DD -> days since 1970-01-01."""
    return (date.fromisoformat(day) - _EPOCH).days


def _held_elsewhere(paths: Paths, symbol: str, ranges: Ranges, trades: pd.DataFrame, keys: pa.StringArray,
                    own_day: np.ndarray, look: np.ndarray) -> np.ndarray:
    """Mask of trades (where look) whose id is stored on a day other than their own; reads only the days
    whose id range holds one of the keys looked up."""
    held = np.zeros(len(trades), dtype=bool)
    span = pc.min_max(pc.filter(keys, pa.array(look))).as_py()
    if span["min"] is None:
        return held
    for day, (low, high) in ranges.items():
        if low is None or high < span["min"] or low > span["max"]:
            continue
        in_range = pc.and_(pc.greater_equal(keys, low), pc.less_equal(keys, high)).to_numpy(zero_copy_only=False)
        sel = look & in_range & (own_day != _day_number(day))
        path = trades_partition(paths, symbol, date.fromisoformat(day))
        if not sel.any() or not path.exists():
            continue
        stored = pq.read_table(path, columns=["trade_id"]).column(0)
        ids = pa.array(trades["trade_id"].to_numpy(dtype=object)[sel], type=pa.string())
        held[sel] |= pc.is_in(ids, value_set=stored).to_numpy(zero_copy_only=False)
    return held


def _day_name(day: int) -> str:
    """Days since 1970-01-01 -> YYYY-MM-DD."""
    return (_EPOCH + timedelta(days=int(day))).isoformat()


def _widened(ranges: Ranges, own_day: np.ndarray, keys: pa.StringArray, is_hash: np.ndarray) -> Ranges:
    """The ranges with each day's new keys taken in (a day of content-hash ids only is listed, with no range)."""
    out = dict(ranges)
    for day in np.unique(own_day):
        out.setdefault(_day_name(day), (None, None))
    ranged = pa.array(~is_hash)
    spans = pa.table({"day": pc.filter(pa.array(own_day), ranged), "key": pc.filter(keys, ranged)}).group_by(
        "day").aggregate([("key", "min"), ("key", "max")]).to_pydict()
    for day, low, high in zip(spans["day"], spans["key_min"], spans["key_max"]):
        bounds = [b for b in (*out[_day_name(day)], low, high) if b is not None]
        out[_day_name(day)] = (min(bounds), max(bounds))
    return out


def reserve_ids(paths: Paths, symbol: str, trades: pd.DataFrame) -> np.ndarray:
    """Mask of trades whose id is already stored on another day (the same id at another time: a conflict);
    the index is widened for the other trades' days, ready for them to be written. The caller holds the
    symbol's lake lock (write_trades does), so no other writer changes the index or the days meanwhile."""
    if trades.empty:
        return np.zeros(0, dtype=bool)
    ranges = load_ranges(paths, symbol)
    keys, is_hash = id_keys(trades["trade_id"])
    own_day = trades["ts"].to_numpy(dtype=np.int64) // DAY_MS
    held = _held_elsewhere(paths, symbol, ranges, trades, keys, own_day, ~is_hash)
    keep = ~held
    widened = _widened(ranges, own_day[keep], pc.filter(keys, pa.array(keep)), is_hash[keep])
    if widened != ranges:
        _save(index_file(paths, symbol), widened)
    return held
