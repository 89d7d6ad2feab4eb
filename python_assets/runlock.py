"""One pipeline run per data directory at a time: an exclusive lock on `<data>/.run.lock`, held for the
whole run. The operating system drops it when the holder exits or is killed, so no stale lock is left."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from python_assets.config import Paths


class RunInProgress(RuntimeError):
    """Another run holds the data directory; the message says which process since when."""


@contextmanager
def run_lock(paths: Paths) -> Iterator[None]:
    """Hold the data directory's run lock, or raise RunInProgress at once (a second run is refused, not queued)."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    path = paths.data_dir / ".run.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
        os.close(fd)
        raise RunInProgress(f"another run is using {paths.data_dir} ({holder}); wait for it to finish or stop it") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {datetime.now(timezone.utc).isoformat(timespec='seconds')}".encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
