"""Which part of a requested range an exchange series (a symbol's candles of one timeframe, or its funding)
still lacks in the lake, so a history fetch asks for exactly that, whatever order ranges were asked in.

A time counts as held when the stored rows run through it (consecutive rows at most `gap` apart) or when a
fetch already walked over it to the end: those walked intervals are kept in `_fetched.json` beside the
series' date= folders (no lake reader globs it). Everything else inside the request is missing: a hole
between two earlier fetches, or one a killed or buggy fetch left, is fetched the next time a request
covers it; a hole the exchange itself has (a minute without trades) is asked for once, then recorded as
walked and never asked for again. Intervals are half-open [start, end) in UTC epoch ms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from python_assets.lake.store import write_bytes_atomic
from python_assets.platform.timeframes import DAY_MS

Interval = tuple[int, int]
FETCHED_FILE = "_fetched.json"


def merge(intervals: list[Interval]) -> list[Interval]:
    """The union of half-open intervals, sorted, touching ones joined, empty ones dropped."""
    out: list[Interval] = []
    for a, b in sorted((a, b) for a, b in intervals if a < b):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(start: int, end: int, held: list[Interval]) -> list[Interval]:
    """The parts of [start, end) outside every held interval, oldest first."""
    out, at = [], start
    for a, b in merge(held):
        if b <= at or a >= end:
            continue
        if a > at:
            out.append((at, a))
        at = max(at, b)
    return out + ([(at, end)] if at < end else [])


def runs(times: np.ndarray, gap: int, tail: int) -> list[Interval]:
    """The intervals stored rows cover: consecutive times at most `gap` apart form one run, [first, last + tail)."""
    if not len(times):
        return []
    t = np.unique(times)
    breaks = np.flatnonzero(np.diff(t) > gap)
    starts, ends = np.r_[t[0], t[breaks + 1]], np.r_[t[breaks], t[-1]]
    return [(int(a), int(b) + tail) for a, b in zip(starts, ends)]


def stored_times(root: Path, time_col: str, start: int, end: int) -> np.ndarray:
    """The stored times of [start, end) under a series' date= folders (reads only those days' files)."""
    first = np.datetime64(start // DAY_MS, "D").astype(str)
    last = np.datetime64((end - 1) // DAY_MS, "D").astype(str)
    parts = [pq.read_table(f, columns=[time_col]).column(0).to_numpy()
             for day in sorted(root.glob("date=*")) if first <= day.name.removeprefix("date=") <= last
             for f in sorted(day.glob("*.parquet")) if not f.name.startswith(".")]
    times = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
    return times[(times >= start) & (times < end)]


def read_fetched(root: Path) -> list[Interval]:
    """The intervals fetches walked to the end, from the series' _fetched.json (none when absent)."""
    path = root / FETCHED_FILE
    return [(int(a), int(b)) for a, b in json.loads(path.read_text())] if path.exists() else []


def record_fetched(root: Path, start: int, end: int) -> None:
    """Add [start, end) to the series' walked intervals (atomically; a lost update only costs a re-fetch).
    An unchanged file is left alone, so the lake's input fingerprint (run_inputs) moves only with news."""
    before = read_fetched(root)
    held = merge([*before, (start, end)])
    if held != before:
        write_bytes_atomic(json.dumps([list(i) for i in held]).encode(), root / FETCHED_FILE)


def missing(root: Path, time_col: str, start: int, end: int, gap: int, tail: int, join: int) -> list[Interval]:
    """What of [start, end) is neither walked before nor run through by stored rows (see the module doc);
    missing pieces less than `join` apart are fetched as one, which costs fewer requests than one each."""
    out: list[Interval] = []
    for a, b in subtract(start, end, read_fetched(root)):
        out += subtract(a, b, runs(stored_times(root, time_col, a - gap, b), gap, tail))
    joined: list[Interval] = []
    for a, b in out:
        if joined and a - joined[-1][1] < join:
            joined[-1] = (joined[-1][0], b)
        else:
            joined.append((a, b))
    return joined
