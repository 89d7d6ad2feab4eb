"""Run the whole asset graph in-process for one day or a range of days (CLI, demo and tests)."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from python_assets.config import Paths
from python_assets.warehouse import connect_warehouse

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
CLI_RUN_TAG = "blofin/launched_by"  # = "cli": runs whose process is the CLI's own (in-process executor)


def partition_tags(first: date, last: date) -> tuple[str | None, dict[str, str]]:
    """(partition_key, tags) selecting the days first..last inclusive in one run."""
    if first > last:
        raise ValueError(f"start {first} is after end {last}")
    if first == last:
        return first.isoformat(), {}
    return None, {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def persistent_instance(paths: Paths) -> dg.DagsterInstance:
    """The Dagster instance under DAGSTER_HOME (default <data>/dagster_home), so the UI shows CLI runs."""
    home = os.environ.setdefault("DAGSTER_HOME", str(paths.dagster_home))
    os.makedirs(home, exist_ok=True)
    return dg.DagsterInstance.get()


def recover_dead_cli_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark CLI runs still 'started' as failed and free the pool slots they hold. Call it only under
    the run lock: then no other CLI run is alive, so such a run was killed (crash, OOM, SIGKILL) and
    its claimed 'warehouse' slot would otherwise block every later run."""
    live = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]
    dead = instance.get_runs(filters=dg.RunsFilter(statuses=live, tags={CLI_RUN_TAG: "cli"}))
    for run in dead:
        instance.report_run_failed(run, "its process died before the run ended (found by the next CLI run)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in dead]


def materialize_days(
    first: date, last: date, instance: dg.DagsterInstance | None = None, raise_on_error: bool = True,
    extra_tags: dict[str, str] | None = None, run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize every asset (lake -> dbt -> report) for first..last with the in-process executor;
    run_config sets asset configs (e.g. fast ML settings in tests)."""
    from dagster_defs.definitions import defs

    key, tags = partition_tags(first, last)
    return dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        resources=defs.resources,
        partition_key=key,
        tags={**tags, **(extra_tags or {})},
        instance=instance,
        raise_on_error=raise_on_error,
        run_config=run_config,
    )


def last_reported_day(paths: Paths) -> date | None:
    """Newest day in daily_reports, or None before the first run."""
    if not paths.warehouse.exists():
        return None
    with connect_warehouse(paths.warehouse, read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_name = 'daily_reports'"
        ).fetchall()[0][0]
        if not exists:
            return None
        return con.execute("select max(report_date) from daily_reports").fetchall()[0][0]


@dataclass(frozen=True)
class PeakMemory:
    """Peak resident memory in MiB of this process and of its largest child (dbt runs as one)."""

    self_mib: float
    children_mib: float

    @property
    def max_mib(self) -> float:
        return max(self.self_mib, self.children_mib)


def process_status_mib(field: str, pid: int | str = "self") -> float | None:
    """A kB field of /proc/<pid>/status in MiB: VmRSS (now) or VmHWM (the process's own peak; unlike
    ru_maxrss, which Linux carries over from the launching process across fork and exec, so a CLI
    started by a big process would report that one's). None where /proc cannot say."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith(field + ":"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def peak_memory() -> PeakMemory:
    """Peak of this process, and the largest ru_maxrss of its finished children (dbt): an upper bound,
    since a child's ru_maxrss starts from this process's peak at the time it was started."""
    own = process_status_mib("VmHWM")
    return PeakMemory(
        own if own is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (and its children's: dbt) to a file, at the fd level."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
