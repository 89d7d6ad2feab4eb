"""A failing run produces an alert line and a POST to a local webhook."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest
from conftest import CLI, cli_instance

from dagster_defs.runner import cli_run_tags
from dagster_defs.sensors import run_failure_sensor


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def failing_run(instance: dg.DagsterInstance, tags: dict[str, str] | None = None):
    @dg.op
    def explode():
        raise RuntimeError("disk full while writing bars")

    @dg.job
    def broken_job():
        explode()

    return broken_job.execute_in_process(instance=instance, raise_on_error=False,
                                         tags={"dagster/partition": "2025-03-10", **(tags or {})})


def launched(run: dg.DagsterRun) -> dg.DagsterRun:
    """run as Dagster's run launcher made it (UI, schedule, sensor, re-execution): with its code location's origin."""
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

    location = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("dagster_defs"), "__repository__")
    return run._replace(remote_job_origin=RemoteJobOrigin(location, run.job_name))


def fail_and_sense(tags: dict[str, str] | None = None, launch: bool = False) -> dg.ExecuteInProcessResult:
    """A failed run (launch: as the run launcher made it), and run_failure_sensor evaluated on its failure
    event; the run's result."""
    with dg.instance_for_test() as instance:
        result = failing_run(instance, tags)
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        run = launched(result.dagster_run) if launch else result.dagster_run
        ctx = dg.build_run_status_sensor_context(
            sensor_name="run_failure_sensor", dagster_instance=instance, dagster_run=run,
            dagster_event=failure,
        ).for_run_failure()
        run_failure_sensor(ctx)
    return result


def test_failed_run_writes_an_alert_and_posts_the_webhook(data_dir, monkeypatch, webhook):
    url, received = webhook
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", url)
    result = fail_and_sense()
    assert not result.success
    alert = json.loads((data_dir.data_dir / "alerts.log").read_text().splitlines()[-1])
    assert alert["kind"] == "run_failure" and alert["job"] == "broken_job" and alert["partition"] == "2025-03-10"
    assert alert["ts"].endswith("+00:00")
    assert alert["failed_steps"] == {"explode": "RuntimeError: disk full while writing bars"}
    assert received == [alert]


def test_a_broken_webhook_is_one_warning_not_a_failed_tick(data_dir, monkeypatch):
    """A webhook answering something that is not HTTP raised BadStatusLine out of run_failure_sensor (its
    tick failed with a traceback). Now the tick logs why the POST failed; alerts.log has the alert."""
    from raw_endpoint import raw, raw_endpoints

    with raw_endpoints() as serve:
        monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", serve(raw(b"garbage\r\n\r\n"))[0])
        result = fail_and_sense()
    assert json.loads((data_dir.data_dir / "alerts.log").read_text())["run_id"] == result.dagster_run.run_id
    logged = [json.loads(line) for line in data_dir.log_file.read_text().splitlines()]
    failed = [e for e in logged if e["event"] == "alert_webhook_failed"]
    assert len(failed) == 1 and failed[0]["error"] == "BadStatusLine: the answer is not HTTP"


def test_alert_without_webhook_only_logs(data_dir, monkeypatch):
    from python_assets.platform.alerts import build_alert, raise_alert

    monkeypatch.delenv("BLOFIN_ALERT_WEBHOOK_URL", raising=False)
    assert raise_alert(data_dir, build_alert("test", "hello")) is None
    assert json.loads((data_dir.data_dir / "alerts.log").read_text())["message"] == "hello"


def test_a_webhook_url_without_a_scheme_fails_quietly_without_quoting_it(data_dir, monkeypatch, capsys):
    """urllib raises ValueError('unknown url type: ...<the URL>') for 'hooks.slack.com/...': it escaped
    post_webhook (which caught only network errors) and the failure sensor, URL and token included."""
    from python_assets.platform.alerts import build_alert, raise_alert

    url = "hooks.slack.com/services/T0/B0/SECRET-CANARY-WEBHOOK-1234"
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", url + "\n")
    delivery = raise_alert(data_dir, build_alert("run_failed", "run r1 failed"))
    assert delivery is not None and not delivery.delivered
    out = capsys.readouterr()
    assert "SECRET-CANARY" not in (data_dir.data_dir / "alerts.log").read_text() + out.out + out.err


