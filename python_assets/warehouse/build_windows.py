"""The windows a first build of the day-partitioned models runs in, so its memory is bounded by a window's
days, not by the lake's history (pure: no I/O)."""

from __future__ import annotations

from datetime import date, timedelta


def day_windows(first: date, last: date, days: int) -> list[tuple[date, date]]:
    """first..last (inclusive) as consecutive [start, end) windows of `days` days, the last one shorter;
    one window when days < 1."""
    end = last + timedelta(days=1)
    if days < 1:
        return [(first, end)]
    starts = [first + timedelta(days=k) for k in range(0, (end - first).days, days)]
    return [(start, min(start + timedelta(days=days), end)) for start in starts]
