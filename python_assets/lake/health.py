"""Checks a run makes before it trusts the data directory: writable, no corrupted lake file, and no
temp file left behind by a writer that was killed."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq

from python_assets.config import Paths, export_data_dir

STALE_TEMP_S = 3600  # a temp file this old has no live writer (writes take seconds)


class DataDirError(RuntimeError):
    """The data directory cannot be used; the message says which path and why."""


class LakeCorrupted(RuntimeError):
    """Lake files that are not readable Parquet; the message lists them and what to do."""


def ensure_writable(paths: Paths) -> None:
    """Create the data directory if needed and prove a file can be written in it."""
    probe = paths.data_dir / f".write-probe-{os.getpid()}"
    try:
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
    except OSError as exc:
        why = exc.strerror or str(exc)
        hint = " (the disk is full)" if exc.errno == errno.ENOSPC else ""
        raise DataDirError(f"data directory {paths.data_dir} is not writable: {why}{hint}; "
                           "set BLOFIN_DATA_DIR to a writable directory") from None
    finally:  # also the empty probe a full disk leaves (created, but its bytes refused)
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)


def writable_data_dir() -> Paths:
    """The data directory (BLOFIN_DATA_DIR, exported for subprocesses), proven writable (else DataDirError)."""
    paths = export_data_dir()
    ensure_writable(paths)
    return paths


def corrupted_lake_files(paths: Paths) -> list[tuple[Path, str]]:
    """(file, error) for every lake Parquet file whose footer cannot be read (cheap: metadata only)."""
    bad = []
    for root in (paths.trades, paths.funding, paths.candles, paths.quarantine):
        for f in sorted(root.rglob("*.parquet")) if root.exists() else []:
            try:
                pq.read_metadata(f)
            except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged file
                bad.append((f, str(exc).splitlines()[0][:200]))
    return bad


def require_healthy_lake(paths: Paths) -> None:
    """Raise LakeCorrupted naming every unreadable lake file, before any model reads the lake."""
    bad = corrupted_lake_files(paths)
    if bad:
        listing = "; ".join(f"{f} ({why})" for f, why in bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise LakeCorrupted(f"{len(bad)} corrupted lake file(s): {listing}. Nothing was changed: restore them from a "
                            "backup, or delete them and ingest / import / fetch those days again")


def remove_stale_temp_files(paths: Paths, now: float | None = None) -> int:
    """Delete what killed writers left over an hour ago: temp files (.tmp-*.inprogress) in the lake and
    reports, staging folders (.tmp-*) of model versions; returns how many."""
    now = now if now is not None else time.time()
    removed = 0
    leftovers = [f for root in (paths.lake, paths.reports) if root.exists() for f in root.rglob(".tmp-*.inprogress")]
    leftovers += [d for d in paths.models.glob("*/.tmp-*")] if paths.models.exists() else []
    for f in leftovers:
        if now - f.stat().st_mtime > STALE_TEMP_S:
            shutil.rmtree(f, ignore_errors=True) if f.is_dir() else f.unlink(missing_ok=True)
            removed += 1
    return removed
