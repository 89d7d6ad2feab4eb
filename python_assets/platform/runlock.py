"""One writer at a time per data directory: an exclusive lock on `<data>/.run.lock` held by whoever
opens the live warehouse (CLI runs, `backtest`, `report`, and every Dagster step that opens it through
the `warehouse` resource, dbt's subprocess included: its step holds the lock while dbt runs). The
operating system drops the lock when its holder exits or is killed, so no stale lock is left.

Re-entrant within a process: a CLI run holds it for the whole run and its in-process Dagster steps
take it again without waiting on themselves. A step of a multiprocess run is its own process: it
holds the lock only while it uses the warehouse, and the `warehouse` pool already runs those steps one
at a time, so they never wait on each other; the lock keeps out writers the pool cannot see (the CLI,
another Dagster instance). A waiting writer gives up after a bounded wait, naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from python_assets.config import LOCK_WAIT_ENV, Paths, lock_wait_setting
from python_assets.lake.health import DataDirError



class RunInProgress(RuntimeError):
    """Another process holds the data directory; the message names it (pid, what, run id, since when)."""


class LockSettingError(ValueError):
    """BLOFIN_LOCK_WAIT_SECONDS is not a number of seconds."""


@dataclass
class _Held:
    """This process's hold on one lock file: the descriptor, how many nested holders, what they are."""

    fd: int
    what: str
    since: str
    depth: int = 1
    runs: list[str] = field(default_factory=list)

    def record(self) -> str:
        runs = "".join(f", dagster run {r}" for r in self.runs)
        return f"pid {os.getpid()}, {self.what}{runs}, since {self.since}"


_HELD: dict[Path, _Held] = {}
_GUARD = threading.Lock()


def lock_file(paths: Paths) -> Path:
    return paths.data_dir / ".run.lock"


def lock_wait_seconds(default: float) -> float:
    """Seconds a writer waits for the lock: BLOFIN_LOCK_WAIT_SECONDS, else `default`."""
    raw = lock_wait_setting()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise LockSettingError(f"{LOCK_WAIT_ENV}={raw!r} is not a number of seconds (0 or more)")
    return value


def _write_record(held: _Held) -> None:
    os.ftruncate(held.fd, 0)
    os.pwrite(held.fd, held.record().encode(), 0)


def _open(paths: Paths) -> int:
    try:
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        return os.open(lock_file(paths), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DataDirError(f"data directory {paths.data_dir} is not writable: {exc.strerror or exc}; "
                           "set BLOFIN_DATA_DIR to a writable directory") from None


def _acquire(fd: int, paths: Paths, wait_s: float, on_wait: Callable[[str], None] | None) -> None:
    """flock(fd), polling until wait_s has passed; then RunInProgress naming the holder."""
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = os.pread(fd, 300, 0).decode(errors="replace").strip() or "a process that has not said who it is"
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f" (still, after waiting {wait_s:g} s)" if wait_s > 0 else ""
                raise RunInProgress(f"another writer is using {paths.data_dir}: {holder}{waited}; wait for it to "
                                    f"finish or stop it ({LOCK_WAIT_ENV} sets how long to wait)") from None
            if on_wait is not None and not told:
                on_wait(f"waiting up to {wait_s:g} s for the writer lock of {paths.data_dir}: {holder}")
                told = True
            time.sleep(min(0.1, left))


@contextmanager
def writer_lock(paths: Paths, what: str, wait_s: float = 0.0, run_id: str | None = None,
                on_wait: Callable[[str], None] | None = None) -> Iterator[str]:
    """Hold the data directory's writer lock (at once if this process holds it already), waiting up to
    wait_s seconds for another holder, else RunInProgress; yields the holder record the lock file shows."""
    path = lock_file(paths)
    with _GUARD:
        held = _HELD.get(path)
        if held is not None:
            if run_id and run_id not in held.runs:
                held.runs.append(run_id)
                try:
                    _write_record(held)
                except BaseException:  # a full disk: this call fails, the outer holder's count is untouched
                    held.runs.remove(run_id)
                    raise
            held.depth += 1
    if held is None:
        fd = _open(paths)
        try:
            _acquire(fd, paths, wait_s, on_wait)
        except BaseException:
            os.close(fd)
            raise
        held = _Held(fd, what, datetime.now(timezone.utc).isoformat(timespec="seconds"), runs=[run_id] if run_id else [])
        try:
            _write_record(held)
        except BaseException:  # a full disk: closing the descriptor lets go of the lock for the next call
            os.close(fd)
            raise
        with _GUARD:
            _HELD[path] = held
    try:
        yield held.record()
    finally:
        with _GUARD:
            held.depth -= 1
            last = held.depth == 0
            if last:
                del _HELD[path]
        if last:
            os.ftruncate(held.fd, 0)
            fcntl.flock(held.fd, fcntl.LOCK_UN)
            os.close(held.fd)
