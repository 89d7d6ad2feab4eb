"""recover_dead_cli_runs marks a killed CLI run of its own data dir failed, and never a live run of another
data dir sharing the Dagster instance (each data dir has its own writer lock; the instance is per
DAGSTER_HOME): that run was marked failed while it went on, and its success kept a failure event."""

from __future__ import annotations

import dagster as dg

from dagster_defs.runner import cli_run_tags, recover_dead_cli_runs


@dg.op
def noop() -> None:
    pass


@dg.job
def some_job() -> None:
    noop()


def started(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    """A run left 'started', as a CLI run killed (or still running) in another process is."""
    run = instance.create_run_for_job(some_job, tags=tags, status=dg.DagsterRunStatus.STARTED)
    return run.run_id


def test_only_the_data_dirs_own_dead_runs_are_recovered(tmp_path):
    x, y = tmp_path / "x", tmp_path / "y"
    with dg.instance_for_test() as instance:
        run_x = started(instance, cli_run_tags(x))
        legacy = started(instance, {"blofin/launched_by": "cli"})  # from before the data-dir tag
        assert recover_dead_cli_runs(instance, y) == [legacy]
        assert instance.get_run_by_id(run_x).status == dg.DagsterRunStatus.STARTED
        assert recover_dead_cli_runs(instance, x) == [run_x]
        assert instance.get_run_by_id(run_x).status == dg.DagsterRunStatus.FAILURE


def test_a_ui_re_execution_of_a_cli_run_is_never_taken_for_a_dead_cli_run(tmp_path):
    """The UI's re-execution of a CLI run copies its tags (blofin/launched_by=cli, blofin/data_dir), but the run
    launcher runs it, outside the data dir's writer lock: the next CLI run marked it failed while it went on,
    and alerted it as killed."""
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

    origin = RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("dagster_defs"), "__repository__"),
                             "some_job")
    with dg.instance_for_test() as instance:
        rerun = instance.create_run_for_job(some_job, tags={**cli_run_tags(tmp_path), "dagster/parent_run_id": "r0"},
                                            status=dg.DagsterRunStatus.STARTED, remote_job_origin=origin).run_id
        assert recover_dead_cli_runs(instance, tmp_path) == []
        assert instance.get_run_by_id(rerun).status == dg.DagsterRunStatus.STARTED


def test_a_killed_runs_alert_is_sent_before_the_run_that_found_it_can_die_too(tmp_path, monkeypatch):
    """The next CLI run marks a killed run failed (then it is never found again) and alerts it: at once, not
    after its own materialization, which a second kill would cut short (three runs killed in a row left one
    alert, the last's)."""
    import json
    from datetime import date

    import pytest

    import dagster_defs.runner as runner
    from blofin_cli.pipeline import _locked_run
    from python_assets.config import Paths

    paths = Paths(tmp_path / "data")
    paths.data_dir.mkdir(parents=True)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    dead = started(runner.persistent_instance(paths), cli_run_tags(paths.data_dir))

    def killed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - this run dies as the one before it did
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "materialize_days", killed)
    with pytest.raises(KeyboardInterrupt):
        _locked_run(paths, date(2025, 3, 10), date(2025, 3, 10), verbose=True)
    alerts = [json.loads(line) for line in (paths.data_dir / "alerts.log").read_text().splitlines()]
    assert [a["run_id"] for a in alerts] == [dead] and "was killed before it ended" in alerts[0]["message"]


def launched_run(instance: dg.DagsterInstance, pid: int, tags: dict[str, str] | None = None) -> str:
    """A run the default run launcher started: its worker wrote 'Started process for run (pid: N)' first."""
    from dagster._core.events import EngineEventData

    run = instance.create_run_for_job(some_job, tags=tags or {}, status=dg.DagsterRunStatus.STARTED)
    instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    return run.run_id


def dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_launched_run_whose_worker_died_is_failed_at_the_next_tick_and_alerted(tmp_path, monkeypatch):
    """`dagster dev` (or the host) killed mid-run: the run stayed 'started' for good, held the one run slot
    (max_concurrent_runs: 1) and queued every later run; the daemon's run monitoring cannot tell (the default
    run launcher has no worker health check) and no failure alert came (review: stuck.py)."""
    import json
    import os

    from dagster_defs.sensors import dead_run_sensor, run_failure_sensor

    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / "data"))
    with dg.instance_for_test() as instance:
        gone = launched_run(instance, dead_pid())
        alive = launched_run(instance, os.getpid())
        cli = launched_run(instance, dead_pid(), cli_run_tags(tmp_path / "data"))  # the CLI's own recovery's
        result = dead_run_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason) and "1 dead run" in result.skip_message
        assert instance.get_run_by_id(gone).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED
        assert instance.get_run_by_id(cli).status == dg.DagsterRunStatus.STARTED
        again = dead_run_sensor(dg.build_sensor_context(instance=instance))
        assert again.skip_message == "no dead run"

        (failure,) = instance.all_logs(gone, of_type=dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_sensor", dagster_instance=instance,
            dagster_run=instance.get_run_by_id(gone), dagster_event=failure.dagster_event,
        ).for_run_failure()
        run_failure_sensor(context)
    (alert,) = [json.loads(line) for line in (tmp_path / "data" / "alerts.log").read_text().splitlines()]
    assert alert["run_id"] == gone and "run worker" in alert["message"] and "is gone" in alert["message"]


def test_a_started_run_of_the_daily_job_is_failed_by_run_monitoring_after_its_max_runtime(monkeypatch):
    """A stuck run with no worker event to look at (or a worker hung): run monitoring ends it after
    BLOFIN_MAX_RUN_HOURS; before, daily_job had no max runtime and monitoring never ended it."""
    import logging
    import time

    from dagster._daemon.monitoring import run_monitoring

    from dagster_defs.definitions import defs

    tags = defs.resolve_job_def("daily_job").tags
    assert tags["dagster/max_runtime"] == str(6 * 3600)
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(some_job, tags=dict(tags))
        instance.handle_run_event(run.run_id, dg.DagsterEvent(event_type_value="PIPELINE_START",
                                                              job_name="some_job", message="started"))
        in_process = instance.create_run_for_job(some_job, tags={**tags, "dagster/max_runtime": "0"})
        instance.handle_run_event(in_process.run_id, dg.DagsterEvent(event_type_value="PIPELINE_START",
                                                                     job_name="some_job", message="started"))
        monkeypatch.setattr(run_monitoring, "get_current_timestamp", lambda: time.time() + 5 * 3600)
        run_monitoring.monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), logging.getLogger())
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # 5 h: within 6
        monkeypatch.setattr(run_monitoring, "get_current_timestamp", lambda: time.time() + 7 * 3600)
        for run_id in (run.run_id, in_process.run_id):
            run_monitoring.monitor_started_run(instance, None, instance.get_run_record_by_id(run_id), logging.getLogger())
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(in_process.run_id).status == dg.DagsterRunStatus.STARTED


def test_the_max_runtime_is_a_setting_read_with_one_clear_line(monkeypatch):
    import pytest

    from python_assets.config import max_run_seconds

    monkeypatch.setenv("BLOFIN_MAX_RUN_HOURS", "2")
    assert max_run_seconds() == 7200
    monkeypatch.setenv("BLOFIN_MAX_RUN_HOURS", "soon")
    with pytest.raises(ValueError, match="BLOFIN_MAX_RUN_HOURS must be a whole number >= 1, got 'soon'"):
        max_run_seconds()


def test_process_gone_tells_a_dead_a_live_a_zombie_and_a_reused_pid():
    import os
    import subprocess
    import sys
    import time

    from python_assets.platform.processes import process_gone

    assert process_gone(dead_pid(), time.time())
    assert not process_gone(os.getpid(), time.time())
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process_gone(later.pid, time.time() - 600)  # the pid a run recorded 10 min ago, now another process's
        assert not process_gone(later.pid, time.time())
    finally:
        later.kill()
        later.wait()
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while time.time() < deadline and not process_gone(zombie.pid, time.time()):
        time.sleep(0.05)
    assert process_gone(zombie.pid, time.time())  # exited, not yet reaped
    zombie.wait()