def test_the_sensor_leaves_a_cli_run_to_the_cli_which_alerts_for_it(data_dir, monkeypatch, webhook):
    """A CLI run's failure seen by the daemon's sensor writes nothing (the CLI wrote it: one alert per run)."""
    url, received = webhook
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", url)
    assert not fail_and_sense(cli_run_tags(data_dir.data_dir)).success
    assert not (data_dir.data_dir / "alerts.log").exists() and received == []


def test_a_failed_cli_run_writes_its_alert_and_posts_it_without_a_daemon(data_dir, webhook):
    """`blofin-stack materialize` from cron or by hand has no daemon to run run_failure_sensor: the CLI writes
    the same alert (job, run id, partition, message, each failed step's root cause) and POSTs it."""
    url, received = webhook
    data_dir.warehouse.write_bytes(b"not a DuckDB file, a torn copy" * 1000)  # fails the first step that opens it
    day = date(2025, 3, 10)
    env = {**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir), "BLOFIN_SYMBOLS": "BTC-USDT",
           "BLOFIN_ALERT_WEBHOOK_URL": url}
    out = subprocess.run([*CLI, "materialize", "--date", day.isoformat()], env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 1 and "error: step " in out.stderr, out.stderr
    (line,) = (data_dir.data_dir / "alerts.log").read_text().splitlines()
    alert = json.loads(line)
    (run,) = cli_instance(data_dir.dagster_home).get_runs()
    assert alert["kind"] == "run_failure" and alert["launched_by"] == "cli" and alert["job"] == "daily_job"
    assert alert["run_id"] == run.run_id and alert["partition"] == day.isoformat()
    assert alert["message"].startswith(f"materialization of {day}..{day} failed after ")
    assert alert["failed_steps"] and all("not a valid DuckDB database file" in cause
                                         for cause in alert["failed_steps"].values()), alert
    assert received == [alert]


def test_a_failed_backtest_metrics_run_writes_its_alert_with_its_own_job(data_dir, monkeypatch, webhook):
    """`blofin-stack backtest` runs the results asset's ledger models as a CLI-tagged run, which the sensor leaves
    to the CLI: its failure is alerted from the CLI too, naming that run's job, not the daily job."""
    from types import SimpleNamespace

    from blofin_cli.research import MetricsFailed, run_backtest
    from dagster_defs import runner
    from python_assets.backtest import service
    from python_assets.backtest.engine import Costs

    url, received = webhook
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", url)
    monkeypatch.setattr(service, "store_backtest", lambda *args, **kwargs: SimpleNamespace(run_id="bt-1", notes=[]))
    monkeypatch.setattr(runner, "persistent_instance", lambda paths: None)
    with dg.instance_for_test() as instance:
        monkeypatch.setattr(runner, "materialize_new_backtests",
                            lambda _: failing_run(instance, cli_run_tags(data_dir.data_dir)))
        with pytest.raises(MetricsFailed, match="metrics of run bt-1 failed"):
            run_backtest(data_dir, "sma_cross", {}, Costs())
        (run,) = instance.get_runs()
    (line,) = (data_dir.data_dir / "alerts.log").read_text().splitlines()
    alert = json.loads(line)
    assert alert["launched_by"] == "cli" and alert["run_id"] == run.run_id and alert["job"] == "broken_job"
    assert alert["partition"] == "2025-03-10" and alert["message"].startswith("metrics of run bt-1 failed; full log: ")
    assert alert["failed_steps"] == {"explode": "RuntimeError: disk full while writing bars"}
    assert received == [alert]


def test_a_killed_cli_runs_alert_names_its_job_and_partition_range(data_dir):
    """The alert the next CLI run writes for a killed run takes its job and days from the run's record."""
    from blofin_cli.alerting import dead_run_alert
    from dagster_defs.runner import RANGE_END_TAG, RANGE_START_TAG

    @dg.op
    def noop():
        pass

    @dg.job
    def some_job():
        noop()

    with dg.instance_for_test() as instance:
        tags = {RANGE_START_TAG: "2025-03-08", RANGE_END_TAG: "2025-03-10", **cli_run_tags(data_dir.data_dir)}
        run = some_job.execute_in_process(instance=instance, tags=tags).dagster_run
        alert = dead_run_alert(instance, run.run_id, f"run {run.run_id} was killed before it ended")
        unknown = dead_run_alert(instance, "no-such-run", "run no-such-run was killed before it ended")
    assert (alert["job"], alert["partition"], alert["run_id"]) == ("some_job", "2025-03-08..2025-03-10", run.run_id)
    assert (unknown["job"], unknown["partition"], unknown["launched_by"]) == (None, None, "cli")


def test_a_secret_at_the_length_limit_of_an_alerts_lines_is_blanked_whole(monkeypatch):
    """The stop line's cause (describe, cut at 600) and the sensor's step line (cut at 300) were cut before the
    scrub, which then missed the secret's head left at the cut: it reached alerts.log and the webhook."""
    from blofin_cli.errors import describe
    from dagster_defs.sensors import step_error_line

    secret = "Zq9SECRETCANARYVALUE123"
    monkeypatch.setenv("BLOFIN_API_SECRET", secret)

    @dg.op
    def leak():
        raise RuntimeError("x" * 280 + f" {secret}")

    @dg.job
    def leaky_job():
        leak()

    (failure,) = [e for e in leaky_job.execute_in_process(raise_on_error=False).all_events if e.is_step_failure]
    lines = [describe(RuntimeError("x" * 570 + f" {secret} rest")), step_error_line(failure)]
    assert all(" Zq9" not in line and "***" in line for line in lines), lines


def test_an_alert_after_a_line_a_full_disk_cut_is_a_whole_line_of_its_own(data_dir):
    """A failed run's alert is often written on a full disk, which can cut it mid-line: the next alert was glued
    onto that cut line, so neither parsed; now it starts on a new line (and a cut write is taken back)."""
    from python_assets.platform.alerts import append_alert, build_alert

    log = data_dir.data_dir / "alerts.log"
    log.write_text('{"ts": "2025-03-10T00:00:00+00:00", "kind": "run_fai')
    alert = build_alert("run_failure", "run r2 failed", run_id="r2")
    append_alert(data_dir, alert)
    assert json.loads(log.read_text().splitlines()[-1]) == alert


def test_a_ui_re_execution_of_a_cli_run_is_alerted_by_the_sensor(data_dir, monkeypatch, webhook):
    """Re-executing a CLI run from the UI copies its tags (Dagster's use_parent_run_tags), blofin/launched_by=cli
    too, but the daemon runs it, not the CLI: the sensor skipped it for that tag, and no one alerted its failure."""
    url, received = webhook
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", url)
    tags = {**cli_run_tags(data_dir.data_dir), "dagster/parent_run_id": "a-failed-cli-run"}
    assert not fail_and_sense(tags, launch=True).success
    (line,) = (data_dir.data_dir / "alerts.log").read_text().splitlines()
    assert json.loads(line)["job"] == "broken_job" and received == [json.loads(line)]


def interrupting_job():
    """A stand-in daily_job whose dbt step leaves the warehouse, then gets the user's Ctrl-C (or a timeout's
    SIGTERM, which Dagster takes as SIGINT) while it runs."""
    import signal
    import time

    import duckdb

    from python_assets.config import paths

    @dg.op
    def warehouse_dbt_assets():
        duckdb.connect(str(paths().warehouse)).close()  # the step got through a day before it was stopped
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)

    @dg.job
    def daily_job():
        warehouse_dbt_assets()

    return daily_job


@pytest.mark.parametrize("interactive", [False, True])
def test_an_interrupted_cli_run_is_one_line_exit_130_alerted_unless_interactive(data_dir, monkeypatch, webhook,
                                                                                 capsys, interactive):
    """Ctrl-C or SIGTERM during a step: one line, exit 130 (not 'error: step X failed: ...Interrupted', exit 1)
    and the note naming later days left on replaced rows. Alerted as run_interrupted unless a person at a
    terminal pressed Ctrl-C: a cron or systemd timeout's SIGTERM looks the same to the run, and Dagster records
    the run failed, so no next run's dead-run recovery would alert it."""
    import dagster_defs.runner as runner
    from blofin_cli import alerting, pipeline
    from python_assets.reports import staleness

    url, received = webhook
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", url)
    job = interrupting_job()

    def interrupted_run(first, last, instance, raise_on_error, extra_tags, run_config, run_id):
        return job.execute_in_process(instance=instance, raise_on_error=raise_on_error, run_id=run_id,
                                      tags={"dagster/partition": first.isoformat(), **extra_tags})

    monkeypatch.setattr(pipeline, "unchanged_window", lambda paths, first, last, config: ({}, None))
    monkeypatch.setattr(runner, "materialize_days", interrupted_run)
    monkeypatch.setattr(alerting, "interactive", lambda: interactive)
    monkeypatch.setattr(staleness, "stale_notes", lambda paths, first, last: ["2025-03-11 continues from replaced rows"])
    day = date(2025, 3, 10)
    assert pipeline._locked_run(data_dir, day, day, False) == 130
    out = capsys.readouterr()
    # the CLI's own lines (this stand-in job's Dagster logger writes to the captured stderr, not the run log)
    said = [line for line in out.err.splitlines() if line.startswith(("interrupted", "error", "note"))]
    assert len(said) == 1 and said[0].startswith(f"interrupted: materialization of {day}..{day} stopped in step "
                                                 "warehouse_dbt_assets; the same command again finishes it"), said
    assert "note: 2025-03-11 continues from replaced rows" in out.out.splitlines()
    (run,) = runner.persistent_instance(data_dir).get_runs()
    assert run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)  # no dead run left to recover
    if interactive:
        assert not (data_dir.data_dir / "alerts.log").exists() and received == []
        return
    (line,) = (data_dir.data_dir / "alerts.log").read_text().splitlines()
    alert = json.loads(line)
    assert (alert["kind"], alert["launched_by"], alert["job"]) == ("run_interrupted", "cli", "daily_job")
    assert (alert["run_id"], alert["partition"]) == (run.run_id, day.isoformat())
    assert alert["message"] == said[0].removeprefix("interrupted: ")
    assert alert["stopped_steps"] == ["warehouse_dbt_assets"] and received == [alert]


