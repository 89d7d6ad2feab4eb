"""deploy/dagster-postgres.yaml against a real PostgreSQL server: the daemon runs the daily schedule's
tick, the run's events land in PostgreSQL's event_logs, and a second run waits in the queue while the
first holds the `warehouse` pool (limit 1), then runs. Skips only where no PostgreSQL binaries exist."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dagster_defs.resources import WAREHOUSE_POOL
from dagster_defs.schedules import partition_for
from pg_server import postgres_bin_dir, postgres_server

REPO = Path(__file__).resolve().parents[2]
LOCAL_YAML, PG_YAML = REPO / "deploy" / "dagster.yaml", REPO / "deploy" / "dagster-postgres.yaml"
LOCATION = Path(__file__).with_name("postgres_location.py")
PG_ENV = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")
WAIT_S = 240.0  # per wait: seconds on an idle machine, minutes on a loaded one
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture(scope="module")
def pg_env() -> Iterator[dict[str, str]]:
    """A PostgreSQL server for this module; its DAGSTER_PG_* environment."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, postgres); .ci/run installs them")
    with postgres_server(bin_dir) as env:
        yield env


def wait_for(what: str, check: Callable[[], object], timeout: float, log: Path | None = None) -> object:
    """check()'s first truthy value, polled; fails naming `what` (and the daemon log's tail) on timeout."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.25)
    return value


def declined(log: Path) -> int:
    """How many times the queue daemon has logged that the run limit keeps queued runs waiting."""
    return log.read_text().count("Maximum is 1, won't launch more") if log.exists() else 0


def last_tick(now: datetime) -> datetime:
    """The daily schedule's (5 0 * * *) latest tick at or before now."""
    tick = now.replace(hour=0, minute=5, second=0, microsecond=0)
    return tick if tick <= now else tick - timedelta(days=1)


def start_schedule_a_day_ago(instance: dg.DagsterInstance, workspace: Path, now: datetime) -> None:
    """Record the schedule as running since a day ago, so the daemon's first iteration owes the last tick."""
    from dagster._core.remote_origin import RemoteInstigatorOrigin, RemoteRepositoryOrigin
    from dagster._core.scheduler.instigation import (InstigatorState, InstigatorStatus, InstigatorType,
                                                     ScheduleInstigatorData)
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    [location] = WorkspaceFileTarget(paths=[str(workspace)]).create_origins()
    origin = RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "__repository__"), "daily_job_schedule")
    data = ScheduleInstigatorData("5 0 * * *", start_timestamp=(now - timedelta(days=1)).timestamp())
    instance.add_instigator_state(InstigatorState(origin, InstigatorType.SCHEDULE, InstigatorStatus.RUNNING, data))


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session and everything it started (code servers, run workers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=30)
            time.sleep(1)  # let the group's other members exit before checking again
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def pg_rows(env: dict[str, str], sql: str, *args: object) -> list[tuple]:
    """Rows of a query on the server, read with psycopg2 (not through Dagster)."""
    import psycopg2

    con = psycopg2.connect(host=env["DAGSTER_PG_HOST"], port=int(env["DAGSTER_PG_PORT"]), user=env["DAGSTER_PG_USER"],
                           password=env["DAGSTER_PG_PASSWORD"], dbname=env["DAGSTER_PG_DB"])
    try:
        with con.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        con.close()


def test_postgres_yaml_is_the_local_instance_with_postgres_storage_from_the_environment():
    local, prod = yaml.safe_load(LOCAL_YAML.read_text()), yaml.safe_load(PG_YAML.read_text())
    for key in ("concurrency", "run_monitoring", "telemetry", "compute_logs"):
        assert prod[key] == local[key], key
    assert prod["concurrency"]["pools"]["default_limit"] == 1 and prod["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert prod["run_coordinator"]["class"] == "QueuedRunCoordinator"
    db = prod["storage"]["postgres"]["postgres_db"]
    assert {k: v for k, v in db.items()} == {
        "hostname": {"env": "DAGSTER_PG_HOST"}, "port": {"env": "DAGSTER_PG_PORT"},
        "username": {"env": "DAGSTER_PG_USER"}, "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"}, "scheme": "postgresql+psycopg2"}  # no literal host, user or secret
    assert set(prod) - set(local) == {"run_coordinator"}
    assert local["storage"]["custom"]["class"] == "PooledSqliteStorage"  # SQLite under DAGSTER_HOME, pooled


