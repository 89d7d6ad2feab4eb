"""A report rendered again from the warehouse (`blofin-stack report`, or Dagster's daily_report without
the steps that compute the day) keeps the code_version of the run that computed its numbers: a rebuild
with newer code stamped its own version over numbers the old code computed. The renderer's version is
recorded beside it, as run.rendered_by_code."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import duckdb

from python_assets.platform.version import code_version
from python_assets.reports.daily_report import DAILY_REPORTS_DDL, SUMMARY_COLUMNS, produce_daily_report, rebuild_run_facts
from python_assets.reports.review import DeterministicAnalyst
from python_assets.reports.schema import validate_report
from python_assets.reports.staleness import record_computed

DAY = date(2025, 3, 10)
OLD = "0.1.0+g0c23845"


def _warehouse(data_dir) -> None:
    """A day a run of OLD computed: its market summary, computed_days and the report that run stored."""
    cols = [c.strip() for c in SUMMARY_COLUMNS.split(",")]
    with duckdb.connect(str(data_dir.warehouse)) as con:
        con.execute("create table daily_market_summary (report_date date, "
                    + ", ".join(f"{c} {'varchar' if c in ('symbol', 'resolution') else 'double'}" for c in cols) + ")")
        values = {**{c: 0 for c in cols}, "symbol": "BTC-USDT", "resolution": "1m", "open": 1.0, "high": 1.0,
                  "low": 1.0, "close": 1.0, "prev_close": 1.0}
        con.execute(f"insert into daily_market_summary values (?, {', '.join('?' for _ in cols)})",
                    [DAY, *(values[c] for c in cols)])
        record_computed(con, [DAY], "run-old", datetime(2025, 3, 11, tzinfo=timezone.utc), "warehouse_dbt_assets")
        con.execute(DAILY_REPORTS_DDL)
        stored = {"schema_version": "2.2", "code_version": OLD, "failed_checks": [],
                  "run": {"run_id": "run-old", "partition": DAY.isoformat(), "started_at": "2025-03-11T00:00:00+00:00"}}
        con.execute("insert into daily_reports values (?, '2.2', '2025-03-11T00:01:00+00:00', ?, 'reports/x.json', ?)",
                    [DAY, OLD, json.dumps(stored)])


def _check(path, by: str) -> None:
    report = json.loads(path.read_text())
    validate_report(report)
    assert f"code {OLD} (rendered by {code_version()})" in path.with_suffix(".html").read_text()
    assert report["code_version"] == OLD  # the numbers' code, as the stored report said
    assert report["run"]["rendered_by_code"] == code_version() != OLD
    assert report["run"]["rebuilt_by"] == by and report["run"]["run_id"] == "run-old"


def test_cli_report_keeps_the_stored_reports_code_version(data_dir, monkeypatch):
    from blofin_cli.main import main

    monkeypatch.setattr("python_assets.reports.daily_report.analyst_from_env", DeterministicAnalyst)
    _warehouse(data_dir)
    assert main(["report", "--date", DAY.isoformat()]) == 0
    _check(data_dir.reports / f"{DAY}.json", "cli")
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        assert con.execute("select code_version from daily_reports where report_date = ?", [DAY]).fetchone()[0] == OLD
    assert main(["report", "--date", DAY.isoformat()]) == 0  # again: still the computing run's
    _check(data_dir.reports / f"{DAY}.json", "cli")


def test_dagster_rendering_again_keeps_it_and_a_computing_run_stamps_its_own(data_dir):
    _warehouse(data_dir)
    path = produce_daily_report(data_dir, DAY, run=rebuild_run_facts(data_dir, DAY, "dagster")[0], analyst=DeterministicAnalyst())
    _check(path, "dagster")
    # a run that computes the day again writes the numbers of this code
    path = produce_daily_report(data_dir, DAY, run={"run_id": "run-new", "partition": DAY.isoformat()},
                                analyst=DeterministicAnalyst())
    fresh = json.loads(path.read_text())
    assert fresh["code_version"] == code_version() and "rendered_by_code" not in fresh["run"]
    assert "rendered by" not in path.with_suffix(".html").read_text()


def test_a_newer_run_that_recomputed_the_day_without_its_report_leaves_no_old_facts_kept(data_dir, monkeypatch):
    # a newer run recomputed the day and stopped before its report: the stored report's run, failed checks and
    # code describe numbers the warehouse no longer holds (second review: a rebuild named the old run and code)
    from blofin_cli.main import main

    monkeypatch.setattr("python_assets.reports.daily_report.analyst_from_env", DeterministicAnalyst)
    _warehouse(data_dir)
    with duckdb.connect(str(data_dir.warehouse)) as con:
        record_computed(con, [DAY], "run-newer", datetime(2025, 3, 12, tzinfo=timezone.utc), "warehouse_dbt_assets")
    assert main(["report", "--date", DAY.isoformat()]) == 0
    report = json.loads((data_dir.reports / f"{DAY}.json").read_text())
    validate_report(report)
    assert report["code_version"] == code_version() and "rendered_by_code" not in report["run"]
    assert "run_id" not in report["run"] and report["run"]["rebuilt_by"] == "cli"
    assert rebuild_run_facts(data_dir, DAY, "dagster")[0].get("run_id") is None
