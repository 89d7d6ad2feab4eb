"""One recorder per symbol and data directory: both recorders (`record`, `record-trades`) read-modify-write
the same hour files without the lake's lock, so a second one on a symbol could unlink rows the first wrote.
Each holds `<data>/.lake-locks/<SYMBOL>.recorder.lock` (flock, not waited for) while it records; the
operating system drops it when the holder exits or is killed."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from python_assets.config import Paths
from python_assets.lake.store import lock_file


class RecorderBusy(RuntimeError):
    """Another recorder holds the symbol; the message names the data directory and the holder."""


def recorder_lock_file(paths: Paths, symbol: str) -> Path:
    """The lock file a symbol's recorder holds (beside the lake's per-symbol write locks)."""
    return lock_file(paths, symbol).with_suffix(".recorder.lock")


def take_recorder_lock(paths: Paths, symbol: str) -> IO[str]:
    """Hold the symbol's recorder lock (the open file: closing it, or losing the last reference to it, lets go);
    RecorderBusy at once when another holds it."""
    path = recorder_lock_file(paths, symbol)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the recording session
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RecorderBusy(f"{symbol} is already being recorded into {paths.data_dir} ({holder}); "
                           "stop that recorder first: two recorders of one symbol can lose rows") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle
