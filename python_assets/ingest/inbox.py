"""The inbox: trade files dropped into <data>/inbox/<SYMBOL>/ are ingested once, then filed away."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from python_assets.config import Paths
from python_assets.ingest.trades import IngestResult, ingest_file
from python_assets.lake.store import LakeWriteError

SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".feather", ".jsonl", ".ndjson", ".json")


def inbox_dir(paths: Paths) -> Path:
    return paths.data_dir / "inbox"


@dataclass(frozen=True)
class InboxOutcome:
    """One inbox file handled: where it went and what it changed."""

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
        if f.is_file() and f.suffix.lower() in SUFFIXES and not f.name.startswith(".")
    ]
    return sorted(found, key=lambda sf: (sf[1].stat().st_mtime, str(sf[1])))


def _ingest(paths: Paths, symbol: str, path: Path) -> tuple[IngestResult | None, str | None]:
    """(result, None), or (None, the reason) for a poison file: one that cannot be ingested, whatever the
    error. A lake write failure (disk full, permissions) is not the file's fault: it propagates, and the
    file stays to be retried."""
    try:
        return ingest_file(paths, path, symbol), None
    except LakeWriteError:
        raise
    except Exception as exc:  # a poison file must never block the files behind it
        why = " ".join(str(exc).split()) or type(exc).__name__
        return None, why if isinstance(exc, ValueError) else f"{type(exc).__name__}: {why}"


def process_inbox(paths: Paths) -> list[InboxOutcome]:
    """Ingest every pending file; move it to inbox/processed/ or inbox/failed/ (with a .error note)."""
    outcomes = []
    for symbol, path in pending_files(paths):
        result, error = _ingest(paths, symbol, path)
        dest = inbox_dir(paths) / ("failed" if error else "processed") / symbol
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), dest / path.name)
        if error:
            (dest / f"{path.name}.error").write_text(error + "\n")
        outcomes.append(InboxOutcome(path.name, symbol, result, error))
    return outcomes
