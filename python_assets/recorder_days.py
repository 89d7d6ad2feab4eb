"""Which UTC days the live recorder has finished: `lake/recorder_days/date=D/complete.parquet` names every
symbol recorded on D (those with a `lake/recorder_segments/symbol=S/date=D/` file). What the Dagster
recorder_day_sensor reads to start a day's run once, when the day is whole."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from python_assets.config import Paths

DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class RecorderDay:
    """One day with a complete.parquet: the symbols it marks complete and those recorded but not yet marked."""

    day: str
    complete: frozenset[str]
    missing: frozenset[str]
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.error is None and bool(self.complete) and not self.missing


def recorded_symbols(p: Paths, day: str) -> frozenset[str]:
    """Symbols the recorder wrote segments for on a day (its subscriptions that day)."""
    root = p.lake / "recorder_segments"
    return frozenset(d.parent.name.removeprefix("symbol=")
                     for d in root.glob(f"symbol=*/date={day}") if (d / "segments.parquet").exists())


def completed_symbols(path: Path) -> frozenset[str]:
    """Symbols a complete.parquet names (any dataset)."""
    return frozenset(str(s) for s in pq.read_table(path, columns=["symbol"]).column("symbol").to_pylist() if s)


def recorder_day(p: Paths, day: str) -> RecorderDay:
    """The state of one day that has a complete.parquet; an unreadable file is an error, not a traceback."""
    path = p.lake / "recorder_days" / f"date={day}" / "complete.parquet"
    try:
        done = completed_symbols(path)
    except (OSError, KeyError, ValueError) as exc:  # pyarrow's errors derive from these
        return RecorderDay(day, frozenset(), frozenset(), f"{path.name} of {day} unreadable: {exc}".splitlines()[0])
    return RecorderDay(day, done, recorded_symbols(p, day) - done)


def recorder_days(p: Paths) -> list[RecorderDay]:
    """Every day with a complete.parquet, oldest first."""
    root = p.lake / "recorder_days"
    days = sorted(m.group(1) for d in (root.iterdir() if root.is_dir() else ())
                  if (m := DAY_DIR.match(d.name)) and (d / "complete.parquet").exists())
    return [recorder_day(p, day) for day in days]