@pytest.mark.parametrize("interactive", [False, True])
def test_an_interrupted_backtest_metrics_run_is_exit_130_alerted_unless_interactive(data_dir, monkeypatch, webhook,
                                                                                    capsys, interactive):
    """`blofin-stack backtest`'s metrics run stopped by Ctrl-C or SIGTERM: was exit 1 and a run_failure alert;
    now one line, exit 130, and a run_interrupted alert unless interactive, as a materialize's."""
    from types import SimpleNamespace

    from blofin_cli import alerting, research
    from blofin_cli.main import build_parser
    from dagster_defs import runner
    from python_assets.backtest import service

    url, received = webhook
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", url)
    monkeypatch.setattr(service, "store_backtest", lambda *args, **kwargs: SimpleNamespace(run_id="bt-1", notes=[]))
    monkeypatch.setattr(runner, "persistent_instance", lambda paths: None)
    monkeypatch.setattr(alerting, "interactive", lambda: interactive)
    job = interrupting_job()
    with dg.instance_for_test() as instance:
        monkeypatch.setattr(runner, "materialize_new_backtests", lambda _: job.execute_in_process(
            instance=instance, raise_on_error=False,
            tags={"dagster/partition": "2025-03-10", **cli_run_tags(data_dir.data_dir)}))
        args = build_parser().parse_args(["backtest", "--strategy", "sma_cross", "--no-html"])
        assert research.cmd_backtest(args) == 130
        (run,) = instance.get_runs()
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("interrupted", "error", "note"))]
    assert said == [f"interrupted: metrics of run bt-1 stopped in step warehouse_dbt_assets; the next backtest or "
                    f"materialize computes them (full log: {data_dir.data_dir / 'last_backtest.log'})"], said
    if interactive:
        assert not (data_dir.data_dir / "alerts.log").exists() and received == []
        return
    (line,) = (data_dir.data_dir / "alerts.log").read_text().splitlines()
    alert = json.loads(line)
    assert (alert["kind"], alert["job"], alert["run_id"], alert["partition"]) == (
        "run_interrupted", "daily_job", run.run_id, "2025-03-10")
    assert received == [alert]


