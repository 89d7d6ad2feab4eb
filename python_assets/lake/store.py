"""The Parquet lake: hive-partitioned trades/funding per symbol and UTC date, atomic and deduplicating writes.

Layout (all under `<data>/lake/`):
- `trades/symbol=S/date=YYYY-MM-DD/trades.parquet`: trade_id, ts (epoch ms UTC), price, size, side, seq
- `funding/symbol=S/date=YYYY-MM-DD/funding.parquet`: funding_ts (epoch ms UTC), funding_rate
- `candles/symbol=S/timeframe=TF/date=YYYY-MM-DD/candles.parquet`: imported or fetched OHLCV bars (bar_at_ms
  = open time, epoch ms UTC), with the source they came from
- `quarantine/trades/symbol=S/<source-hash>.parquet`: rejected rows with a reason, one per bad input row
- `trade_index/symbol=S/id_ranges.parquet`: which trade ids each day may hold (python_assets/lake/trade_index.py)
One file per partition, rewritten whole (temp file + rename: python_assets/lake/atomic.py) so readers never
see half a file.
Writers of one symbol take turns (symbol_lock: `<data>/.lake-locks/S.lock`): each read-merge-write of its
trades (with the trade-id index), funding, candles and quarantine runs alone, so two processes writing
the same day (`ingest`, `import`, the inbox sensor, the recorder's merges) both keep their rows.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from python_assets.config import Paths
from python_assets.lake.atomic import LakeWriteError, write_table_atomic
from python_assets.lake.symbol_names import normalize_symbol  # noqa: F401 - re-exported: the lake's writers import it here
from python_assets.platform.progress import track
from python_assets.platform.timeframes import DAY_MS, MINUTE_MS, TIMEFRAME_MS
from python_assets.lake.settlements import (SECOND_MS, as_given, known_first, on_stored_stamps,
                                           repeated_with_another_rate, replaces)
from python_assets.lake.trade_order import trade_order
from python_assets.lake.trade_rules import check_day_totals, check_trades

TRADE_SCHEMA = pa.schema(
    [
        ("trade_id", pa.string()),
        ("ts", pa.int64()),
        ("price", pa.float64()),
        ("size", pa.float64()),
        ("side", pa.string()),
        ("seq", pa.int64()),
    ]
)
FUNDING_SCHEMA = pa.schema([("funding_ts", pa.int64()), ("funding_rate", pa.float64())])
CANDLE_SCHEMA = pa.schema(
    [
        ("bar_at_ms", pa.int64()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("volume_quote", pa.float64()),
        ("trade_count", pa.int64()),
        ("source", pa.string()),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("reason", pa.string()),
        ("raw_record", pa.string()),
        ("ts", pa.int64()),
    ]
)

def utc_date_of_ms(ts_ms: np.ndarray) -> np.ndarray:
    """UTC calendar date (datetime64[D]) of epoch-ms timestamps."""
    return (np.asarray(ts_ms, dtype=np.int64) // DAY_MS).astype("datetime64[D]")


def lock_file(paths: Paths, symbol: str) -> Path:
    """The lock file a symbol's lake writers take turns on (outside the lake: no lake reader sees it)."""
    return paths.data_dir / ".lake-locks" / f"{symbol}.lock"


