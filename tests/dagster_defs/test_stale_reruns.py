"""Which reruns of an earlier day leave later days continuing from replaced results: a run that recomputes
the day's data does, even when it fails after that; a run that only renders the day's report again does not
(computed_days, marked by the steps later days continue from)."""

from __future__ import annotations

import json
import subprocess
from datetime import date

import dagster as dg
import duckdb
import pytest
from conftest import CLI, TEST_DAYS, copy_data_dir

from python_assets.reports.daily_report import produce_daily_report, stored_run_facts
from python_assets.reports.staleness import run_starts, stale_notes


def materialize_assets(keys: list[dg.AssetKey], day: date,
                       instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """Only these assets for one day, in-process, as a person materializes a few assets in the UI."""
    from dagster_defs.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(asset_selection=keys, partition_key=day.isoformat(),
                                  instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False)


def logged_warnings(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[tuple[str, str]]:
    """(step, message) of each warning the steps of the run logged (context.log.warning)."""
    return [(r.step_key, r.user_message) for r in instance.all_logs(result.run_id)
            if r.dagster_event is None and r.level == 30]  # logging.WARNING


def cli_report(day: date) -> subprocess.CompletedProcess:
    """`blofin-stack report --date day` on the test's data dir."""
    return subprocess.run([*CLI, "report", "--date", day.isoformat()], capture_output=True, text=True, timeout=600)


def stale_report_warnings(data_dir, day: date) -> list[str]:
    """The day's report rebuilt from the warehouse: its warnings about days computed before a later rerun."""
    path = produce_daily_report(data_dir, day, run=stored_run_facts(data_dir, day)[0])
    return [w for w in json.loads(path.read_text())["warnings"] if "computed before the latest run" in w]


def computed_steps(data_dir) -> dict[date, str]:
    """{day: the step that last marked it} in computed_days."""
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        return dict(con.execute("select partition_date, step from computed_days").fetchall())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_rendering_an_earlier_days_report_again_leaves_later_days_current(built_two_days, tmp_path, monkeypatch):
    first, second = TEST_DAYS
    data_dir = copy_data_dir(built_two_days, tmp_path / "data", monkeypatch)
    result = materialize_assets([dg.AssetKey("daily_report")], first)
    assert result.success
    metadata = next(e.step_materialization_data.materialization.metadata for e in result.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION")
    assert "stale_days" not in metadata  # nothing the second day continues from was recomputed
    assert stale_notes(data_dir, first, first) == [] and stale_report_warnings(data_dir, second) == []
    assert computed_steps(data_dir) == computed_steps(built_two_days)  # as the two daily runs left it
    assert set(computed_steps(built_two_days)) == {first, second}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_run_that_recomputes_an_earlier_day_and_then_fails_leaves_later_days_stale(built_two_days, tmp_path,
                                                                                   monkeypatch):
    from dagster_defs.dbt.assets import warehouse_dbt_assets

    first, second = TEST_DAYS
    data_dir = copy_data_dir(built_two_days, tmp_path / "data", monkeypatch)

    def broken() -> list[str]:
        raise RuntimeError("the feature registry could not be read")

    monkeypatch.setattr("dagster_defs.ml.assets.registered_features", broken)  # ml_dataset fails before it marks a day
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_assets([*warehouse_dbt_assets.keys, dg.AssetKey("ml_dataset")], first, instance)
    assert not result.success
    assert [e.step_key for e in result.all_events if e.is_step_failure] == ["ml_dataset"]

    # no report was rendered, yet the second day now continues from the first day's replaced results
    assert stale_notes(data_dir, second, second) == [
        f"{second}..{second} built on {second} computed before the latest run of {first}: these numbers continue "
        f"from its results as they were then; run {second} again, one day at a time in day order"]
    assert stale_notes(data_dir, first, first)[0].startswith(f"{second} was built before the latest run of {first}")
    assert stale_report_warnings(data_dir, second)[0].startswith(f"{second} computed before the latest run of {first}")
    assert computed_steps(data_dir)[first] == "warehouse_dbt_assets"  # marked by the rebuild that succeeded
    # no daily_report in the run, yet it warned once, in the Dagster log, where it marked the day
    assert logged_warnings(instance, result) == [("warehouse_dbt_assets", stale_notes(data_dir, first, first)[0])]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_daily_report_alone_for_a_day_no_run_computed_fails_as_the_cli_does_and_marks_nothing(
        built_two_days, tmp_path, monkeypatch):
    first = TEST_DAYS[0]
    data_dir = copy_data_dir(built_two_days, tmp_path / "data", monkeypatch)
    # the first day as dbt's history build leaves the days before a first run: bars, no run, no report
    with duckdb.connect(str(data_dir.warehouse)) as con:
        con.execute("delete from computed_days where partition_date = ?", [first])
        con.execute("delete from daily_reports where report_date = ?", [first])
    for page in (data_dir.reports / f"{first}.json", data_dir.reports / f"{first}.html"):
        page.unlink()
    result = materialize_assets([dg.AssetKey("daily_report")], first)
    assert not result.success
    cli = cli_report(first)
    assert cli.returncode == 2
    error = cli.stderr.strip().removeprefix("error: ")
    assert error.startswith(f"no run computed {first}") and "\n" not in error
    failure = next(e for e in result.all_events if e.is_step_failure).event_specific_data.error.message
    assert error in failure  # the same one line
    assert not (data_dir.reports / f"{first}.json").exists() and not (data_dir.reports / f"{first}.html").exists()
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        assert first not in run_starts(con)  # rendering never marks a day computed
        assert con.execute("select count(*) from daily_reports where report_date = ?", [first]).fetchone() == (0,)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_daily_report_alone_keeps_the_failed_checks_and_run_facts_of_the_run_that_computed_the_day(
        built_two_days, tmp_path, monkeypatch):
    second = TEST_DAYS[1]
    data_dir = copy_data_dir(built_two_days, tmp_path / "data", monkeypatch)
    run, _ = stored_run_facts(data_dir, second)
    assert run["run_id"] and run["stage_seconds"]
    failed = [{"asset": "bars_1m", "check": "bars_1m_is_fresh", "description": "DOGE-USDT: last bar 2 days old"}]
    produce_daily_report(data_dir, second, run=run, failed_checks=failed)  # what the day's run stored, a check failed
    result = materialize_assets([dg.AssetKey("daily_report")], second)
    assert result.success
    report = json.loads((data_dir.reports / f"{second}.json").read_text())
    assert report["failed_checks"] == failed and report["run"] == {**run, "rebuilt_by": "dagster"}
    assert "asset check bars_1m_is_fresh on bars_1m did not pass: DOGE-USDT: last bar 2 days old" in report["warnings"]
    assert cli_report(second).returncode == 0  # the CLI's rebuild keeps the same facts
    by_cli = json.loads((data_dir.reports / f"{second}.json").read_text())
    assert by_cli["failed_checks"] == failed and by_cli["run"] == {**run, "rebuilt_by": "cli"}
    assert computed_steps(data_dir) == computed_steps(built_two_days)  # and neither marked a day
