"""The inbox: trade files dropped into <data>/inbox/<SYMBOL>/ are ingested once, then filed away under
inbox/processed/<SYMBOL>/ or inbox/failed/<SYMBOL>/ by a name no earlier file there has (trades.csv, then
trades-2.csv, ...), so a later file of the same name never replaces an earlier one or its .error note."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path

from python_assets.config import Paths
from python_assets.ingest.importers import file_market_guard
from python_assets.ingest.read import TEXT_SUFFIXES
from python_assets.ingest.trades import IngestResult, ingest_file
from python_assets.lake.atomic import LakeWriteError

SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".feather", ".jsonl", ".ndjson", ".json")


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
    """(symbol, file) pairs waiting in inbox/<SYMBOL>/, oldest first."""
    root = inbox_dir(paths)
    if not root.exists():
        return []
    found = [
        (d.name, f)
        for d in sorted(root.iterdir())
        if d.is_dir() and d.name not in ("processed", "failed")
        for f in d.iterdir()
        if f.is_file() and _readable(f) and not f.name.startswith(".")
    ]
    return sorted(found, key=lambda sf: (sf[1].stat().st_mtime, str(sf[1])))


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


def _ingest(paths: Paths, symbol: str, path: Path, name: str) -> tuple[IngestResult | None, str | None]:
    """(result, None), or (None, the reason) for a poison file: one that cannot be ingested, whatever the
    error. A lake write failure (disk full, permissions) is not the file's fault: it propagates, and the
    file stays to be retried."""
    try:
        return ingest_file(paths, path, symbol, source_name=name, guard=file_market_guard(paths, path, "trades", symbol)), None
    except LakeWriteError:
        raise
    except Exception as exc:  # a poison file must never block the files behind it
        why = " ".join(str(exc).split()) or type(exc).__name__
        return None, why if isinstance(exc, ValueError) else f"{type(exc).__name__}: {why}"


def process_inbox(paths: Paths, outcomes: list[InboxOutcome] | None = None) -> list[InboxOutcome]:
    """Ingest every pending file; move it to inbox/processed/ or inbox/failed/ (with a .error note), under
    filed_name. Each filed file's outcome is appended to `outcomes` as it is filed, so a caller whose call
    raised (a lake write failure: the file stays to be retried) still has those of the files before it."""
    outcomes = [] if outcomes is None else outcomes
    for symbol, path in pending_files(paths):
        name = filed_name(paths, symbol, path)
        result, error = _ingest(paths, symbol, path, name)
        dest = inbox_dir(paths) / ("failed" if error else "processed") / symbol
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), dest / name)
        if error:
            error = error.replace(str(path), str(dest / name))  # the reason names where the file is now
            (dest / f"{name}.error").write_text(error + "\n")
        outcomes.append(InboxOutcome(name, symbol, result, error))
    return outcomes
