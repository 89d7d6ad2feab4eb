"""The local instance's pooled SQLite storage (dagster_defs/instance_storage.py, named by deploy/dagster.yaml):
Dagster's files and tables, so what it writes Dagster's own SQLite storage reads and the other way round;
its open pools stay bounded; wiping closes them first; threads share it; a file replaced on disk is
opened anew."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import dagster as dg
from conftest import cli_instance
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from dagster_defs.instance_storage import MAX_OPEN_SHARDS, PooledSqliteEventLogStorage

DEPLOY_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"


@dg.asset
def numbers() -> int:
    return 7


def pooled_instance(home: Path) -> dg.DagsterInstance:
    """An instance configured by deploy/dagster.yaml in home (DAGSTER_HOME), as the CLI installs it."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    return cli_instance(home)


def dagster_own_instance(home: Path) -> dg.DagsterInstance:
    """An instance on the same files with Dagster's own SQLite storage (a config file without a storage
    section: Dagster's default, SQLite under the home)."""
    instance = dg.DagsterInstance.from_config(str(home), config_filename="absent.yaml")
    assert type(instance.event_log_storage) is SqliteEventLogStorage
    return instance


def materialized_runs(instance: dg.DagsterInstance) -> list[str]:
    return [e.run_id for e in instance.fetch_materializations(dg.AssetKey("numbers"), limit=100).records]


def test_the_deploy_yaml_instance_uses_the_pooled_storage_in_dagsters_layout(tmp_path):
    home = tmp_path / "home"
    with pooled_instance(home) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        first = dg.materialize([numbers], instance=instance).run_id
    assert (home / "history" / "runs.db").is_file() and (home / "history" / "runs" / f"{first}.db").is_file()
    assert (home / "history" / "runs" / "index.db").is_file() and (home / "schedules" / "schedules.db").is_file()
    # Dagster's own storage on the same files sees that run and its events, and writes one more ...
    with dagster_own_instance(home) as theirs:
        assert materialized_runs(theirs) == [first]
        assert len(theirs.all_logs(first)) > 5
        second = dg.materialize([numbers], instance=theirs).run_id
    # ... which the pooled storage reads back, both runs with their status
    with pooled_instance(home) as instance:
        assert sorted(materialized_runs(instance)) == sorted([first, second])
        assert {r.status for r in instance.get_runs()} == {dg.DagsterRunStatus.SUCCESS}
        assert len(instance.all_logs(second)) == len(theirs.all_logs(second)) > 5


def test_open_pools_stay_bounded_and_every_run_stays_readable(tmp_path):
    with pooled_instance(tmp_path / "home") as instance:
        runs = [dg.materialize([numbers], instance=instance).run_id for _ in range(MAX_OPEN_SHARDS + 3)]
        storage = instance.event_log_storage
        assert len(storage._engines) <= MAX_OPEN_SHARDS  # noqa: SLF001
        assert all(len(instance.all_logs(run)) > 5 for run in runs)  # evicted shards reopen
        assert sorted(materialized_runs(instance)) == sorted(runs)


def test_wiping_closes_the_pools_before_the_files_go(tmp_path):
    home = tmp_path / "home"
    with pooled_instance(home) as instance:
        old = dg.materialize([numbers], instance=instance).run_id
        instance.wipe()
        assert set(instance.event_log_storage._engines) <= {"index"}  # noqa: SLF001 - the index is kept (emptied)
        assert not (home / "history" / "runs" / f"{old}.db").exists()
        new = dg.materialize([numbers], instance=instance).run_id
        assert materialized_runs(instance) == [new]
        assert len(instance.all_logs(new)) > 5  # written to a live file, not a deleted one