def test_daemon_runs_the_schedule_on_postgres_and_queues_the_second_run_behind_the_warehouse_pool(
        pg_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home, gate, log = tmp_path / "dagster_home", tmp_path / "gate", tmp_path / "daemon.log"
    home.mkdir()
    shutil.copyfile(PG_YAML, home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": {
        "relative_path": str(LOCATION), "working_directory": str(REPO), "location_name": "pg_probe"}}]}))
    now = datetime.now(timezone.utc)
    first = partition_for(last_tick(now))
    second = (date.fromisoformat(first) - timedelta(days=1)).isoformat()
    settings = {**pg_env, "DAGSTER_HOME": str(home), "BLOFIN_DATA_DIR": str(tmp_path / "data"),
                "BLOFIN_PARTITIONS_START": (now - timedelta(days=30)).date().isoformat(),
                "BLOFIN_TEST_PG_GATE": str(gate)}
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("BLOFIN_SCHEDULE_CRON", raising=False)
    env = {**os.environ}
    exe = Path(sys.executable).parent

    with dg.DagsterInstance.get() as instance:
        from dagster._core.run_coordinator import QueuedRunCoordinator
        from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        start_schedule_a_day_ago(instance, workspace, now)
        daemon = subprocess.Popen([str(exe / "dagster-daemon"), "run", "-w", str(workspace)], env=env, cwd=REPO,
                                  stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        children = [daemon]
        try:
            def runs(partition: str) -> list[dg.DagsterRun]:
                return instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": partition}))

            wait_for("the schedule's tick to create a run", lambda: runs(first), WAIT_S, log)
            [run_a] = runs(first)
            assert run_a.tags["dagster/schedule_name"] == "daily_job_schedule" and run_a.job_name == "probe_job"
            # Submitted behind run_a (the queue is first in, first out) while run_a starts and takes the pool.
            launch = subprocess.Popen([str(exe / "dagster"), "job", "launch", "-w", str(workspace), "-j", "probe_job",
                                       "--tags", json.dumps({"dagster/partition": second})],
                                      env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      start_new_session=True)
            children.append(launch)
            wait_for("the first run's step to hold the warehouse pool", lambda: run_a.run_id in
                     instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).active_run_ids, WAIT_S, log)
            output, _ = launch.communicate(timeout=WAIT_S)
            assert launch.returncode == 0, output[-2000:]
            [run_b] = runs(second)
            assert instance.get_run_by_id(run_b.run_id).status == dg.DagsterRunStatus.QUEUED
            seen = declined(log)  # two whole passes of the queue daemon that saw run_b and left it queued
            wait_for("the queue daemon to pass over the second run", lambda: declined(log) >= seen + 2, WAIT_S, log)
            info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
            assert info.slot_count == 1 and info.active_run_ids == {run_a.run_id}
            assert pg_rows(pg_env, 'SELECT "limit" FROM concurrency_limits WHERE concurrency_key = %s',
                           WAREHOUSE_POOL) == [(1,)]
            assert pg_rows(pg_env, "SELECT run_id, step_key FROM concurrency_slots WHERE concurrency_key = %s"
                           " AND run_id IS NOT NULL AND NOT deleted", WAREHOUSE_POOL) == [(run_a.run_id, "warehouse_probe")]
            assert instance.get_run_by_id(run_b.run_id).status == dg.DagsterRunStatus.QUEUED
            assert instance.get_run_by_id(run_a.run_id).status == dg.DagsterRunStatus.STARTED

            gate.touch()
            wait_for("both runs to finish", lambda: all(instance.get_run_by_id(r.run_id).status in DONE
                                                        for r in (run_a, run_b)), WAIT_S, log)
        finally:
            for child in children:
                stop_group(child)

        record_a, record_b = (instance.get_run_record_by_id(r.run_id) for r in (run_a, run_b))
        assert record_a.dagster_run.status == dg.DagsterRunStatus.SUCCESS, log.read_text()[-3000:]
        assert record_b.dagster_run.status == dg.DagsterRunStatus.SUCCESS, log.read_text()[-3000:]
        assert record_b.start_time >= record_a.end_time  # the second started only after the first ended

    for run in (run_a, run_b):
        kinds = {kind for (kind,) in pg_rows(pg_env, "SELECT dagster_event_type FROM event_logs WHERE run_id = %s",
                                              run.run_id)}
        # Run starts and successes keep their old names in storage (PIPELINE_*).
        assert {"PIPELINE_ENQUEUED", "PIPELINE_START", "STEP_START", "ASSET_MATERIALIZATION", "STEP_SUCCESS",
                "PIPELINE_SUCCESS"} <= kinds, kinds
    assert pg_rows(pg_env, "SELECT status FROM runs WHERE run_id = %s", run_a.run_id) == [("SUCCESS",)]
    ticks = pg_rows(pg_env, "SELECT status FROM job_ticks WHERE type = 'SCHEDULE'")
    assert ("SUCCESS",) in ticks, ticks
    assert not list(home.glob("**/*.db")), "no SQLite storage beside PostgreSQL"
