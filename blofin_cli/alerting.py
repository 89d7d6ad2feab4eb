"""Alerts for the runs the CLI makes itself: `run_failure_sensor` needs the Dagster daemon, which a cron
or by-hand `blofin-stack materialize` does not have, so the CLI writes the same alert (alerts.log, and the
webhook when set) for its failed runs and for runs of its it finds killed; the sensor leaves CLI-tagged
runs to it (one alert per run whether or not a daemon shares the instance). A run stopped by a signal is
alerted as run_interrupted unless a person runs the CLI at a terminal (they pressed Ctrl-C and saw its line):
a cron or systemd timeout's SIGTERM reaches the run as the same SIGINT, and Dagster records such a run failed,
so no next run's dead-run recovery alerts it."""

from __future__ import annotations

import contextlib
import sys
from datetime import date
from typing import Any

from blofin_cli.errors import interrupted_line, step_root_cause
from python_assets.config import Paths


def partition_label(first: date | None, last: date | None) -> str | None:
    """The run's partition as the sensor's alerts name it: the day, first..last for a range, None unknown."""
    if first is None or last is None:
        return None
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def tags_partition(tags: dict[str, str]) -> str | None:
    """A run's partition from its tags: the day, first..last for a range, None for a run of no partition."""
    from dagster_defs.runner import RANGE_END_TAG, RANGE_START_TAG

    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    return f"{first}..{last}" if first and last else None


def failed_run_alert(message: str, run_id: str | None, partition: str | None, failures: list[Any],
                     job: str | None = "daily_job") -> dict[str, Any]:
    """The alert record of a failed CLI run: the sensor's fields (job, run id, partition, message, each
    failed step with its root cause) and launched_by = cli."""
    from python_assets.platform.alerts import build_alert

    return build_alert("run_failure", message, job=job, run_id=run_id, partition=partition,
                       failed_steps={e.step_key: step_root_cause(e.step_failure_data.error) for e in failures},
                       launched_by="cli")


def run_alert(run: Any, message: str, failures: list[Any]) -> dict[str, Any]:
    """The alert of a failed CLI run from its DagsterRun: its own job and partition (a backtest's metrics
    run is not the daily job)."""
    return failed_run_alert(message, run.run_id, tags_partition(dict(run.tags)), failures, job=run.job_name)


def dead_run_alert(instance: Any, run_id: str, message: str) -> dict[str, Any]:
    """The alert of a CLI run found killed: its job and partition from its record while the storage
    answers, else unknown (None)."""
    run = None
    with contextlib.suppress(Exception):  # the storage may be failing: the alert goes out without them
        run = instance.get_run_by_id(run_id)
    return run_alert(run, message, []) if run is not None else failed_run_alert(message, run_id, None, [], job=None)


def interactive() -> bool:
    """Whether a person runs this command (stdin is a terminal), so an interruption is theirs and seen: not
    alerted. From cron, systemd or a pipe it may be a timeout's SIGTERM, which the run cannot tell apart."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # stdin closed
        return False


def interruption_lines(paths: Paths, failures: list[Any], what: str, where: str,
                       run: tuple[str | None, str | None, str | None],
                       again: str = "the same command again finishes it") -> list[str]:
    """The line of a CLI run whose every failed step was interrupted (errors.interrupted), after sending the
    run_interrupted alert (run: its run id, partition and job) unless interactive(); a note when that failed."""
    line = interrupted_line(failures, what, where, again)
    if interactive():
        return [line]
    from python_assets.platform.alerts import build_alert

    run_id, partition, job = run
    note = send(paths, build_alert("run_interrupted", line.removeprefix("interrupted: "), job=job, run_id=run_id,
                                   partition=partition, stopped_steps=sorted({e.step_key for e in failures}),
                                   launched_by="cli"))
    return [line, *([note] if note else [])]


def send(paths: Paths, alert: dict[str, Any]) -> str | None:
    """Write and POST the alert; a note line when it could not be written or posted (the run's own exit code
    and error lines stand either way), else None."""
    from python_assets.platform.alerts import raise_alert

    try:
        delivery = raise_alert(paths, alert)
    except OSError as exc:  # alerts.log on a full disk (the POST was still made)
        return f"note: the alert for run {alert.get('run_id')} was not written to alerts.log ({exc})"
    if delivery is not None and not delivery.delivered:
        return (f"note: the alert for run {alert.get('run_id')} is in alerts.log; the webhook POST failed after "
                f"{delivery.attempts} attempt(s): {delivery.error}")
    return None