def test_threads_writing_and_reading_at_once_lose_no_event(tmp_path):
    """Four threads store events into two runs' shards while two read them back (as the webserver's
    watchers read a run the executor writes)."""
    with pooled_instance(tmp_path / "home") as instance:
        runs = [dg.materialize([numbers], instance=instance).run_id for _ in range(2)]
        before = {run: len(instance.all_logs(run)) for run in runs}
        errors: list[str] = []

        def write(run_id: str, n: int) -> None:
            try:
                for i in range(n):
                    instance.report_engine_event(f"event {i}", job_name="__ephemeral_asset_job__", run_id=run_id)
            except Exception as exc:  # noqa: BLE001 - reported by the assert below
                errors.append(repr(exc))

        def read(run_id: str) -> None:
            try:
                for _ in range(25):
                    assert len(instance.all_logs(run_id)) >= before[run_id]
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

        threads = [threading.Thread(target=write, args=(runs[i % 2], 30)) for i in range(4)]
        threads += [threading.Thread(target=read, args=(run,)) for run in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == [] and not any(t.is_alive() for t in threads)
        assert {run: len(instance.all_logs(run)) - before[run] for run in runs} == {run: 60 for run in runs}


def test_a_database_file_replaced_under_a_kept_connection_is_opened_anew(tmp_path):
    """The history reset (deleted, then written again by another process) while a UI process lives on:
    like Dagster's storage, which opens the path each time, it writes and reads the new files, not the
    deleted ones its kept connections still hold."""
    home = tmp_path / "home"
    with pooled_instance(home) as instance:
        dg.materialize([numbers], instance=instance)
        shutil.rmtree(home / "history")
        with dagster_own_instance(home) as other:
            second = dg.materialize([numbers], instance=other).run_id
        third = dg.materialize([numbers], instance=instance).run_id
        assert sorted(materialized_runs(instance)) == sorted([second, third])
        with dagster_own_instance(home) as fresh:
            assert sorted(materialized_runs(fresh)) == sorted([second, third])
            assert len(fresh.all_logs(third)) > 5


def test_a_home_holding_the_earlier_instance_yaml_gets_the_pooled_storage(tmp_path):
    """The storage section is the file's last: the CLI finds the earlier file (without it) a prefix of the
    new one and writes the new one; a file of the operator's own is kept."""
    from dagster_defs.runner import install_instance_yaml

    text = DEPLOY_YAML.read_text()
    earlier = text[:text.index("# Dagster's SQLite layout")]
    assert "storage:" not in earlier and "concurrency:" in earlier
    target = tmp_path / "dagster.yaml"
    target.write_text(earlier)
    install_instance_yaml(target)
    assert target.read_text() == text
    own = earlier.replace("max_concurrent_runs: 1", "max_concurrent_runs: 2")
    target.write_text(own)
    install_instance_yaml(target)
    assert target.read_text() == own


def test_a_home_holding_a_shipped_instance_yaml_gets_the_current_one(tmp_path, monkeypatch):
    """A DAGSTER_HOME holding an earlier shipped version (not a prefix of the current one: a comment in the
    middle changed) gets the current file: it kept the old settings (no threaded sensors) for good before."""
    import hashlib

    import dagster_defs.runner as runner

    text = DEPLOY_YAML.read_text()
    assert hashlib.sha256(text.encode()).hexdigest() not in runner.SHIPPED_YAMLS
    shipped = text.replace("sensors:\n  use_threads: true\n  num_workers: 4\n", "").replace("run_monitoring:", "# old\nrun_monitoring:")
    monkeypatch.setattr(runner, "SHIPPED_YAMLS", runner.SHIPPED_YAMLS | {hashlib.sha256(shipped.encode()).hexdigest()})
    target = tmp_path / "dagster.yaml"
    target.write_text(shipped)
    runner.install_instance_yaml(target)
    assert target.read_text() == text


def test_the_instance_evaluates_sensors_in_threads(tmp_path):
    """trade_recorder_sensor's 40 s session held up every other sensor's tick (the daemon ran them one by one)."""
    with pooled_instance(tmp_path / "home") as instance:
        assert instance.get_settings("sensors") == {"use_threads": True, "num_workers": 4}
