"""The daily job and its schedule: every day at 00:05 UTC, materialize the day that just closed."""

import os
from datetime import datetime, timedelta, timezone

import dagster as dg

SCHEDULE_CRON_ENV = "BLOFIN_SCHEDULE_CRON"
DEFAULT_CRON = "5 0 * * *"

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.all(),
    description="Lake -> dbt (bars, features, marts) -> daily report for one UTC day.",
)


def partition_for(tick: datetime) -> str:
    """The partition a tick should run: the last UTC day that is complete at that moment."""
    return (tick.astimezone(timezone.utc) - timedelta(days=1)).date().isoformat()


@dg.schedule(
    job=daily_job,
    cron_schedule=os.environ.get(SCHEDULE_CRON_ENV, DEFAULT_CRON),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_job_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Runs the day just closed; the run key makes a re-evaluated tick a no-op."""
    key = partition_for(context.scheduled_execution_time or datetime.now(timezone.utc))
    return dg.RunRequest(run_key=key, partition_key=key)


defs = dg.Definitions(jobs=[daily_job], schedules=[daily_job_schedule])
