"""The daily job and its schedule: every day at 00:05 UTC, materialize the day that just closed.

The schedule's cron (BLOFIN_SCHEDULE_CRON) and the job's max runtime (BLOFIN_MAX_RUN_HOURS) are read when the
schedule and job are first asked for (building the Definitions), not when this module is imported."""

from datetime import datetime, timedelta, timezone
from functools import cache
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from python_assets.config import DEFAULT_CRON, SCHEDULE_CRON_ENV, max_run_seconds, schedule_cron  # noqa: F401

MAX_RUNTIME_TAG = "dagster/max_runtime"  # run monitoring (the daemon) fails a run still going after this


@cache
def build_daily_job() -> "UnresolvedAssetJobDefinition":
    """daily_job, its runs tagged with BLOFIN_MAX_RUN_HOURS: the default run launcher cannot tell that a run's
    worker died with `dagster dev` or the host, so such a run stays 'started', holds the one run slot and
    every later run queues behind it; run monitoring fails it after this long (the failure alerts), unless
    dead_run_sensor found its process gone first. One object per process."""
    return dg.define_asset_job(
        "daily_job",
        selection=dg.AssetSelection.all(),
        description="Lake -> dbt (bars, features, marts) -> daily report for one UTC day.",
        tags={MAX_RUNTIME_TAG: str(max_run_seconds())},
    )


def partition_for(tick: datetime) -> str:
    """The partition a tick should run: the last UTC day that is complete at that moment."""
    return (tick.astimezone(timezone.utc) - timedelta(days=1)).date().isoformat()


def daily_run_request(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Runs the day just closed; the run key makes a re-evaluated tick a no-op."""
    key = partition_for(context.scheduled_execution_time or datetime.now(timezone.utc))
    return dg.RunRequest(run_key=key, partition_key=key)


def build_daily_job_schedule(
    job: "UnresolvedAssetJobDefinition | dg.JobDefinition | None" = None,
) -> dg.ScheduleDefinition:
    """The daily schedule of `job` (daily_job; a test points it at a one-step job), its cron read now."""
    return dg.schedule(
        name="daily_job_schedule",
        job=job or build_daily_job(),
        cron_schedule=schedule_cron(),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )(daily_run_request)


def build_defs() -> dg.Definitions:
    """The job and its schedule."""
    return dg.Definitions(jobs=[build_daily_job()], schedules=[build_daily_job_schedule()])


def __getattr__(name: str) -> object:
    """`daily_job_schedule` and `daily_job`, built on first use (PEP 562) so that importing reads no setting."""
    if name == "daily_job_schedule":
        return build_daily_job_schedule()
    if name == "daily_job":
        return build_daily_job()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
