"""The inbox: trade files dropped into <data>/inbox/<SYMBOL>/ are ingested once, then filed away under
inbox/processed/<SYMBOL>/ or inbox/failed/<SYMBOL>/ by a name no earlier file there has (trades.csv, then
trades-2.csv, ...), so a later file of the same name never replaces an earlier one or its .error note.

A file is taken once it has settled (settled_files: the same size and modification time at two looks, a
sensor tick apart), so one still being copied in is not read to where the copy has got. Files named as
partial downloads (.part, .tmp, .crdownload, ...) and dot-files (rsync's temporary name) are never taken:
write a file elsewhere (or under such a name) and rename it into the inbox when it is whole."""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from python_assets.config import Paths
from python_assets.ingest.importers import file_market_guard
from python_assets.ingest.inbox_runs import drop_records, record_days
from python_assets.ingest.read import TEXT_SUFFIXES
from python_assets.ingest.trades import IngestResult, ingest_file
from python_assets.lake.atomic import LakeWriteError, write_bytes_atomic
from python_assets.lake.sources import user_symbol

SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".feather", ".jsonl", ".ndjson", ".json")
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".filepart", ".!sync")


def inbox_dir(paths: Paths) -> Path:
    return paths.data_dir / "inbox"


@dataclass(frozen=True)
class InboxOutcome:
    """One inbox file handled: the name it was filed under (its quarantine rows say it too), what it changed."""

    file: str
    symbol: str
    result: IngestResult | None
    error: str | None


def pending_files(paths: Paths) -> list[tuple[str, Path]]:
    """(symbol, file) pairs waiting in inbox/<SYMBOL>/, oldest first: files of a readable suffix, neither
    dot-files nor named as a partial download (PARTIAL_SUFFIXES)."""
    root = inbox_dir(paths)
    if not root.exists():
        return []
    found = [
        (d.name, f)
        for d in sorted(root.iterdir())
        if d.is_dir() and d.name not in ("processed", "failed")
        for f in d.iterdir()
        if f.is_file() and _readable(f) and not f.name.startswith(".") and not f.name.lower().endswith(PARTIAL_SUFFIXES)
    ]
    return sorted(found, key=lambda sf: (_mtime(sf[1]), str(sf[1])))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # gone since it was listed (renamed away): it sorts last and is not found when taken
        return float("inf")


