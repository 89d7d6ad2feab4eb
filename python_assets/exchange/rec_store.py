"""Lake writes of the WebSocket recorder (issue 22 contract): hourly live files per dataset merged into
day partitions once their hour is over, recorder segments / gaps (upserted per day), recorder_days,
mark prices and the daily instruments snapshot. Every write goes through python_assets.lake.atomic's
helpers; every merge is deduplicated on the dataset's key, so a merge killed half-way is redone safely
and a restart never stores a row twice.

Layout under lake/: live_<dataset>/symbol=S/date=D/HH.parquet while hour HH is open, then
<dataset>/symbol=S/date=D/<file>.parquet; recorder_segments / recorder_gaps go to their day files
directly (small, rewritten whole); recorder_days/date=D/complete.parquet; instruments/date=D/instruments.parquet.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from python_assets.config import Paths
from python_assets.exchange.continuity import split_days, trade_int
from python_assets.exchange.coverage import merge
from python_assets.exchange.recorder import LIVE_SCHEMA, MERGE_GRACE_MS
from python_assets.lake.atomic import write_table_atomic
from python_assets.lake.settlements import as_given, replaces, stamps_by_second
from python_assets.lake.quarantine import write_quarantine
from python_assets.lake.store import (FUNDING_SCHEMA, funding_partition, normalize_symbol, read_partition,
                                      stored_funding_near, symbol_lock)
from python_assets.platform.timeframes import DAY_MS, HOUR_MS

BOOKS_SCHEMA = pa.schema([("ts", pa.int64()), ("kind", pa.string()), ("seq_id", pa.int64()), ("side", pa.string()),
                          ("level", pa.int32()), ("price", pa.float64()), ("size", pa.float64())])
MARK_SCHEMA = pa.schema([("ts", pa.int64()), ("mark_price", pa.float64()), ("index_price", pa.float64())])
SEGMENTS_SCHEMA = pa.schema([("dataset", pa.string()), ("start_ms", pa.int64()), ("end_ms", pa.int64()),
                             ("session_id", pa.string())])
GAPS_SCHEMA = pa.schema([("dataset", pa.string()), ("start_ms", pa.int64()), ("end_ms", pa.int64()),
                         ("cause", pa.string()), ("status", pa.string()), ("recovered_rows", pa.int64()),
                         ("detail", pa.string())])
DAYS_SCHEMA = pa.schema([("symbol", pa.string()), ("dataset", pa.string()), ("completed_ms", pa.int64()),
                         ("revision", pa.int64())])  # revision: 0 when first marked, +1 per later merge into the day
INSTRUMENTS_SCHEMA = pa.schema([
    ("symbol", pa.string()), ("snapshot_ms", pa.int64()), ("contract_value", pa.float64()),
    ("lot_size", pa.float64()), ("min_size", pa.float64()), ("tick_size", pa.float64()),
    ("max_leverage", pa.float64()), ("funding_interval_hours", pa.int32()), ("status", pa.string())])


@dataclass(frozen=True)
class LiveDataset:
    """A dataset written hourly then merged: lake folder, day file name, schema and key columns."""

    name: str
    file: str
    schema: pa.Schema
    key: tuple[str, ...]


BOOKS = LiveDataset("books", "books.parquet", BOOKS_SCHEMA, ("ts", "kind", "side", "level"))
MARKS = LiveDataset("mark_prices", "mark.parquet", MARK_SCHEMA, ("ts",))


def day_of(ms: int) -> str:
    """UTC date (YYYY-MM-DD) of an epoch-ms time."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date().isoformat()


def _frame(rows: list[tuple] | pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Rows as a frame with the schema's columns and dtypes."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=schema.names)
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False).to_pandas()


def _write(frame: pd.DataFrame, schema: pa.Schema, target: Path) -> None:
    write_table_atomic(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), target)


def live_hour_file(paths: Paths, ds: LiveDataset, symbol: str, hour_ms: int) -> Path:
    """The open-hour file of a dataset."""
    start = datetime.fromtimestamp(hour_ms / 1000, tz=timezone.utc)
    return paths.lake / f"live_{ds.name}" / f"symbol={symbol}" / f"date={start.date()}" / f"{start.hour:02d}.parquet"


def day_file(paths: Paths, ds_name: str, file: str, symbol: str, day: str) -> Path:
    """A symbol's day partition of a dataset."""
    return paths.lake / ds_name / f"symbol={symbol}" / f"date={day}" / file


