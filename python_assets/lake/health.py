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
from python_assets.lake.atomic import TEMP_PREFIX

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


def temp_leftovers(paths: Paths) -> list[Path]:
    """Every temp file or staging folder (named TEMP_PREFIX*, as all our writers name them) in the data
    directory: lake, reports, models, ml, run records, the snapshot's and last_error.log's beside them. Not
    under inbox/ (the user's files) nor below dagster_home/'s top (Dagster's own storage; ours is dagster.yaml's)."""
    found = []
    for folder, dirs, files in os.walk(paths.data_dir):  # a folder gone meanwhile is skipped by os.walk
        here = Path(folder)
        found += [here / name for name in (*dirs, *files) if name.startswith(TEMP_PREFIX)]
        skip = {d for d in dirs if d.startswith(TEMP_PREFIX)}  # removed whole
        skip |= {"inbox"} if here == paths.data_dir else set()
        dirs[:] = [d for d in dirs if d not in skip and here != paths.dagster_home]
    return found


def remove_stale_temp_files(paths: Paths, now: float | None = None) -> int:
    """Delete what killed writers left over an hour ago (temp_leftovers; a live writer renames or writes its
    temp within seconds); returns how many. One a writer renamed or removed meanwhile is not counted."""
    now = now if now is not None else time.time()
    removed = 0
    for f in temp_leftovers(paths):
        try:
            if now - f.lstat().st_mtime <= STALE_TEMP_S:
                continue
            shutil.rmtree(f, ignore_errors=True) if f.is_dir() and not f.is_symlink() else f.unlink()
        except FileNotFoundError:
            continue  # renamed into place or cleaned up by its writer since it was listed
        removed += 1
    return removed