def test_a_run_with_a_step_that_failed_on_its_own_is_a_failure_even_if_interrupted_later():
    """Only a run whose every failed step was interrupted is 'interrupted' (no alert); a real failure before
    the Ctrl-C keeps its alert."""
    from types import SimpleNamespace

    from blofin_cli.errors import interrupted

    def failure(*chain: str) -> SimpleNamespace:
        error = None
        for cls_name in reversed(chain):
            error = SimpleNamespace(cls_name=cls_name, cause=error, message=cls_name)
        return SimpleNamespace(step_key="s", step_failure_data=SimpleNamespace(error=error))

    stopped = failure("DagsterExecutionStepExecutionError", "DagsterExecutionInterruptedError")
    assert interrupted([stopped]) and interrupted([failure("KeyboardInterrupt")])
    assert not interrupted([stopped, failure("DagsterExecutionStepExecutionError", "RuntimeError")])
    assert not interrupted([])


def test_an_error_raised_while_handling_the_interrupt_is_an_interruption():
    """dagster-dbt answers an interrupt by sending dbt SIGINT and waiting 25 s, then raises TimeoutExpired with
    the interrupt as its context (not its cause), as any cleanup that fails meanwhile does: that run was reported
    failed (exit 1, run_failure alert) because only the cause chain was read."""
    import subprocess
    import sys
    from types import SimpleNamespace

    from dagster._core.errors import DagsterExecutionInterruptedError
    from dagster._utils.error import serializable_error_info_from_exc_info

    from blofin_cli.errors import interrupted

    def failure(raiser) -> SimpleNamespace:
        try:
            try:
                raiser()
            except Exception as exc:  # the step's error boundary wraps it, as a cause
                raise RuntimeError("Error occurred while executing op") from exc
        except RuntimeError:
            error = serializable_error_info_from_exc_info(sys.exc_info())
        return SimpleNamespace(step_key="warehouse_dbt_assets", step_failure_data=SimpleNamespace(error=error))

    def dbt_slow_to_stop():
        try:
            raise DagsterExecutionInterruptedError()
        except DagsterExecutionInterruptedError:
            raise subprocess.TimeoutExpired(["dbt", "build"], 25)  # noqa: B904 - as dagster-dbt raises it

    def failed_on_its_own():
        try:
            raise KeyError("x")
        except KeyError:
            raise subprocess.TimeoutExpired(["dbt", "build"], 25)  # noqa: B904

    stopped = failure(dbt_slow_to_stop)
    assert stopped.step_failure_data.error.cause.context.cls_name == "DagsterExecutionInterruptedError"
    assert interrupted([stopped]) and not interrupted([failure(failed_on_its_own)])
    cycle = SimpleNamespace(cls_name="RuntimeError", cause=None, context=None)
    cycle.context = SimpleNamespace(cls_name="OSError", cause=cycle, context=None)  # a chain that loops ends
    assert not interrupted([SimpleNamespace(step_key="s", step_failure_data=SimpleNamespace(error=cycle))])


def test_interactive_is_a_terminal_on_stdin(monkeypatch):
    """A person at a terminal runs it (their Ctrl-C: no alert); cron, systemd, a pipe or a closed stdin do not."""
    import io
    import sys
    from types import SimpleNamespace

    from blofin_cli.alerting import interactive

    monkeypatch.setattr(sys, "stdin", SimpleNamespace(isatty=lambda: True))
    assert interactive()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert not interactive()
    closed = io.StringIO("")
    closed.close()
    monkeypatch.setattr(sys, "stdin", closed)
    assert not interactive()
    monkeypatch.setattr(sys, "stdin", None)
    assert not interactive()
