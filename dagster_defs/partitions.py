"""Daily UTC partitions shared by every asset: one partition per complete UTC day, starting where
the lake's data starts (so the UI's partition bar shows the data's range, not years of 'missing').

Importing this module reads no setting: `daily_partitions` is built on first use (PEP 562), when the
asset modules that take it are imported to build the Definitions, and is the same object after that."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import cache

import dagster as dg

from python_assets.config import (DEFAULT_PARTITIONS_START, PARTITIONS_START_ENV, lake_first_day,  # noqa: F401
                                   partitions_start)


@cache
def daily_partitions_def() -> dg.DailyPartitionsDefinition:
    """The daily partitions from partitions_start(), read on the first call; one object per process."""
    return dg.DailyPartitionsDefinition(start_date=partitions_start(), timezone="UTC", end_offset=0)


def __getattr__(name: str) -> object:
    """`daily_partitions`: daily_partitions_def(), built on first use."""
    if name == "daily_partitions":
        return daily_partitions_def()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def window_days(start: datetime, end: datetime) -> list[date]:
    """UTC days in a partition time window [start, end): one for a partition, several for a range run."""
    first, last = start.date(), end.date()
    return [first + timedelta(days=i) for i in range((last - first).days)]


def day_start_ms(day: date) -> int:
    """00:00 UTC of a day as epoch milliseconds (a partition day's end is day_start_ms(day + 1 day))."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
