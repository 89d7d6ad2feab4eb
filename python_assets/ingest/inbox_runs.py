"""The inbox's run records: one small file per (ingested inbox file, day it touched) under
`<data>/.inbox-runs/`, written for every day of the file's rows before they go to the lake (so a kill or a
full disk midway leaves the records of the days it may have changed), kept after the ingest for the days it
did change (those with new or quarantined rows), then the file is filed away.

A sensor evaluation can be killed at any point (Dagster drops an evaluation past its gRPC timeout while
the code server finishes it): the records outlive it, so a later tick still requests the runs of the files
it ingested. A record is removed only once a tick that requested its day succeeded (the sensor's cursor,
saved only with a successful tick, names it). One evaluation takes the inbox at a time (inbox_lock)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from python_assets.config import Paths
from python_assets.lake.atomic import write_bytes_atomic

RECORD_SUFFIX = ".json"


@dataclass(frozen=True)
class RunRecord:
    """A day an inbox file added rows to, waiting for a requested run: `name` is the record's file name."""

    name: str
    day: str
    file: str


def runs_dir(paths: Paths) -> Path:
    """Where the run records live: beside the data, outside inbox/ (whose folders are symbols)."""
    return paths.data_dir / ".inbox-runs"


def record_days(paths: Paths, symbol: str, filed: str, days: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Write one record per day the file `symbol/filed` touched (atomically: a kill leaves none or a whole
    one); day -> the record's name, unique to this ingest (its time), so a file dropped again runs again."""
    stamp = time.time_ns()
    names = {}
    for day in sorted(set(days)):
        digest = hashlib.sha256(f"{stamp}\n{symbol}/{filed}\n{day}".encode()).hexdigest()[:16]
        name = f"{day}_{digest}{RECORD_SUFFIX}"
        write_bytes_atomic(json.dumps({"day": day, "file": f"{symbol}/{filed}"}).encode(), runs_dir(paths) / name)
        names[day] = name
    return names


def read_records(paths: Paths) -> list[RunRecord]:
    """Every record on disk, by day then name; an unreadable one (never written by record_days) is skipped."""
    folder = runs_dir(paths)
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob(f"*{RECORD_SUFFIX}")):
        try:
            body = json.loads(path.read_text())
            records.append(RunRecord(path.name, str(body["day"]), str(body["file"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(records, key=lambda r: (r.day, r.name))


def drop_records(paths: Paths, names: list[str]) -> None:
    """Remove the named records (their runs were requested by a tick that succeeded); missing ones are fine."""
    for name in names:
        if name.endswith(RECORD_SUFFIX) and "/" not in name:
            (runs_dir(paths) / name).unlink(missing_ok=True)


class InboxBusy(RuntimeError):
    """Another evaluation (one Dagster timed out, still running in the code server) is taking inbox files."""


@contextmanager
def inbox_lock(paths: Paths) -> Iterator[None]:
    """Hold `<data>/.inbox-runs/.lock` (flock, not waited for: InboxBusy at once), so two evaluations never
    ingest the same file; the operating system lets go when the holder exits or is killed."""
    folder = runs_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InboxBusy("an earlier evaluation is still taking inbox files") from None
        yield
    finally:
        os.close(fd)
