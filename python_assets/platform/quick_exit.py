"""Ending a process that has done its work without the interpreter's teardown of its modules, which whoever
started it waits for: ~0.5 s after a dbt call, ~0.7 s after torch, xgboost and numba were imported. The exit
handlers run and the standard streams are flushed first, as at an interpreter's exit."""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn


def exit_status(done: SystemExit) -> int:
    """The status the interpreter would exit with for this SystemExit: None is 0, a number itself, anything else
    is printed to stderr and gives 1."""
    if done.code is None:
        return 0
    if isinstance(done.code, int):
        return done.code
    print(done.code, file=sys.stderr)
    return 1


def open_files_ending(*suffixes: str) -> list[str]:
    """Files this process still holds open whose names end with one of suffixes (Linux /proc; [] elsewhere)."""
    found = []
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own fd)
            continue
        if target.endswith(suffixes):
            found.append(target)
    return found


def run_exit_handlers() -> None:
    """The exit handlers, once: they flush and close the log handlers (and close what libraries registered them
    for); cleared after, so an interpreter's exit after this does not run them again."""
    atexit._run_exitfuncs()
    atexit._clear()


def end_now(status: int) -> NoReturn:
    """The exit handlers (unless run already), a flush of the standard streams, then the exit."""
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing left to say there
                pass
    os._exit(status)
