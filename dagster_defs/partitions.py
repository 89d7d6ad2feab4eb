"""Daily UTC partitions shared by every asset: one partition per complete UTC day, starting where
the lake's data starts (so the UI's partition bar shows the data's range, not years of 'missing')."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from python_assets.config import Paths, paths

PARTITIONS_START_ENV = "BLOFIN_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2024-01-01"
LAKE_DAY_GLOBS = ("trades/symbol=*/date=*", "candles/symbol=*/timeframe=*/date=*")


def lake_first_day(p: Paths) -> date | None:
    """The earliest UTC day with trades or candles in the lake (from its date= folders), or None."""
    days = []
    for pattern in LAKE_DAY_GLOBS:
        for folder in p.lake.glob(pattern):
            try:
                days.append(date.fromisoformat(folder.name.removeprefix("date=")))
            except ValueError:
                continue
    return min(days, default=None)


def partitions_start(p: Paths | None = None) -> str:
    """BLOFIN_PARTITIONS_START when set, else the lake's first day, else 2024-01-01 (an empty lake)."""
    override = os.environ.get(PARTITIONS_START_ENV)
    if override:
        return override
    first = lake_first_day(p or paths())
    return first.isoformat() if first else DEFAULT_PARTITIONS_START


daily_partitions = dg.DailyPartitionsDefinition(start_date=partitions_start(), timezone="UTC", end_offset=0)


def window_days(start: datetime, end: datetime) -> list[date]:
    """UTC days in a partition time window [start, end): one for a partition, several for a range run."""
    first, last = start.date(), end.date()
    return [first + timedelta(days=i) for i in range((last - first).days)]


def day_start_ms(day: date) -> int:
    """00:00 UTC of a day as epoch milliseconds (a partition day's end is day_start_ms(day + 1 day))."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
