"""What the CLI says when something fails: one line naming the cause (a failed step's root cause, a full
disk, a refused date), and where the full details are. No Dagster import at module level: the CLI's
bad-input paths stay fast."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import shutil
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Any

from python_assets.platform.secrets import scrub

EXIT_BAD_INPUT, EXIT_BUSY = 2, 3  # 1: a run or a command failed
EXIT_BROKEN_PIPE = 141  # the shell's 128 + SIGPIPE, as `yes | head` leaves it
EXIT_INTERRUPTED = 130  # the shell's 128 + SIGINT (Dagster takes a SIGTERM to a run as a SIGINT)
INTERRUPTS = frozenset({"DagsterExecutionInterruptedError", "KeyboardInterrupt"})  # a step's error when stopped
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DBT_ERRORS_HEADER = "Errors parsed from dbt logs:"
DISK_FULL_TEXT = ("database or disk is full", "no space left on device")
DISK_IO_TEXT = "disk i/o error"  # SQLite in WAL mode on a full disk: its -shm file cannot grow
NEARLY_FULL_BYTES, NEARLY_FULL_SHARE = 16 * 1024 * 1024, 0.01  # free space under both: the disk is full


def squash(text: str, limit: int = 600) -> str:
    """Text on one line: colour codes dropped, whitespace runs collapsed, cut at limit characters."""
    flat = " ".join(ANSI.sub("", text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _strip_qualname(message: str, cls_name: str | None) -> str:
    """'pkg.mod.LakeCorrupted: text' -> 'LakeCorrupted: text' (Dagster prefixes the qualified name)."""
    head, sep, rest = message.partition(": ")
    if sep and cls_name and head.split(".")[-1] == cls_name:
        return f"{cls_name}: {rest}"
    return message


def step_root_cause(error: Any) -> str:
    """One line for a failed step: the deepest `cause` of Dagster's SerializableErrorInfo (the step's own
    exception, not Dagster's 'Error occurred while executing op'); for dbt, its parsed error that says why."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = error.message or error.cls_name or "unknown error"
    if DBT_ERRORS_HEADER in message:
        return squash(scrub(f"dbt failed: {dbt_cause(message.split(DBT_ERRORS_HEADER, 1)[1])}"))
    return squash(scrub(_strip_qualname(message.strip(), error.cls_name)))


def dbt_cause(parsed: str) -> str:
    """The error dbt's failure is best named by, of those parsed from its logs (blocks apart by blank
    lines): one saying the disk is full (as 'the disk is full: ...'), else dbt's own 'Encountered an
    error', else the first (the others are often just 'N of M ERROR creating model X')."""
    blocks = [b.strip() for b in parsed.strip().split("\n\n") if b.strip()] or ["no error parsed"]
    for block in blocks:
        if says_disk_full(block):
            return f"the disk is full: {block}"
    return next((b for b in blocks if ANSI.sub("", b).startswith("Encountered an error")), blocks[0])


def failed_step_lines(failures: list[Any], ending: str) -> list[str]:
    """'error: step X failed: <root cause>' per failed step (Dagster step-failure events), then `ending`
    in brackets on the last line (or alone when no step failed)."""
    lines = [step_line(e) for e in failures]
    return [*lines[:-1], f"{lines[-1]} ({ending})"] if lines else [f"error: {ending}"]


def interrupted(failures: list[Any]) -> bool:
    """Whether every failed step of a run failed because the run was interrupted (Ctrl-C, or SIGTERM, which
    Dagster turns into a SIGINT): the user or a supervisor's timeout stopped it, nothing failed on its own.
    An interrupt anywhere in an error's cause or context chain counts: dagster-dbt raises TimeoutExpired
    while handling the interrupt when dbt is slow to stop, and so does any cleanup that fails meanwhile. A
    step that failed on its own before counts as a failure."""
    def stopped(error: Any) -> bool:
        todo, seen = [error], set()
        while todo:
            error = todo.pop()
            if error is None or id(error) in seen:  # a cycle of causes and contexts ends here
                continue
            if error.cls_name in INTERRUPTS:
                return True
            seen.add(id(error))
            todo += [getattr(error, "cause", None), getattr(error, "context", None)]
        return False

    return bool(failures) and all(stopped(e.step_failure_data.error) for e in failures)


def interrupted_line(failures: list[Any], what: str, where: str,
                     again: str = "the same command again finishes it") -> str:
    """'interrupted: WHAT stopped in step X; AGAIN (WHERE)' for a run interrupted (interrupted())."""
    steps = ", ".join(sorted({e.step_key for e in failures}))
    return f"interrupted: {what} stopped in step {steps}; {again} ({where})"


def step_line(failure: Any) -> str:
    """'error: step X failed: <root cause>' for one Dagster step-failure event."""
    return f"error: step {failure.step_key} failed: {step_root_cause(failure.step_failure_data.error)}"


def stopped_run_lines(instance: Any, exc: BaseException, span: str, where: str, run_id: str,
                      run_log: Path) -> tuple[list[Any], list[str]]:
    """Dagster itself failed mid-run (its storage on a full disk): (the step-failure events it did record,
    a line for each, then why it stopped); the run is marked failed when the storage takes it (else the
    next run does, saying why from the stop note left in run_log, by a --verbose run too). With no instance
    (it did not open) there is no run, and the line says so."""
    from blofin_cli.run_log import STOP_NOTE, append_lines
    from dagster_defs.runner import live_cli_step_failures, recover_dead_cli_runs
    from python_assets.config import paths

    cause = f"the disk is full ({describe(exc)})" if is_disk_full(exc) else describe(exc)
    append_lines(run_log, [STOP_NOTE.format(run_id=run_id, cause=cause)])
    failures, marked = [], "the run stays 'started' until the next run marks it failed"
    if instance is None:  # the Dagster instance did not open: no run was recorded to stay 'started'
        marked = "no run was started: the Dagster instance did not open"
    else:
        with contextlib.suppress(Exception):  # the storage may be unusable still: then the next run recovers it
            failures = live_cli_step_failures(instance, paths().data_dir)
        with contextlib.suppress(Exception):
            recover_dead_cli_runs(instance, paths().data_dir, f"the run stopped: {cause}")
            marked = "the run is marked failed"
    return failures, [step_line(e) for e in failures] + [f"error: materialization of {span} stopped: {cause}; {marked} "
                                                         f"({where})"]


