"""Which UTC days the live recorder has finished: `lake/recorder_days/date=D/complete.parquet` has a
(symbol, dataset) row for every dataset recorded on D (the `dataset` values of
`lake/recorder_segments/symbol=S/date=D/segments.parquet`; funding is not merged hourly, so the recorder
marks no completion for it). What the Dagster recorder_day_sensor reads to start a day's run once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from python_assets.config import Paths

DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
UNMARKED_DATASETS = frozenset({"funding"})  # recorded, but written per settlement: never marked complete


@dataclass(frozen=True)
class RecorderDay:
    """One day with a complete.parquet: the symbols it marks complete and the 'symbol/dataset's recorded
    that day but not marked complete yet."""

    day: str
    complete: frozenset[str]
    missing: frozenset[str]
    error: str | None = None
    revision: int = 0  # raised each time rows were merged into the day after it was marked

    @property
    def ready(self) -> bool:
        return self.error is None and bool(self.complete) and not self.missing


def recorded_pairs(p: Paths, day: str) -> frozenset[tuple[str, str]]:
    """(symbol, dataset) the recorder wrote segments for on a day, funding left out (its subscriptions)."""
    out = set()
    for folder in (p.lake / "recorder_segments").glob(f"symbol=*/date={day}"):
        path = folder / "segments.parquet"
        if path.exists():
            symbol = folder.parent.name.removeprefix("symbol=")
            out |= {(symbol, str(d)) for d in pq.read_table(path, columns=["dataset"]).column("dataset").to_pylist()
                    if d and d not in UNMARKED_DATASETS}
    return frozenset(out)


def completed_pairs(path: Path) -> frozenset[tuple[str, str]]:
    """(symbol, dataset) rows of a complete.parquet."""
    t = pq.read_table(path, columns=["symbol", "dataset"])
    return frozenset((str(s), str(d)) for s, d in zip(t.column("symbol").to_pylist(), t.column("dataset").to_pylist())
                     if s)


def revision(path: Path) -> int:
    """The sum of a complete.parquet's revisions (0 for a file written before they existed)."""
    t = pq.read_table(path)
    return sum(r or 0 for r in t.column("revision").to_pylist()) if "revision" in t.column_names else 0


def recorder_day(p: Paths, day: str) -> RecorderDay:
    """The state of one day that has a complete.parquet; an unreadable file is an error, not a traceback."""
    path = p.lake / "recorder_days" / f"date={day}" / "complete.parquet"
    try:
        done, rev = completed_pairs(path), revision(path)
        recorded = recorded_pairs(p, day)
    except (OSError, KeyError, ValueError) as exc:  # pyarrow's errors derive from these
        return RecorderDay(day, frozenset(), frozenset(), f"recorder files of {day} unreadable: {exc}".splitlines()[0])
    missing = frozenset(f"{s}/{d}" for s, d in recorded - done)
    return RecorderDay(day, frozenset(s for s, _ in done), missing, revision=rev)


def recorder_days(p: Paths) -> list[RecorderDay]:
    """Every day with a complete.parquet, oldest first."""
    root = p.lake / "recorder_days"
    days = sorted(m.group(1) for d in (root.iterdir() if root.is_dir() else ())
                  if (m := DAY_DIR.match(d.name)) and (d / "complete.parquet").exists())
    return [recorder_day(p, day) for day in days]
