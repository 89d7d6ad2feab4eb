"""The windows a first build of the day-partitioned models runs in, so its memory is bounded by a window's
bars, not by the lake's history (pure: no I/O)."""

from __future__ import annotations

from datetime import date


def bar_windows(day_bars: dict[date, int], budget: int, end: date) -> list[tuple[date, date]]:
    """The days of day_bars before end as consecutive [start, stop) windows, each at most budget 1m bars
    (a day holding more is a window alone), the last one ending at end; none when no day lies before end;
    one when budget < 1."""
    days = sorted(d for d in day_bars if d < end)
    if not days:
        return []
    starts, held = [days[0]], 0
    for day in days:
        if budget >= 1 and held and held + day_bars[day] > budget:
            starts.append(day)
            held = 0
        held += day_bars[day]
    return list(zip(starts, [*starts[1:], end]))
