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
