"""The daily schedule: RUNNING by default, 00:05 UTC, requests the day that just closed."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from dagster_defs.definitions import defs
from dagster_defs.schedules import daily_job_schedule, partition_for


def test_schedule_runs_daily_at_0005_utc_and_is_running_by_default():
    schedule = defs.resolve_schedule_def("daily_job_schedule")
    assert schedule.cron_schedule == "5 0 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_schedule_tick_requests_the_previous_utc_day():
    tick = datetime(2025, 3, 11, 0, 5, tzinfo=timezone.utc)
    request = daily_job_schedule(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2025-03-10" and request.run_key == "2025-03-10"
    assert partition_for(datetime(2025, 3, 1, 0, 5, tzinfo=timezone.utc)) == "2025-02-28"


def test_daily_job_selects_every_asset():
    job = defs.resolve_job_def("daily_job")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"lake_trades", "bars_1m", "features", "daily_market_summary", "daily_report"} <= keys
