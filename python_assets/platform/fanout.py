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


# in_child's child: SIGINT ignored first, this process's sys.path, then _child_main with the two pipes' fds
_CHILD = ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
          "import os, pickle, sys\n"
          "source = os.fdopen(int(sys.argv[1]), 'rb')\n"
          "sys.path[:] = pickle.load(source)\n"
          "from python_assets.platform.fanout import _child_main\n"
          "_child_main(source, int(sys.argv[2]))\n")


def in_child(fn: Callable[..., R], *args: Any) -> R:
    """fn(*args) in a child Python process: its result, or its exception raised here as if fn had raised it.
    For work whose arrays and imports this process should not keep afterwards (a process's heap does not
    shrink back). fn and args travel pickled over a pipe (fn by reference: importable from this process's
    sys.path), the outcome over another. The child dies with this process; leaving early (Ctrl-C here) ends
    it with SIGTERM, which unwinds it (SystemExit: temp files removed, locks released); the terminal's SIGINT
    is this process's to handle (one line, not a traceback from the child too). No multiprocessing: it
    would start its resource tracker, a ~13 MiB process beside this one until it exits."""
    import pickle
    import subprocess
    import sys

    args_read, args_write = os.pipe()
    result_read, result_write = os.pipe()
    try:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(args_read), str(result_write)],
                                 pass_fds=(args_read, result_write))
    except BaseException:
        for fd in (args_read, args_write, result_read, result_write):
            os.close(fd)
        raise
    os.close(args_read)
    os.close(result_write)
    sink, source = os.fdopen(args_write, "wb"), os.fdopen(result_read, "rb")
    try:
        try:
            with sink:
                pickle.dump(sys.path, sink)
                pickle.dump((fn, args), sink, protocol=pickle.HIGHEST_PROTOCOL)
        except BrokenPipeError:  # the child ended before reading: its exit code says why, below
            pass
        try:
            ok, value = pickle.load(source)
        except EOFError:
            raise ChildProcessError(f"{getattr(fn, '__name__', fn)} ended in its child process (exit code "
                                    f"{child.wait()}) without a result") from None
    finally:
        source.close()
        if child.poll() is None:
            child.terminate()
        child.wait()
    if ok:
        return value
    raise value


def _child_main(source: Any, result_fd: int) -> None:
    """in_child's child: killed when its parent dies, SIGTERM as SystemExit (so finally blocks and temp-file
    cleanups run), then fn(*args) read from source and its outcome written to result_fd."""
    import pickle

    die_with_parent()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with source:
        fn, args = pickle.load(source)
    try:
        outcome = (True, fn(*args))
    except Exception as exc:  # noqa: BLE001 - raised again in the parent
        outcome = (False, exc)
    with os.fdopen(result_fd, "wb") as sink:
        try:
            payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an exception or result that does not pickle: its text
            payload = pickle.dumps((False, RuntimeError(
                f"{type(outcome[1]).__name__}: {outcome[1]}" if not outcome[0]
                else f"{getattr(fn, '__name__', fn)}'s result cannot be sent back: {exc}")))
        sink.write(payload)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM in in_child's child: unwind (exit status 128 + the signal, as the shell reports a kill)."""
    raise SystemExit(128 + signum)
