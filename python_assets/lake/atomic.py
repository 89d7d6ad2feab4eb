"""Atomic file writers: a file is written to a temp beside it, fsynced, then renamed over the old one, so
readers (and a crash, or a full disk) see the old version or the new one, never half a file. Lake
partitions, reports, model files and the warehouse snapshot are written through here."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


TEMP_PREFIX = ".tmp-"  # every temp file or staging folder a writer leaves beside its target starts so (health sweeps them)


class LakeWriteError(OSError):
    """A file could not be written (disk full, read-only or unwritable place); the old file is intact."""


def new_temp_file(directory: Path) -> str:
    """Create an empty `.tmp-*.inprogress` file in directory with mode 0666 less the umask, as open() does
    (mkstemp's 0600 would leave the renamed file unreadable to the data dir's other readers)."""
    path = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}.inprogress"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return str(path)


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries (a rename into it), to disk: a crash after a rename
    must not find the new name over an empty or half-written file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(directory: Path) -> None:
    """fsync_path every file of a freshly written folder, then the folder itself (before it is renamed into
    place, as replace_atomic does for one file)."""
    for path in sorted(directory.iterdir()):
        if path.is_file():
            fsync_path(path)
    fsync_path(directory)


def replace_atomic(target: Path, write: Callable[[str], None]) -> None:
    """Have `write` fill a temp file beside target, fsync it, then rename it over target; an OS error
    (disk full, permissions) becomes one LakeWriteError naming the file, with the old file untouched.
    The file gets the umask's mode (0644 under umask 022), like any file the process creates."""
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = new_temp_file(target.parent)
        write(tmp)
        fsync_path(Path(tmp))
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, LakeWriteError):
            why = exc.strerror or str(exc)
            raise LakeWriteError(exc.errno, f"cannot write {target}: {why}; the previous version of the file "
                                 "(if any) is unchanged") from exc
        raise


def write_files_atomic(files: dict[Path, bytes]) -> None:
    """Write each file to a temp beside it (fsynced), then rename them all into place: a write that fails
    (a full disk) does so before any rename, so every previous version stays, as the LakeWriteError says."""
    temps: dict[Path, str] = {}
    try:
        for target, data in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            temps[target] = new_temp_file(target.parent)
            with open(temps[target], "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
    except OSError as exc:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
        names = " and ".join(str(t) for t in files)
        raise LakeWriteError(exc.errno, f"cannot write {target}: {exc.strerror or exc}; the previous versions of "
                                        f"{names} (if any) are unchanged") from exc
    for target, tmp in temps.items():
        os.replace(tmp, target)


def write_table_atomic(table: pa.Table, target: Path) -> None:
    """Write Parquet atomically: readers see the old file or the new one, never a partial one."""
    replace_atomic(target, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def write_bytes_atomic(data: bytes, target: Path) -> None:
    """Atomically replace target with data."""
    replace_atomic(target, lambda tmp: Path(tmp).write_bytes(data))
