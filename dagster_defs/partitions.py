"""Daily UTC partitions shared by every asset: one partition per complete UTC day, starting where
the lake's data starts (so the UI's partition bar shows the data's range, not years of 'missing')."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dagster as dg

from python_assets.config import (DEFAULT_PARTITIONS_START, PARTITIONS_START_ENV, lake_first_day,  # noqa: F401
                                   partitions_start)

daily_partitions = dg.DailyPartitionsDefinition(start_date=partitions_start(), timezone="UTC", end_offset=0)


def window_days(start: datetime, end: datetime) -> list[date]:
    """UTC days in a partition time window [start, end): one for a partition, several for a range run."""
    first, last = start.date(), end.date()
    return [first + timedelta(days=i) for i in range((last - first).days)]


def day_start_ms(day: date) -> int:
    """00:00 UTC of a day as epoch milliseconds (a partition day's end is day_start_ms(day + 1 day))."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