def append_live(paths: Paths, ds: LiveDataset, symbol: str, rows: list[tuple] | pd.DataFrame) -> int:
    """Add rows to their hour files (atomic rewrite, the stored row wins on the key); returns rows offered."""
    frame = _frame(rows, ds.schema)
    if frame.empty:
        return 0
    for hour, part in frame.groupby(frame["ts"] // HOUR_MS * HOUR_MS):
        path = live_hour_file(paths, ds, symbol, int(hour))
        both = pd.concat([read_partition(path, ds.schema), part], ignore_index=True)
        both = both.drop_duplicates(list(ds.key), keep="first").sort_values(list(ds.key), kind="mergesort")
        _write(both, ds.schema, path)
    return len(frame)


def merge_live(paths: Paths, ds: LiveDataset, symbol: str, now: int) -> int:
    """Merge every hour file whose hour (plus grace) is over into its day file, then delete it; idempotent."""
    merged = 0
    for path in sorted((paths.lake / f"live_{ds.name}" / f"symbol={symbol}").glob("date=*/[0-9][0-9].parquet")):
        day = path.parent.name.removeprefix("date=")
        hour_start = int(pd.Timestamp(f"{day}T{path.stem}:00:00", tz="UTC").value // 1_000_000)
        if hour_start + HOUR_MS + MERGE_GRACE_MS > now:
            continue
        target = day_file(paths, ds.name, ds.file, symbol, day)
        both = pd.concat([read_partition(target, ds.schema), read_partition(path, ds.schema)], ignore_index=True)
        both = both.drop_duplicates(list(ds.key), keep="first").sort_values(list(ds.key), kind="mergesort")
        _write(both, ds.schema, target)
        path.unlink()
        merged += 1
    return merged


def _upsert(paths: Paths, name: str, file: str, schema: pa.Schema, symbol: str, frame: pd.DataFrame,
            key: list[str], time_col: str, stale: frozenset[tuple] = frozenset()) -> None:
    """Write rows into their day files, a new row replacing a stored one with the same key; stored rows whose key
    is in stale are dropped (a row superseded by one with another key)."""
    for day, part in frame.groupby(frame[time_col].map(day_of)):
        target = day_file(paths, name, file, symbol, str(day))
        stored = read_partition(target, schema)
        if stale and len(stored):
            stored = stored[~pd.MultiIndex.from_frame(stored[key]).isin(list(stale))]
        both = pd.concat([stored, part], ignore_index=True)
        both = both.drop_duplicates(key, keep="last").sort_values(key, kind="mergesort")
        _write(both, schema, target)


def write_segments(paths: Paths, symbol: str, segments: list[tuple[str, int, int]], session_id: str) -> None:
    """Upsert recording segments (dataset, start, end) = [start, end), split at UTC midnights."""
    parts = [(ds, s, e, session_id) for ds, start, end in segments for s, e in split_days(start, end)]
    if not parts:
        return
    _upsert(paths, "recorder_segments", "segments.parquet", SEGMENTS_SCHEMA, symbol,
            _frame(parts, SEGMENTS_SCHEMA), ["dataset", "start_ms"], "start_ms")


def write_gap(paths: Paths, symbol: str, dataset: str, start_ms: int, end_ms: int, cause: str, status: str,
              recovered_rows: int = 0, detail: str = "", replaces: str | None = None) -> frozenset[str]:
    """Upsert one gap, split at UTC midnights (the recovered count stays on the first piece). A gap is keyed by
    its whole identity (dataset, start, end, cause and detail, which names a trade hole's id range): two holes
    starting in the same millisecond are two rows, writing the same gap again replaces it, and so does a revision
    of it whose detail changed (replaces: the detail it was written with). Returns the days of its pieces."""
    pieces = split_days(start_ms, end_ms)
    parts = [(dataset, s, e, cause, status, recovered_rows if i == 0 else 0, detail) for i, (s, e) in enumerate(pieces)]
    stale = frozenset((dataset, s, e, cause, replaces) for s, e in pieces) if replaces is not None else frozenset()
    _upsert(paths, "recorder_gaps", "gaps.parquet", GAPS_SCHEMA, symbol, _frame(parts, GAPS_SCHEMA),
            ["dataset", "start_ms", "end_ms", "cause", "detail"], "start_ms", stale)
    return frozenset(day_of(s) for s, _ in pieces)


def read_segments(paths: Paths, symbol: str, days: list[str]) -> pd.DataFrame:
    """The stored segments of a symbol on some days."""
    frames = [read_partition(day_file(paths, "recorder_segments", "segments.parquet", symbol, d), SEGMENTS_SCHEMA)
              for d in days]
    return pd.concat(frames, ignore_index=True)


def previous_segment_ends(paths: Paths, symbol: str, session_id: str, now: int) -> dict[str, int]:
    """Per dataset, the latest segment end of earlier sessions, from the two newest days (up to now's) holding any."""
    root = paths.lake / "recorder_segments" / f"symbol={symbol}"
    days = [f.name.removeprefix("date=") for f in sorted(root.glob("date=*"), reverse=True)]
    segs = read_segments(paths, symbol, [d for d in days if d <= day_of(now)][:2] or [day_of(now)])
    segs = segs[segs["session_id"] != session_id]
    return {str(k): int(v) for k, v in segs.groupby("dataset")["end_ms"].max().items()}


def _newest_trade(frames: list[pd.DataFrame]) -> tuple[int, int] | None:
    """(id, ts) of the highest integer trade id among the frames' rows, or None."""
    rows = pd.concat([f[["trade_id", "ts"]] for f in frames], ignore_index=True)
    ids = rows["trade_id"].map(trade_int).dropna()
    if ids.empty:
        return None
    at = ids.astype("int64").idxmax()
    return int(ids[at]), int(rows["ts"][at])


def last_stored_trade(paths: Paths, symbol: str, now: int, lake_too: bool) -> tuple[int, int] | None:
    """(id, ts) of the newest stored trade: from the newest live_trades day holding one (open and merged hour
    files), else (lake_too) from the newest lake trades day; days after now's are skipped."""
    today = day_of(now)
    for folder in sorted((paths.live_trades / f"symbol={symbol}").glob("date=*"), reverse=True):
        files = [*folder.glob("[0-9][0-9].parquet"), *folder.glob("merged/[0-9][0-9].parquet")]
        if folder.name.removeprefix("date=") <= today and files:
            if found := _newest_trade([read_partition(f, LIVE_SCHEMA) for f in files]):
                return found
    for folder in sorted((paths.trades / f"symbol={symbol}").glob("date=*"), reverse=True) if lake_too else []:
        if folder.name.removeprefix("date=") <= today and (folder / "trades.parquet").exists():
            table = pq.read_table(folder / "trades.parquet", columns=["trade_id", "ts"])
            if found := _newest_trade([table.to_pandas()]):
                return found
    return None


def open_hole_rows(paths: Paths, symbol: str, now: int, days: int = 2,
                   cap: int = 10) -> list[tuple[str, int, int, str]]:
    """(cause, start_ms, end_ms, detail) of the trade holes not yet recovered whose gap rows start on the `days`
    newest days holding gaps up to now's, oldest first: what a late trade may still reach after a restart. A hole's
    pieces split at midnight are joined again (earlier days read, up to `cap` in all, for its first piece)."""
    root = paths.lake / "recorder_gaps" / f"symbol={symbol}"
    dates = sorted((d for f in root.glob("date=*") if (d := f.name.removeprefix("date=")) <= day_of(now)), reverse=True)
    found, waiting = pd.DataFrame(columns=GAPS_SCHEMA.names), set()
    for n, day in enumerate(dates[:cap]):
        rows = read_partition(day_file(paths, "recorder_gaps", "gaps.parquet", symbol, day), GAPS_SCHEMA)
        keep = (rows["dataset"] == "trades") & rows["status"].isin(["lost", "partial"]) \
            & rows["detail"].str.startswith("trade ids ")
        rows = rows[keep & rows["detail"].isin(waiting)] if n >= days else rows[keep]
        found = pd.concat([found, rows], ignore_index=True) if len(found) else rows
        firsts = found.groupby(["cause", "detail"])["start_ms"].min()
        waiting = {detail for (_, detail), start in firsts.items() if start % DAY_MS == 0}  # maybe not its first piece
        if n + 1 >= days and not waiting:
            break
    holes = found.groupby(["cause", "detail"]).agg(start_ms=("start_ms", "min"), end_ms=("end_ms", "max"))
    return sorted(((str(c), int(r.start_ms), int(r.end_ms), str(d)) for (c, d), r in holes.iterrows()),
                  key=lambda row: row[1:])


def stored_trade_ids(paths: Paths, symbol: str, windows: list[tuple[int, int]]) -> set[int]:
    """The integer ids of the trades stored (open and merged hour files, lake trades) stamped within an hour of one
    of the [start, end] windows (a hole's trades are stamped in it, give or take the exchange's disorder); windows
    that meet are read as one, each day file once per window, never the days between two far apart."""
    ids: set[int] = set()
    for start_ms, end_ms in merge([(s - HOUR_MS, e + HOUR_MS) for s, e in windows]):
        for day in sorted({day_of(s) for s, _ in split_days(start_ms, end_ms)}):
            live = paths.live_trades / f"symbol={symbol}" / f"date={day}"
            files = [*live.glob("[0-9][0-9].parquet"), *live.glob("merged/[0-9][0-9].parquet"),
                     paths.trades / f"symbol={symbol}" / f"date={day}" / "trades.parquet"]
            for f in (f for f in files if f.exists()):
                rows = pq.read_table(f, columns=["trade_id", "ts"],
                                     filters=[("ts", ">=", start_ms), ("ts", "<=", end_ms)]).to_pandas()
                ids.update(int(t) for t in rows["trade_id"].map(trade_int).dropna())
    return ids


def due_days(paths: Paths, live_name: str, symbol: str, now: int) -> set[str]:
    """Days of a live dataset's hour files whose hour (plus grace) is over: the days a merge now writes to."""
    out = set()
    for path in (paths.lake / live_name / f"symbol={symbol}").glob("date=*/[0-9][0-9].parquet"):
        day = path.parent.name.removeprefix("date=")
        if int(pd.Timestamp(f"{day}T{path.stem}:00:00", tz="UTC").value // 1_000_000) + HOUR_MS + MERGE_GRACE_MS <= now:
            out.add(day)
    return out


def mark_day_complete(paths: Paths, symbol: str, dataset: str, live_name: str, now: int, label: str | None = None,
                      touched: frozenset[str] = frozenset(), pending_from: int | None = None) -> list[str]:
    """Write recorder_days rows (dataset = label, default the folder name) for each finished day (over + grace)
    the recorder recorded (a segment of label that day, whether or not a row arrived: a delisted or quiet symbol's
    covered day is complete, not missing) with no open hour files left and ending at or before pending_from (the
    start of a hole still to be back-filled); a marked day in `touched` (merged into again) gets its revision
    raised, so its run is requested again. Returns the days newly marked or revised."""
    label = label or dataset
    done = []
    for folder in sorted((paths.lake / "recorder_segments" / f"symbol={symbol}").glob("date=*")):
        day = folder.name.removeprefix("date=")
        day_end = int(pd.Timestamp(day, tz="UTC").value // 1_000_000) + DAY_MS
        live = paths.lake / live_name / f"symbol={symbol}" / f"date={day}"
        if day_end + MERGE_GRACE_MS > now or any(live.glob("[0-9][0-9].parquet")) or \
                (pending_from is not None and pending_from < day_end):
            continue
        target = paths.lake / "recorder_days" / f"date={day}" / "complete.parquet"
        old = read_partition(target, DAYS_SCHEMA)
        mine = (old["symbol"] == symbol) & (old["dataset"] == label)
        if (mine.any() and day not in touched) or label not in set(read_segments(paths, symbol, [day])["dataset"]):
            continue
        revision = int(old.loc[mine, "revision"].fillna(0).max()) + 1 if mine.any() else 0
        row = _frame([(symbol, label, now, revision)], DAYS_SCHEMA)
        both = pd.concat([old[~mine], row], ignore_index=True).fillna({"revision": 0})
        _write(both.sort_values(["symbol", "dataset"]), DAYS_SCHEMA, target)
        done.append(day)
    return done


def quarantine_trade(paths: Paths, symbol: str, trade: dict, reason: str) -> None:
    """Keep a trade message the recorder refused in the symbol's quarantine (one file per distinct message, so
    two unusable trades with the same or no id both stay, and the same one refused again is kept once)."""
    tid = str(trade.get("tradeId"))
    try:
        ts = int(trade.get("ts", 0))
    except (TypeError, ValueError, OverflowError):  # None, text, NaN; an infinite ts (JSON Infinity, 1e400)
        ts = 0
    raw = json.dumps(trade, default=str, sort_keys=True)
    frame = pd.DataFrame({"source_file": [f"recorder:trade {tid}"], "source_row": [1], "reason": [reason],
                          "raw_record": [raw], "ts": [min(max(ts, -2**63), 2**63 - 1)]})
    write_quarantine(paths, symbol, "recorder-" + hashlib.sha256(raw.encode()).hexdigest()[:16], frame)


def replace_funding(paths: Paths, symbol: str, settled: dict[int, float]) -> list[int]:
    """Store the exchange's settled funding rates (REST history), replacing another rate stored for the same
    settlement (the stream's announcement, under its stamp or another ms stamp of its second; the rule:
    settlements.replaces, whose unknown_only case write_funding applies); returns the funding_ts (as given in
    settled) whose stored rate was replaced. Each day's file is rewritten once, its new settlements and replaced
    rates together, under one hold of the lock; real data, refused in a lake holding synthetic data (claim_origin:
    SyntheticDataHeld), as write_funding."""
    from python_assets.lake.sources import claim_origin  # imported here: it builds on the lake's store

    if not settled:
        return []
    symbol = normalize_symbol(symbol)
    replaced: list[int] = []
    with symbol_lock(paths, symbol):
        claim_origin(paths, symbol, "funding rates", synthetic=False)
        # a settlement stored under another ms stamp of its second is that one, its day's file the one to rewrite
        stamps = stamps_by_second(settled, stored_funding_near(paths, symbol, settled)["funding_ts"].tolist())
        mapped = {stamps[t]: r for t, r in reversed(settled.items())}  # a second given twice: its first rate
        for day, part in _days(mapped).items():
            target = funding_partition(paths, symbol, date.fromisoformat(day))
            rows = read_partition(target, FUNDING_SCHEMA)
            stored = dict(zip(rows["funding_ts"].tolist(), rows["funding_rate"].tolist()))
            changed = {t: r for t, r in part.items() if t in stored and replaces(stored[t], r, unknown_only=False)}
            fresh = {t: r for t, r in part.items() if t not in stored}
            if not changed and not fresh:
                continue
            rows["funding_rate"] = rows["funding_ts"].map(changed).fillna(rows["funding_rate"])
            if fresh:
                added = _frame(list(fresh.items()), FUNDING_SCHEMA)
                rows = pd.concat([rows, added], ignore_index=True).sort_values("funding_ts", kind="mergesort")
            _write(rows, FUNDING_SCHEMA, target)
            replaced += as_given(changed, list(settled), [stamps[t] for t in settled])  # as the caller stamped it
    return sorted(replaced)


def _days(settled: dict[int, float]) -> dict[str, dict[int, float]]:
    """Settlements (funding_ts -> rate) by UTC day."""
    out: dict[str, dict[int, float]] = {}
    for ts, rate in settled.items():
        out.setdefault(day_of(int(ts)), {})[int(ts)] = rate
    return out


def stored_intervals(paths: Paths) -> dict[str, int | None]:
    """Funding interval hours per symbol in the newest stored instruments snapshot (empty when none)."""
    files = sorted((paths.lake / "instruments").glob("date=*/instruments.parquet"))
    rows = read_partition(files[-1], INSTRUMENTS_SCHEMA).dropna(subset=["funding_interval_hours"]) if files else None
    return {} if rows is None else {str(s): int(h) for s, h in zip(rows["symbol"], rows["funding_interval_hours"])}


def _same(a: object, b: object) -> bool:
    """Equal values, two missing ones included."""
    return (pd.isna(a) and pd.isna(b)) if pd.isna(a) or pd.isna(b) else a == b


def write_instruments(paths: Paths, rows: list[tuple], snapshot_ms: int) -> Path:
    """The day's instruments snapshot (replaced whole: one row per instrument per day); an instrument whose values
    equal the stored row's keeps that row's earlier snapshot_ms (a restart does not move a version's start)."""
    target = paths.lake / "instruments" / f"date={day_of(snapshot_ms)}" / "instruments.parquet"
    frame = _frame(rows, INSTRUMENTS_SCHEMA).drop_duplicates("symbol", keep="last").sort_values("symbol")
    old = read_partition(target, INSTRUMENTS_SCHEMA).drop_duplicates("symbol").set_index("symbol")
    values = [c for c in INSTRUMENTS_SCHEMA.names if c not in ("symbol", "snapshot_ms")]
    for i, row in frame.iterrows():
        if row["symbol"] in old.index and all(_same(row[c], old.at[row["symbol"], c]) for c in values):
            frame.at[i, "snapshot_ms"] = old.at[row["symbol"], "snapshot_ms"]
    _write(frame, INSTRUMENTS_SCHEMA, target)
    return target
