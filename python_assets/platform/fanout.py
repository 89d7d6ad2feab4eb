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
    """fn(*args) in a spawned child process: its result (or its exception) here. For work whose arrays and
    imports this process should not keep afterwards (a process's heap does not shrink back). The child
    dies with this process and is ended when the call is left early: Ctrl-C is this process's to handle
    (one line, not a traceback from the child too)."""
    with mp.get_context("spawn").Pool(1, initializer=_quiet_child) as pool:  # leaving the block terminates it
        return pool.apply(fn, args)


def _quiet_child() -> None:
    """A child of in_child: killed when its parent dies, deaf to the terminal's SIGINT (its parent ends it)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
