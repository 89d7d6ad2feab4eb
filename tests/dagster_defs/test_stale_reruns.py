"""Which reruns of an earlier day leave later days continuing from replaced results: a run that recomputes
the day's data does, even when it fails after that; a run that only renders the day's report again does not
(computed_days, marked by the steps later days continue from)."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import duckdb
import pytest
from conftest import TEST_DAYS, copy_data_dir

from python_assets.reports.daily_report import produce_daily_report, stored_run_facts
from python_assets.reports.staleness import stale_notes


def materialize_assets(keys: list[dg.AssetKey], day: date) -> dg.ExecuteInProcessResult:
    """Only these assets for one day, in-process, as a person materializes a few assets in the UI."""
    from dagster_defs.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(asset_selection=keys, partition_key=day.isoformat(),
                                  instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


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
    result = materialize_assets([*warehouse_dbt_assets.keys, dg.AssetKey("ml_dataset")], first)
    assert not result.success
    assert [e.step_key for e in result.all_events if e.is_step_failure] == ["ml_dataset"]

    # no report was rendered, yet the second day now continues from the first day's replaced results
    assert stale_notes(data_dir, second, second) == [
        f"{second}..{second} built on {second} computed before the latest run of {first}: these numbers continue "
        f"from its results as they were then; run {second} again, one day at a time in day order"]
    assert stale_notes(data_dir, first, first)[0].startswith(f"{second} was built before the latest run of {first}")
    assert stale_report_warnings(data_dir, second)[0].startswith(f"{second} computed before the latest run of {first}")
    assert computed_steps(data_dir)[first] == "warehouse_dbt_assets"  # marked by the rebuild that succeeded
