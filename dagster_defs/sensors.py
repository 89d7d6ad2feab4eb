"""Sensors: an alert for every failed run (alerts.log, optional webhook)."""

import dagster as dg

from python_assets.alerts import build_alert, raise_alert
from python_assets.config import paths


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False)
def run_failure_sensor(context: dg.RunFailureSensorContext) -> None:
    """Writes one alert per failed run: job, run id, partition and the failure message."""
    run = context.dagster_run
    alert = build_alert(
        "run_failure",
        context.failure_event.message or "run failed",
        job=run.job_name,
        run_id=run.run_id,
        partition=run.tags.get("dagster/partition"),
    )
    posted = raise_alert(paths(), alert)
    context.log.info(f"alert written{'' if posted is None else f', webhook delivered={posted}'}")


defs = dg.Definitions(sensors=[run_failure_sensor])
