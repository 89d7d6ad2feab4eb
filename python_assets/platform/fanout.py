"""Per-symbol (or per-design) work side by side: a pure function mapped over batches of items in
worker processes, results merged back in input order, so the output never depends on the worker
count, the batch size or which worker finishes first. Workers get only picklable inputs (arrays,
specs) and never open the warehouse: the parent step reads, and writes once."""

from __future__ import annotations

import multiprocessing as mp
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


def in_child(fn: Callable[..., R], *args: Any) -> R:
    """fn(*args) in a spawned child process: its result, or its exception raised here as if fn had raised it.
    For work whose arrays and imports this process should not keep afterwards (a process's heap does not
    shrink back). The child dies with this process; leaving early (Ctrl-C here) ends it with SIGTERM, which
    unwinds it (SystemExit: temp files removed, locks released); the terminal's SIGINT is this process's
    to handle (one line, not a traceback from the child too). A pipe, no pool: no semaphores for spawn's
    resource tracker to report after a kill."""
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_call, args=(send, fn, args), daemon=True)
    child.start()
    send.close()
    try:
        ok, value = receive.recv()
    except EOFError:
        child.join()
        raise ChildProcessError(f"{getattr(fn, '__name__', fn)} ended in its child process (exit code "
                                f"{child.exitcode}) without a result") from None
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
        child.join()
    if ok:
        return value
    raise value


def _child_call(send: Any, fn: Callable[..., Any], args: tuple) -> None:
    """in_child's child: killed when its parent dies, deaf to the terminal's SIGINT, SIGTERM as SystemExit
    (so finally blocks and temp-file cleanups run), then fn's outcome sent back."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        outcome = (True, fn(*args))
    except Exception as exc:  # noqa: BLE001 - raised again in the parent
        outcome = (False, exc)
    try:
        send.send(outcome)
    except Exception as exc:  # noqa: BLE001 - an exception or result that does not pickle: its text
        send.send((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}" if not outcome[0]
                                       else f"{getattr(fn, '__name__', fn)}'s result cannot be sent back: {exc}")))


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM in in_child's child: unwind (exit status 128 + the signal, as the shell reports a kill)."""
    raise SystemExit(128 + signum)
