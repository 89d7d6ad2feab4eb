"""Per-symbol (or per-design) work side by side: a pure function mapped over batches of items in
worker processes, results merged back in input order, so the output never depends on the worker
count, the batch size or which worker finishes first. Workers get only picklable inputs (arrays,
specs) and never open the warehouse: the parent step reads, and writes once."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

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
