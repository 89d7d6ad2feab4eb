"""A child process that must not outlive the run that started it (nor the step around it: ended_on_error).

The daily run's dbt child holds the warehouse's DuckDB file lock while it builds. When the run is
SIGKILLed alone (`kill -9 <pid>`, an OOM kill of the CLI or of a Dagster step process) the run's
writer lock (platform/runlock) goes with it, but an orphaned dbt would go on writing and keep the
DuckDB file locked: the rerun's writer was refused until it finished. Linux delivers a signal to a
process whose parent dies when the process asks for it (prctl PR_SET_PDEATHSIG); elsewhere nothing
changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """Have the kernel send this process sig when its parent dies, as the parent's own crash would
    have ended it; if the parent died already, send it now. parent: the pid that started this process,
    when it passed it (a child that reads its parent only after its interpreter started cannot tell
    otherwise that the parent died before). False where the platform cannot."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid() if parent is None else parent
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died between the two calls: no signal will come
        os.kill(os.getpid(), sig)
    return True


@contextmanager
def ended_on_error(process: subprocess.Popen, grace_s: float = 10.0) -> Iterator[None]:
    """End `process` (SIGTERM, then SIGKILL after grace_s) when the block fails while it still runs: a step
    that failed around its dbt child (its event storage on a full disk) returned while dbt went on writing
    the warehouse, the run's lock released, and the next command met that writer."""
    try:
        yield
    except BaseException:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise
