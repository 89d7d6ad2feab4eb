"""Per-symbol (or per-design) work side by side: a pure function mapped over batches of items in
worker processes, results merged back in input order, so the output never depends on the worker
count, the batch size or which worker finishes first. Workers get only picklable inputs (arrays,
specs) and never open the warehouse: the parent step reads, and writes once."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from python_assets.platform.lifeline import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

# map_batches(fn, items) -> fn applied to batches of items, outputs in input order, as an iterator
# (in-process: each batch computed when reached; from a pool: yielded once it and those before it are done)
Mapper = Callable[[Callable[[list[T]], list[R]], Sequence[T]], Iterable[R]]


def batches(items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive batches of at most `size` items (size < 1 counts as 1), in input order."""
    size = max(1, int(size))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def map_in_process(fn: Callable[[list[T]], list[R]], items: Sequence[T], batch_size: int = 1) -> Iterator[R]:
    """The sequential reference: fn over each batch in this process, lazily, outputs in input order
    (a caller that stops early, e.g. at a time guard, leaves the rest undone)."""
    for batch in batches(items, batch_size):
        yield from fn(batch)


@contextmanager
def batch_mapper(max_workers: int = 1, batch_size: int = 1) -> Iterator[Mapper]:
    """A mapper for the duration of a step: in-process when max_workers <= 1 (no pool, today's
    behaviour), else one process pool (spawn: no inherited threads or open DuckDB handles) kept for
    every call. Every batch is submitted at once and the outputs stream back in submission order, so
    a caller can use the first outputs (tune_day checks its time guard) while workers compute the
    rest; leaving early (an error, a guard) cancels the batches not started."""
    if max_workers <= 1:
        yield lambda fn, items: map_in_process(fn, items, batch_size)
        return
    pool = ProcessPoolExecutor(max_workers=max_workers, mp_context=mp.get_context("spawn"))

    def run(fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> Iterable[R]:
        parts = batches(items, batch_size)
        if len(parts) <= 1:  # one batch: a worker round trip buys nothing
            return map_in_process(fn, items, batch_size)
        return (r for out in pool.map(fn, parts) for r in out)

    try:
        yield run
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# in_child's child: SIGINT ignored, then into the caller's process group (it starts in a group of its own, so that
# a Ctrl-C during its interpreter's start reaches it not; once in its caller's job a Ctrl-Z stops it with the
# caller: it ran on), the caller's sys.path, then _child_main (argv: the two pipes' fds, the caller's pid, the
# progress console's fd or -1), then _end_child. Arguments the caller never finished sending (it was interrupted
# or died) end it quietly.
_CHILD = ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
          "import os, pickle, sys\n"
          "try:\n"
          "    os.setpgid(0, os.getpgid(int(sys.argv[3])))\n"
          "except OSError:\n"
          "    pass\n"
          "source = os.fdopen(int(sys.argv[1]), 'rb')\n"
          "try:\n"
          "    sys.path[:] = pickle.load(source)\n"
          "    from python_assets.platform.fanout import _child_main\n"
          "except BaseException:\n"
          "    os._exit(3)\n"
          "_child_main(source, int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))\n"
          "from python_assets.platform.fanout import _end_child\n"
          "_end_child()\n")
CHILD_EXIT_SECONDS = 30  # how long a child that sent its outcome may take to exit before it is ended