@contextmanager
def symbol_lock(paths: Paths, symbol: str) -> Iterator[None]:
    """Hold the exclusive lock on a symbol's lake files, waiting while another writer (a thread or a
    process) holds it; the OS drops it if the holder dies. Not re-entrant: take it once per write."""
    path = lock_file(paths, symbol)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise LakeWriteError(exc.errno, f"cannot open the lake lock {path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def trades_partition(paths: Paths, symbol: str, day: date) -> Path:
    return paths.trades / f"symbol={symbol}" / f"date={day.isoformat()}" / "trades.parquet"


def funding_partition(paths: Paths, symbol: str, day: date) -> Path:
    return paths.funding / f"symbol={symbol}" / f"date={day.isoformat()}" / "funding.parquet"


def candles_partition(paths: Paths, symbol: str, timeframe: str, day: date) -> Path:
    return paths.candles / f"symbol={symbol}" / f"timeframe={timeframe}" / f"date={day.isoformat()}" / "candles.parquet"


@dataclass(frozen=True)
class WriteStats:
    """What a lake write did: rows offered, rows new to the lake, duplicates dropped, files written, the
    keys of rows refused as conflicts (their key is stored with other values; the stored row wins), the keys
    of the duplicates that are twins (the same content stored under another key: write_trades' ids vs hashes), and
    the keys of rows whose values replaced the stored row's (write_funding: a known rate over an unknown one)."""

    offered: int
    added: int
    duplicates: int
    partitions: tuple[str, ...]
    conflicts: tuple[str, ...] = ()
    twins: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()


def read_partition(path: Path, schema: pa.Schema) -> pd.DataFrame:
    """A partition file read with its schema, or an empty frame of that schema when it does not exist."""
    if not path.exists():
        return pd.DataFrame({f.name: pd.Series(dtype=f.type.to_pandas_dtype()) for f in schema})
    return pq.read_table(path, schema=schema).to_pandas()


def _differs(new: pd.DataFrame, old: pd.DataFrame, key_col: str, compare: tuple[str, ...]) -> np.ndarray:
    """Per row of new whose key old holds: whether its compared values differ from the stored row's; a trade's
    side missing on either row matches (that trade told without it, as ingest and lake/trade_twins.py read it)."""
    old = old.drop_duplicates(key_col)
    at = pd.Index(old[key_col]).get_indexer(new[key_col])
    cells = [(new[c].astype(object).fillna("").to_numpy(), old[c].astype(object).fillna("").to_numpy()[at]) for c in compare]
    same = [(a == b) | (((a == "") | (b == "")) if c == "side" else False) for c, (a, b) in zip(compare, cells)]
    return ~np.logical_and.reduce(same)


def _merge_daily(
    frame: pd.DataFrame,
    *,
    time_col: str,
    key_col: str,
    schema: pa.Schema,
    partition: Callable[[date], Path],
    number_rows: bool = False,
    compare: tuple[str, ...] = (),
    check: Callable[[str, pd.DataFrame], None] | None = None,
    bar_label: str | None = None,
    twins: Callable[[pd.DataFrame, pd.DataFrame], np.ndarray] | None = None,
    takes_place: Callable[[pd.DataFrame, pd.DataFrame], np.ndarray] | None = None,
) -> WriteStats:
    """Merge rows into one file per UTC day of time_col: a stored key wins, files stay sorted by time
    (stable, so ties keep arrival order); with number_rows (trades) rows are in trade_order (ties by
    integer trade id where the ids are integers) and a `seq` column numbers that order. A
    row whose key is stored with other `compare` values is a conflict, not a duplicate; `check` sees
    each merged day before it is written and may refuse it by raising. With `bar_label`, a progress bar
    over the days written (a large file spans many). `twins(fresh, stored)` marks the rows new by key that the
    day holds under another key, or that another row of fresh holds: duplicates too. `takes_place(known, stored)`
    marks the rows whose key is stored (stored: their stored rows, aligned) that take the stored row's place."""
    if frame.empty:
        return WriteStats(0, 0, 0, ())
    columns = [f.name for f in schema if f.name != "seq"]
    days = utc_date_of_ms(frame[time_col].to_numpy())
    added = dupes = 0
    touched: list[str] = []
    conflicts: list[str] = []
    twinned: list[str] = []
    swapped: list[str] = []
    unique_days = np.unique(days)
    shown = bar_label is not None and len(unique_days) > 1
    for day in track(unique_days, len(unique_days), bar_label or "", show=shown):
        d = pd.Timestamp(day).date()
        new = frame.loc[days == day, columns].drop_duplicates(subset=key_col, keep="first")
        target = partition(d)
        old = read_partition(target, schema)[columns]
        known = new[key_col].isin(old[key_col])
        swap = np.zeros(int(known.sum()), dtype=bool)
        if takes_place is not None and known.any():
            stored = old.drop_duplicates(key_col).set_index(key_col).reindex(new.loc[known, key_col])
            swap = np.asarray(takes_place(new[known], stored), dtype=bool)
        if compare and known.any():
            clash = _differs(new[known], old, key_col, compare)
            conflicts += new.loc[known, key_col][clash & ~swap].tolist()
        fresh = new[~known]
        if twins is not None and (twin := twins(fresh, old)).any():
            twinned += fresh.loc[twin, key_col].tolist()
            fresh = fresh[~twin]
        dupes += int((days == day).sum()) - len(fresh) - int(swap.sum())
        if fresh.empty and not swap.any():
            continue
        swapped += (keys := new.loc[known, key_col][swap]).tolist()
        merged = pd.concat([old[~old[key_col].isin(keys)], new[known][swap], fresh], ignore_index=True)
        if number_rows:
            merged = merged.iloc[trade_order(merged[time_col].to_numpy(), merged[key_col])].reset_index(drop=True)
            merged["seq"] = np.arange(len(merged), dtype=np.int64)
        else:
            merged = merged.sort_values(time_col, kind="mergesort")
        if check is not None:
            check(d.isoformat(), merged)
        write_table_atomic(pa.Table.from_pandas(merged, schema=schema, preserve_index=False), target)
        added += len(fresh)
        touched.append(d.isoformat())
    return WriteStats(len(frame), added, dupes - len(conflicts), tuple(touched), tuple(conflicts), tuple(twinned),
                      tuple(swapped))


TRADE_COLUMNS = ["trade_id", "ts", "price", "size", "side"]
# A writer's guard: called with the symbol's lock held, before anything is written; it raises to refuse the write
# (the market check of an import or a fetch: two writers of opposite markets into one symbol cannot both pass it).
Guard = Callable[[], None] | None


def _before_write(paths: Paths, symbol: str, guard: Guard, dataset: str, synthetic: bool = False) -> None:
    """With the symbol's lock held, before merging rows: the writer's guard, then claim_origin (a real write into a
    symbol holding synthetic data is refused; who writes is recorded before any day is, so a write failing midway
    leaves its stored days marked)."""
    from python_assets.lake.sources import claim_origin  # imported here: it builds on this module

    if guard is not None:
        guard()
    claim_origin(paths, symbol, dataset, synthetic)


def _nothing_to_write(paths: Paths, symbol: str, guard: Guard) -> WriteStats:
    """A writer's answer to no rows: still refused where its guard refuses (an empty file of the wrong market)."""
    if guard is not None:
        with symbol_lock(paths, symbol):
            guard()
    return WriteStats(0, 0, 0, ())


def write_trades(paths: Paths, symbol: str, trades: pd.DataFrame, bar_label: str | None = None,
                 guard: Guard = None, synthetic: bool = False) -> WriteStats:
    """Merge valid trades (trade_id, ts, price, size, side) into their daily partitions.

    Trade ids are unique across the symbol's whole lake (python_assets/lake/trade_index.py finds an id on
    any day): a row whose id is stored with the same values is a duplicate and dropped, so re-ingesting
    a file adds nothing; with other values (another time, price, size or side) it is a conflict, returned
    in `conflicts` for the caller to quarantine, and the stored row wins. Rows must pass
    python_assets/lake/trade_rules.py (TradeRangeError otherwise), and no day may pass its totals. Each
    partition is kept sorted by ts, trades of one millisecond by integer trade id where all their ids are
    integers, else in arrival order (python_assets/lake/trade_order.py), and `seq` numbers that order,
    giving SQL an exact first/last trade per bar. A row whose (ts, price, size, side; a missing side matching
    any) the day stores under the other kind of id (an exchange's vs a content hash) is a duplicate too, up to
    multiplicity, as is a content-hash row that a row of the same write with an exchange id holds; its id in
    `twins` (python_assets/lake/trade_twins.py). Unless `synthetic` (the generator), the write is real data: refused
    in a symbol holding synthetic data, and recorded (python_assets/lake/sources.py claim_origin).
    """
    from python_assets.lake.trade_index import reserve_ids  # imported here: they build on this module
    from python_assets.lake.trade_twins import twin_rows

    symbol = normalize_symbol(symbol)
    if trades.empty:
        return _nothing_to_write(paths, symbol, guard)
    check_trades(trades)
    frame = trades[TRADE_COLUMNS]
    repeat = frame.duplicated("trade_id").to_numpy()
    clash = repeat & ~frame.duplicated(TRADE_COLUMNS).to_numpy()
    frame = frame[~repeat]

    def day_fits(day: str, merged: pd.DataFrame) -> None:
        check_day_totals(f"{symbol} on {day}", {"size": merged["size"], "notional": merged["price"] * merged["size"]})

    with symbol_lock(paths, symbol):  # the id lookup and the day files it vouches for change together
        _before_write(paths, symbol, guard, "trades", synthetic)
        elsewhere = reserve_ids(paths, symbol, frame)
        stats = _merge_daily(
            frame[~elsewhere], time_col="ts", key_col="trade_id", schema=TRADE_SCHEMA,
            partition=lambda d: trades_partition(paths, symbol, d), number_rows=True,
            compare=("ts", "price", "size", "side"), check=day_fits, bar_label=bar_label, twins=twin_rows,
        )
    conflicts = (*trades["trade_id"][clash], *frame["trade_id"][elsewhere], *stats.conflicts)
    return WriteStats(len(trades), stats.added, len(trades) - stats.added - len(conflicts), stats.partitions, conflicts,
                      stats.twins)


def write_funding(paths: Paths, symbol: str, funding: pd.DataFrame, guard: Guard = None,
                  synthetic: bool = False) -> WriteStats:
    """Merge funding rates (funding_ts, funding_rate) into daily partitions; a stored settlement wins (its second:
    lake/settlements.py; with another rate it is a conflict, as is a second row of the same settlement with another
    rate, their stamps as given in `conflicts`; of a known and an unknown rate the known one is that row), except a
    stored unknown rate (NaN/NULL), which a known one replaces under the stored stamp (settlements.replaces, as the
    recorder's replace_funding; stamps as given in `replaced`); real data unless `synthetic`, as write_trades."""
    symbol = normalize_symbol(symbol)
    if funding.empty:
        return _nothing_to_write(paths, symbol, guard)
    with symbol_lock(paths, symbol):
        _before_write(paths, symbol, guard, "funding rates", synthetic)
        funding = funding.iloc[known_first(funding)].reset_index(drop=True)  # a known rate wins over an unknown one
        mapped = on_stored_stamps(funding, stored_funding_near(paths, symbol, funding["funding_ts"]))
        clash = repeated_with_another_rate(mapped)
        stats = _merge_daily(mapped, time_col="funding_ts", key_col="funding_ts", schema=FUNDING_SCHEMA,
                             partition=lambda d: funding_partition(paths, symbol, d), compare=("funding_rate",),
                             takes_place=lambda new, old: replaces(old["funding_rate"], new["funding_rate"]))
        given, stamped = funding["funding_ts"].tolist(), mapped["funding_ts"].tolist()
        return replace(stats, duplicates=stats.duplicates - int(clash.sum()),
                       conflicts=(*as_given(stats.conflicts, given, stamped),
                                  *funding.loc[clash, "funding_ts"].astype("int64").tolist()),
                       replaced=tuple(as_given(stats.replaced, given, stamped)))


def stored_funding_near(paths: Paths, symbol: str, stamps: Iterable[int]) -> pd.DataFrame:
    """The stored funding rows of every day file within a second of a stamp: where another stamp of its settlement
    may lie (a clock 2 ms early puts the 00:00 settlement at 23:59:59.998, in the day before's file)."""
    ts = np.fromiter((int(t) for t in stamps), dtype=np.int64)
    days = np.unique(utc_date_of_ms(np.concatenate([ts - SECOND_MS, ts + SECOND_MS])))
    return pd.concat([read_partition(funding_partition(paths, symbol, pd.Timestamp(d).date()), FUNDING_SCHEMA)
                      for d in days], ignore_index=True)


def write_candles(paths: Paths, symbol: str, timeframe: str, candles: pd.DataFrame, guard: Guard = None) -> WriteStats:
    """Merge OHLCV bars (bar_at_ms, open, high, low, close, volume[, volume_quote, trade_count], source) into
    daily partitions; a bar already stored wins, so re-importing or re-fetching adds nothing. A bar stored
    with other prices or volume is a conflict (its bar_at_ms in `conflicts`), not a duplicate. Candles are real
    data (the synthetic generator writes none), as in write_trades."""
    symbol = normalize_symbol(symbol)
    if not re.fullmatch(r"[0-9]+[smhdwM]", timeframe):
        raise ValueError(f"invalid timeframe {timeframe!r}: use e.g. 1m, 5m, 1h, 1d")
    frame = candles.copy()
    for optional in ("volume_quote", "trade_count"):
        if optional not in frame:
            frame[optional] = None
    frame["trade_count"] = frame["trade_count"].astype("Int64")
    frame["volume_quote"] = frame["volume_quote"].astype("float64")

    def day_fits(day: str, merged: pd.DataFrame) -> None:
        check_day_totals(f"{symbol} {timeframe} candles on {day}", {"volume": merged["volume"],
                                                                    "volume_quote": merged["volume_quote"]})

    if frame.empty:
        return _nothing_to_write(paths, symbol, guard)
    with symbol_lock(paths, symbol):
        _before_write(paths, symbol, guard, f"{timeframe} candles")
        return _merge_daily(
            frame, time_col="bar_at_ms", key_col="bar_at_ms", schema=CANDLE_SCHEMA,
            partition=lambda d: candles_partition(paths, symbol, timeframe, d), check=day_fits,
            compare=("open", "high", "low", "close", "volume"),
        )


def stored_range_ms(partition_root: Path, time_col: str) -> tuple[int | None, int | None]:
    """(earliest, latest) time stored under a symbol's `date=` partitions; reads the two edge days only."""
    days = sorted(p for p in partition_root.glob("date=*") if any(p.glob("*.parquet")))

    def edge(ordered: list[Path], pick: str) -> int | None:
        for day in ordered:
            values = [pq.read_table(f, columns=[time_col]).column(0).to_numpy() for f in sorted(day.glob("*.parquet"))
                      if not f.name.startswith(".")]
            values = [getattr(v, pick)() for v in values if len(v)]
            if values:
                return int(getattr(np, pick)(values))
        return None

    return edge(days, "min"), edge(list(reversed(days)), "max")


def stored_day_bars(paths: Paths) -> dict[date, int]:
    """{UTC day: its 1m bars, estimated from the lake's files} over ticks and candles, the days bars are built
    from: per symbol, 1,440 on a day with ticks, else the day of its finest candles (24 for 1h candles)."""
    finest: dict[tuple[str, str], int] = {}
    for f in paths.trades.glob("symbol=*/date=*/trades.parquet"):
        finest[(f.parent.parent.name, f.parent.name)] = MINUTE_MS
    for f in paths.candles.glob("symbol=*/timeframe=*/date=*/candles.parquet"):
        key = (f.parent.parent.parent.name, f.parent.name)
        bar_ms = TIMEFRAME_MS.get(f.parent.parent.name.removeprefix("timeframe="), DAY_MS)
        finest[key] = min(finest.get(key, bar_ms), bar_ms)
    bars: dict[date, int] = {}
    for (_, folder), bar_ms in finest.items():
        day = date.fromisoformat(folder.removeprefix("date="))
        bars[day] = bars.get(day, 0) + DAY_MS // bar_ms
    return dict(sorted(bars.items()))


def stored_symbols(paths: Paths) -> list[str]:
    """Symbols with at least one trades partition."""
    if not paths.trades.exists():
        return []
    return sorted(p.name.removeprefix("symbol=") for p in paths.trades.glob("symbol=*") if p.is_dir())


def has_funding(paths: Paths, symbol: str) -> bool:
    """Whether any funding rate of the symbol is stored (funding exists for perpetual swaps only)."""
    root = paths.funding / f"symbol={normalize_symbol(symbol)}"
    return any(f for f in root.glob("date=*/*.parquet") if not f.name.startswith("."))


def now_ms() -> int:
    """Current time in epoch milliseconds (UTC)."""
    return int(datetime.now(timezone.utc).timestamp() * 1000)
