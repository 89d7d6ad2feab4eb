"""Which part of a requested range an exchange series (a symbol's candles of one timeframe, or its funding)
still lacks in the lake, so a history fetch asks for exactly that, whatever order ranges were asked in.

A time counts as held when the stored rows run through it (consecutive rows at most `gap` apart) or when it
lies in a hole of the exchange's own: a stretch a fetch walked to the end and found nothing in (a minute
without trades, the time before a listing). Those holes are kept in `_exchange_holes.json` beside the
series' date= folders (no lake reader globs it). Everything else inside the request is missing: a hole
between two earlier fetches, one a killed or older fetch left, or a day whose file was deleted (it held
rows, so it is no exchange hole) is fetched the next time a request covers it, while an exchange hole is
asked for once, unless a fetch is told to ask for holes again (`--refetch-holes`): the holes of a stretch
walked again are replaced by what that walk found. A hole is only recorded from an answer the exchange
gave twice (history.fetch_range asks an empty page again) or one that moved past the stretch; a time the
exchange sent a bad record at is no hole (it is asked again). Intervals are half-open [start, end) in UTC
epoch ms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from python_assets.lake.atomic import write_bytes_atomic
from python_assets.platform.timeframes import DAY_MS

Interval = tuple[int, int]
HOLES_FILE = "_exchange_holes.json"


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


def read_holes(root: Path) -> list[Interval]:
    """The series' known exchange holes, from its _exchange_holes.json (none when absent)."""
    path = root / HOLES_FILE
    return [(int(a), int(b)) for a, b in json.loads(path.read_text())] if path.exists() else []


def record_holes(root: Path, time_col: str, start: int, end: int, gap: int, tail: int, also: list[int] = ()) -> None:
    """Make the series' exchange holes within [start, end), just walked to the end and stored, what of it the
    stored rows (and `also`: times the exchange sent a record at that was not stored, a bad one) do not run
    through, replacing what was recorded there before (a re-fetch that found data removes a hole); atomically,
    a lost update only costs a re-fetch. An unchanged file is left alone, so the lake's input fingerprint
    (run_inputs) moves only with news."""
    if start >= end:
        return
    before = read_holes(root)
    times = np.concatenate([stored_times(root, time_col, start - gap, end), np.asarray(list(also), dtype=np.int64)])
    elsewhere = [piece for a, b in before for piece in subtract(a, b, [(start, end)])]
    held = merge(elsewhere + subtract(start, end, runs(times, gap, tail)))
    if held != before:
        write_bytes_atomic(json.dumps([list(i) for i in held]).encode(), root / HOLES_FILE)


def missing(root: Path, time_col: str, start: int, end: int, gap: int, tail: int, join: int,
            holes: bool = True) -> list[Interval]:
    """What of [start, end) is neither a known exchange hole (unless not `holes`: then those are asked again)
    nor run through by stored rows (module doc); missing pieces less than `join` apart are fetched as one,
    which costs fewer requests than one each."""
    out: list[Interval] = []
    for a, b in subtract(start, end, read_holes(root) if holes else []):
        out += subtract(a, b, runs(stored_times(root, time_col, a - gap, b), gap, tail))
    joined: list[Interval] = []
    for a, b in out:
        if joined and a - joined[-1][1] < join:
            joined[-1] = (joined[-1][0], b)
        else:
            joined.append((a, b))
    return joined