def in_child(fn: Callable[..., R], *args: Any) -> R:
    """fn(*args) in a child Python process: its result, or its exception raised here as if fn had raised it.
    For work whose arrays and imports this process should not keep afterwards (a process's heap does not
    shrink back). fn and args travel pickled over a pipe (fn by reference: a module-level function
    importable from this process's sys.path, not one defined in __main__), the outcome over another. The
    child ignores SIGINT (a terminal's Ctrl-C is this process's alone to handle: one line, no traceback from the
    child; it starts in a process group of its own and joins this one's once it ignores it, so a Ctrl-Z stops
    both) and dies with this process; leaving early (Ctrl-C here) ends it with
    SIGTERM, which unwinds it (SystemExit: temp files removed, locks released). No multiprocessing: it would
    start its resource tracker, a ~13 MiB process beside this one until it exits. Where a warm fork server is
    named (config.dbt_server_socket: the test suite's, dagster_defs/dbt/warm_dbt.py) and answers, the child is
    forked there, its imports done (~0.6-1.6 s less a call), with this process's sys.path, environment,
    directory, umask and streams; it dies when this process's connection closes."""
    import pickle
    import subprocess
    import sys

    from python_assets.platform.progress import console_fd

    console = console_fd()  # a CLI run's saved terminal (its stdout goes to the run log): progress bars go there
    console = console if console != 1 else -1
    args_read, args_write = os.pipe()
    result_read, result_write = os.pipe()
    try:
        child: Any = _served_child(args_read, result_write, console)
        if child is None:
            child = subprocess.Popen([sys.executable, "-c", _CHILD, str(args_read), str(result_write), str(os.getpid()),
                                      str(console)], pass_fds=(args_read, result_write, *([console] if console >= 0 else [])),
                                     process_group=0)
    except BaseException:
        for fd in (args_read, args_write, result_read, result_write):
            os.close(fd)
        raise
    os.close(args_read)
    os.close(result_write)
    sink, source = os.fdopen(args_write, "wb"), os.fdopen(result_read, "rb")
    outcome, failure = None, None
    try:
        try:
            with sink:
                pickle.dump(sys.path, sink)
                pickle.dump((fn, args), sink, protocol=pickle.HIGHEST_PROTOCOL)
        except BrokenPipeError:  # the child ended before reading: its exit code says why, below
            pass
        try:
            outcome = pickle.load(source)
        except EOFError:
            failure = "without a result"
        except Exception as exc:  # noqa: BLE001 - a truncated result, or one that does not unpickle here
            failure = f"with a result that cannot be read here ({type(exc).__name__}: {exc})"
    finally:
        source.close()  # a child still writing gets EPIPE, and ends
        if outcome is not None or failure is not None:  # it is done: let it exit (a SIGTERM would cut its exit short)
            try:
                child.wait(timeout=CHILD_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        if child.poll() is None:
            child.terminate()
        code = child.wait()
        if isinstance(child, _ServedChild):
            child.close()
    if failure is not None:
        raise ChildProcessError(f"{getattr(fn, '__name__', fn)} ended in its child process (exit code {code}) {failure}")
    ok, value = outcome
    if ok:
        return value
    raise value


def _child_main(source: Any, result_fd: int, parent: int, console: int = -1) -> None:
    """in_child's child: killed when its parent dies (already gone: at once), SIGTERM as SystemExit (so finally
    blocks and temp-file cleanups run), progress to the caller's console fd when it had one, then fn(*args)
    read from source and its outcome written to result_fd; arguments cut short or a caller no longer reading
    end it quietly (the caller has its own error)."""
    import pickle
    import traceback

    from python_assets.platform.progress import set_console_fd

    die_with_parent(parent=parent)
    if console >= 0:
        set_console_fd(console)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with source:
            fn, args = pickle.load(source)
    except Exception:  # noqa: BLE001 - the caller stopped sending, or sent what does not unpickle here
        os._exit(3)
    try:
        outcome = (True, fn(*args))
    except Exception as exc:  # noqa: BLE001 - raised again in the parent, the child's traceback as a note
        try:
            exc.add_note("".join(["in in_child's child process:\n", *traceback.format_exception(exc)]).rstrip())
        except Exception:  # noqa: BLE001 - a note is a courtesy: the exception goes back without it
            pass
        outcome = (False, exc)
    sink = _CountingWriter(result_fd)
    try:
        with sink:  # streamed: a large result is not copied into one bytes object first
            try:
                pickle.dump(outcome, sink, protocol=pickle.HIGHEST_PROTOCOL)
            except BrokenPipeError:
                raise
            except Exception as exc:  # noqa: BLE001 - an exception or result that does not pickle: its text
                if sink.written:  # part of it went: the caller reads a cut result and says so
                    os._exit(5)
                pickle.dump((False, RuntimeError(
                    f"{type(outcome[1]).__name__}: {outcome[1]}" if not outcome[0]
                    else f"{getattr(fn, '__name__', fn)}'s result cannot be sent back: {exc}")), sink)
    except BrokenPipeError:  # the caller stopped reading
        os._exit(4)


class _CountingWriter:
    """A binary writer on an fd that counts the bytes it passed on (pickle writes large buffers straight through)."""

    def __init__(self, fd: int) -> None:
        self._file, self.written = os.fdopen(fd, "wb"), 0

    def write(self, data: Any) -> int:
        self.written += len(memoryview(data).cast("B"))
        return self._file.write(data)

    def __enter__(self) -> "_CountingWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._file.close()


def _end_child() -> None:
    """End in_child's own child once its outcome is sent: exit handlers and a flush, not the teardown of its modules,
    which the caller waits for (platform/quick_exit.py; never returns)."""
    from python_assets.platform.quick_exit import end_now

    end_now(0)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM in in_child's child: unwind (exit status 128 + the signal, as the shell reports a kill)."""
    raise SystemExit(128 + signum)


def _served_child(args_read: int, result_write: int, console: int) -> "_ServedChild | None":
    """in_child's child forked by the warm server named in the environment, or None where none is named or it
    does not answer (in_child then starts its own interpreter)."""
    from python_assets.config import child_env, dbt_server_socket
    from python_assets.platform import fork_server

    if (server := dbt_server_socket()) is None:
        return None
    conn = fork_server.connect(server, {"kind": "in_child", "env": child_env()},
                               [0, 1, 2, args_read, result_write, *([console] if console >= 0 else [])])
    return None if conn is None else _ServedChild(conn)


class _ServedChild:
    """A child forked by the warm server, as in_child uses a Popen: wait, poll, terminate (through the server)."""

    def __init__(self, conn: Any) -> None:
        self._conn, self.returncode = conn, None

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code (-1: the server ended first); subprocess.TimeoutExpired after timeout seconds."""
        import socket
        import subprocess

        from python_assets.platform import fork_server

        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                self.returncode = fork_server.exit_code(self._conn)
            except (socket.timeout, BlockingIOError):
                raise subprocess.TimeoutExpired("in_child", timeout or 0) from None
            except (ValueError, OSError):
                self.returncode = -1
        return self.returncode

    def poll(self) -> int | None:
        """Its exit code when it ended, else None."""
        import subprocess

        try:
            return self.wait(timeout=0)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self) -> None:
        """SIGTERM to the child, sent by the server."""
        try:
            self._conn.send(bytes([signal.SIGTERM]))
        except OSError:  # the server is gone, and its children with it
            pass

    def close(self) -> None:
        self._conn.close()


def serve_in_child(request: dict, fds: list[int]) -> int:
    """in_child's child in the warm server's fork (the caller's streams, directory, umask and environment already
    taken; fds: the arguments pipe, the result pipe, the console if any): SIGINT ignored, sys.argv as in_child's
    own child has it (not the server's), the caller's sys.path, then _child_main; the exit handlers run as an
    interpreter's exit would run them (the server forks with os._exit)."""
    import atexit
    import pickle
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    console = fds[2] if len(fds) > 2 else -1
    sys.argv = ["-c", str(fds[0]), str(fds[1]), str(os.getppid()), str(console)]  # as _CHILD's has it
    try:
        source = os.fdopen(fds[0], "rb")
        try:
            sys.path[:] = pickle.load(source)
        except BaseException:  # noqa: BLE001 - the caller stopped sending
            return 3
        _child_main(source, fds[1], os.getppid(), console)
        return 0
    finally:
        atexit._run_exitfuncs()