def exception_chain(exc: BaseException) -> list[BaseException]:
    """exc and every exception it was raised from (or, unless suppressed, while handling), outermost first."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return chain


def is_disk_full(exc: BaseException, dirs: list[Path] | None = None) -> bool:
    """True when exc, or what it came from, is ENOSPC or SQLite's 'database or disk is full', or SQLite's
    'disk I/O error' while the disk of dirs (default: the data dir and DAGSTER_HOME) is nearly full."""
    chain = exception_chain(exc)
    if any((isinstance(e, OSError) and e.errno == errno.ENOSPC) or says_disk_full(str(e)) for e in chain):
        return True
    return any(DISK_IO_TEXT in str(e).lower() for e in chain) and any(map(nearly_full, dirs or _storage_dirs()))


def says_disk_full(text: str) -> bool:
    """Whether a message (colours left out) says the disk is full: ENOSPC's text or errno, or SQLite's."""
    lowered = ANSI.sub("", text).lower()
    return any(t in lowered for t in DISK_FULL_TEXT) or "[errno 28]" in lowered


def _storage_dirs() -> list[Path]:
    """The data dir and DAGSTER_HOME (Dagster's SQLite storage), where a disk I/O error may mean a full disk."""
    from python_assets.config import dagster_home_setting, paths

    return [paths().data_dir, dagster_home_setting() or paths().dagster_home]


def nearly_full(path: Path) -> bool:
    """Whether the filesystem holding path (or its nearest existing parent) has almost no free space left."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return False
    return usage.free < NEARLY_FULL_BYTES and usage.free < NEARLY_FULL_SHARE * usage.total


def describe(exc: BaseException) -> str:
    """'Type: first line' of the innermost exception in the chain that says something, secrets blanked (a
    secret the length limit cut would keep its head past a later scrub)."""
    for e in reversed(exception_chain(exc)):
        text = str(e).strip()
        if text:
            return squash(scrub(f"{type(e).__name__}: {text.splitlines()[0]}"))  # scrubbed before the cut
    return type(exc).__name__


def save_traceback(exc: BaseException, path: Path) -> str:
    """Write exc's traceback to path, atomically (a full disk keeps the previous one whole); returns
    ' (traceback: path)' or why it could not be saved."""
    from python_assets.lake.atomic import write_bytes_atomic

    try:
        write_bytes_atomic(scrub("".join(traceback.format_exception(exc))).encode(), path)
        return f" (traceback: {path})"
    except OSError as err:
        return f" (traceback not saved: {os.strerror(err.errno) if err.errno else err})"


def window_problem(first: date, last: date, bounds: tuple[date, date]) -> str | None:
    """Why first..last is not a range of daily partitions (bounds: first and last partition day), or None."""
    lo, hi = bounds
    if first > last:
        return f"start {first} is after end {last}"
    if first < lo:
        return (f"{first} is before the first daily partition {lo} (BLOFIN_PARTITIONS_START sets it)")
    if last > hi:
        return (f"{last} is not a complete UTC day yet: the newest daily partition is {hi}")
    return None


def fail_clearly(exc: Exception) -> int:
    """One line for an error that escaped a command: the known refusals as they are (exit 2 bad input,
    3 busy), a full disk said so, anything else as its type and first line with its traceback saved
    to <data>/last_error.log (BLOFIN_DEBUG=1 raises it instead)."""
    from python_assets.config import SettingError, debug_enabled, paths
    from python_assets.lake.atomic import LakeWriteError
    from python_assets.lake.health import DataDirError
    from python_assets.platform.runlock import LockSettingError, RunInProgress
    from python_assets.warehouse.connection import WarehouseBusy, WarehouseMissing

    codes = {DataDirError: EXIT_BAD_INPUT, WarehouseMissing: EXIT_BAD_INPUT, LockSettingError: EXIT_BAD_INPUT,
             SettingError: EXIT_BAD_INPUT,
             RunInProgress: EXIT_BUSY, WarehouseBusy: EXIT_BUSY, LakeWriteError: 1}
    for kind, code in codes.items():
        if isinstance(exc, kind):
            print(f"error: {exc}", file=sys.stderr)
            return code
    if debug_enabled():
        raise exc
    data_dir = paths().data_dir
    if is_disk_full(exc):
        print(f"error: the disk holding {data_dir} is full: {describe(exc)}", file=sys.stderr)
        return 1
    print(scrub(f"error: {describe(exc)}{save_traceback(exc, data_dir / 'last_error.log')}"), file=sys.stderr)
    return 1


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe (or socket) its reader has closed, as poll() reports it; a stdout without a
    descriptor (captured) counts as gone: a BrokenPipeError from another pipe (a child's) stays a failure."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):
        return True
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in events)


def reader_gone() -> int:
    """The reader closed stdout (`blofin-stack CMD ... | head`): stop quietly with SIGPIPE's shell status (141),
    stdout pointed at /dev/null so the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout has no descriptor (captured): no pipe to flush to
        pass
    return EXIT_BROKEN_PIPE