def file_state(path: Path) -> list[int] | None:
    """[size, mtime in ns] of a file, or None when it is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def settled_files(pending: list[tuple[str, Path]],
                  seen: dict[str, list[int]]) -> tuple[list[tuple[str, Path]], dict[str, list[int]]]:
    """(the pending files whose size and modification time are what the previous look recorded in `seen`
    ("SYMBOL/name" -> [size, mtime_ns]), every pending file's state now for the next look). A file being
    written (cp, scp, an upload in place) changes between two looks and waits; a new file waits one look."""
    now: dict[str, list[int]] = {}
    ready = []
    for symbol, path in pending:
        state = file_state(path)
        if state is None:
            continue
        key = f"{symbol}/{path.name}"
        now[key] = state
        if seen.get(key) == state:
            ready.append((symbol, path))
    return ready, now


def _full_suffix(path: Path) -> str:
    """The suffix a reader goes by: `.csv`, or `.csv.gz` for a gzipped text file."""
    if path.suffix.lower() == ".gz" and path.with_suffix("").suffix:
        return path.with_suffix("").suffix + path.suffix
    return path.suffix


def _readable(path: Path) -> bool:
    """A suffix the ingestion reads: SUFFIXES, or a text one of them gzipped (freqtrade's trades.json.gz)."""
    suffix = _full_suffix(path).lower()
    return suffix in SUFFIXES or (suffix.endswith(".gz") and suffix[:-3] in TEXT_SUFFIXES)


def filed_name(paths: Paths, symbol: str, path: Path) -> str:
    """The file's name if neither processed/ nor failed/ of its symbol holds it yet, else the first free
    `<stem>-<n><suffix>` (n = 2, 3, ...; x-2.csv.gz for x.csv.gz): a file is never filed over another or
    its .error note."""
    folders = [inbox_dir(paths) / kind / symbol for kind in ("processed", "failed")]
    suffix = _full_suffix(path)
    stem = path.name[: len(path.name) - len(suffix)]
    candidates = itertools.chain([path.name], (f"{stem}-{n}{suffix}" for n in itertools.count(2)))
    return next(name for name in candidates
                if not any((f / name).exists() or (f / f"{name}.error").exists() for f in folders))


def _ingest(paths: Paths, symbol: str, path: Path, name: str,
            before_store: Callable[[tuple[str, ...]], None] | None = None) -> tuple[IngestResult | None, str | None]:
    """(result, None), or (None, the reason) for a poison file: one that cannot be ingested, whatever the
    error. A lake write failure (disk full, permissions) is not the file's fault: it propagates, and the
    file stays to be retried. before_store: as ingest_file's."""
    try:
        symbol = user_symbol(paths, symbol)  # inbox/BTCUSDT/ is BTC-USDT, but a lake's own BTCUSDT folder
        return ingest_file(paths, path, symbol, source_name=name, guard=file_market_guard(paths, path, "trades", symbol),
                           before_store=before_store), None
    except LakeWriteError:
        raise
    except Exception as exc:  # a poison file must never block the files behind it
        why = " ".join(str(exc).split()) or type(exc).__name__
        return None, why if isinstance(exc, ValueError) else f"{type(exc).__name__}: {why}"


def process_inbox(paths: Paths, outcomes: list[InboxOutcome] | None = None,
                  files: list[tuple[str, Path]] | None = None, budget_s: float | None = None,
                  max_files: int | None = None, record_runs: bool = False) -> list[InboxOutcome]:
    """Ingest the pending files (or `files`), oldest first; move each to inbox/processed/ or inbox/failed/
    (with a .error note), under filed_name. With record_runs, every day of a file's rows is recorded
    (inbox_runs.record_days) before its rows are stored, and the records of the days it did not change are
    dropped once it is ingested: a caller killed (or a disk full) midway still gets the runs of the days
    already written, at a later call that finds their rows stored, while an identical file dropped again
    gets none (beyond its quarantined rows' days). Each filed file's outcome is appended to `outcomes` as it is
    filed, so a caller whose call raised (a lake write failure: the file stays to be retried) still has
    those of the files before it. budget_s / max_files: take no new file once that many seconds have passed
    or that many files were taken; the rest stay in the inbox for the next call."""
    outcomes = [] if outcomes is None else outcomes
    start = time.monotonic()
    for taken, (symbol, path) in enumerate(pending_files(paths) if files is None else files):
        if (max_files is not None and taken >= max_files) or (
                budget_s is not None and taken and time.monotonic() - start >= budget_s):
            break
        if not path.is_file():
            continue  # taken away since it was listed
        name = filed_name(paths, symbol, path)
        records: dict[str, str] = {}
        result, error = _ingest(paths, symbol, path, name,
                                (lambda days: records.update(record_days(paths, symbol, name, days))) if record_runs else None)
        # the records of the days the file did not change go; the rest stay, written before it is filed (a kill
        # now re-ingests it and records them again)
        changed = set(result.partitions) if result else set()
        drop_records(paths, [record for day, record in records.items() if day not in changed])
        dest = inbox_dir(paths) / ("failed" if error else "processed") / symbol
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), dest / name)
        if error:
            error = error.replace(str(path), str(dest / name))  # the reason names where the file is now
            write_bytes_atomic((error + "\n").encode(), dest / f"{name}.error")  # a full disk: no torn note
        outcomes.append(InboxOutcome(name, symbol, result, error))
    return outcomes
