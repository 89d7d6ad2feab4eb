"""Every table and view in the warehouse is a dbt model, seed, snapshot or declared source with
documented columns: the check the pipeline test runs on a real warehouse, proven here on small cases
and on every table the Python assets create (through their own DDL, without running the pipeline)."""

from __future__ import annotations

import json
import re

import duckdb
import pandas as pd
import pytest
from conftest import undocumented_relations

from python_assets.backtest import catalog, fill_store, ledger, portfolio_store
from python_assets.config import DBT_PROJECT_DIR, REPO_ROOT
from python_assets.ml import store as ml_store
from python_assets.warehouse import run_inputs
from python_assets.reports import daily_report, staleness
from python_assets.research import daily as research

PYTHON_TABLES = {
    "strategy_specs", "backtest_runs", "backtest_trades", "backtest_equity", "ml_model_results", "ml_ensembles",
    "ml_predictions", "strategy_designs", "tuning_trials", "strategy_tuning", "ranking_history", "daily_reports",
    "tuning_trial_returns", "tuning_pbo", "search_pbo", "monte_carlo_runs",
    "portfolio_runs", "portfolio_equity_bars", "portfolio_members", "portfolio_correlations", "portfolio_forward_days",
    "portfolio_forward_holdings",
    "fill_stress_results", "run_inputs", "computed_days",
}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())


@pytest.fixture
def con():
    with duckdb.connect(":memory:") as c:
        yield c


def create_python_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Each table the Python assets write, created the way they create it (migrations included)."""
    catalog.publish_specs(con, {})
    ledger.ensure_ledger(con)
    ml_store.write_results(con, "2025-03-10", [], [], pd.DataFrame())
    research.ensure_tables(con)
    portfolio_store.ensure_tables(con)
    fill_store.ensure_fill_stress(con)
    daily_report.store_report(con, {"report_date": "2025-03-10", "schema_version": daily_report.REPORT_SCHEMA_VERSION,
                                     "generated_at": "2025-03-10T23:59:00+00:00", "code_version": "0.1.0"},
                              "reports/2025-03-10.json")
    for statement in run_inputs.RUN_INPUTS_DDL:
        con.execute(statement)
    con.execute(staleness.COMPUTED_DAYS_DDL)


def test_undocumented_relations_reports_a_table_dbt_does_not_know(manifest, con):
    con.execute("create table scratch_results (symbol varchar, score double)")
    con.execute("create view scratch_view as select 1 as one")
    assert undocumented_relations(manifest, con) == ["scratch_results: not in dbt", "scratch_view: not in dbt"]


def test_undocumented_relations_reports_a_source_column_without_a_description(manifest, con):
    con.execute(daily_report.DAILY_REPORTS_DDL)
    con.execute("alter table daily_reports add column reviewer varchar")
    assert undocumented_relations(manifest, con) == ["daily_reports.reviewer: undocumented"]


def test_undocumented_relations_reports_a_documented_column_the_table_lacks(manifest, con):
    con.execute("create table daily_reports (report_date date, schema_version varchar, generated_at timestamptz, "
                "code_version varchar, report_path varchar)")
    assert undocumented_relations(manifest, con) == ["daily_reports.report_json: not in the table"]


def test_undocumented_relations_reports_a_model_column_missing_from_its_yml(manifest, con):
    con.execute("create table bars_1d as select 'BTC-USDT' as symbol, 1 as not_a_documented_column")
    found = undocumented_relations(manifest, con)
    assert "bars_1d.not_a_documented_column: undocumented" in found
    assert "bars_1d.symbol: undocumented" not in found


def test_every_table_python_creates_is_a_declared_source_with_documented_columns(manifest, con):
    create_python_tables(con)
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    assert tables == PYTHON_TABLES
    assert undocumented_relations(manifest, con) == []


def test_python_tables_made_before_a_migration_are_still_covered(manifest, con):
    """An old warehouse: designs keyed by design_id alone and a ledger without periods_per_year."""
    con.execute(research.DESIGNS_DDL.format(name="strategy_designs").replace(
        "primary key (created_date, design_id)", "primary key (design_id)"))
    ddl = ledger.LEDGER_DDL[0].replace(",\n    periods_per_year double", "")
    assert "periods_per_year" not in ddl
    con.execute(ddl)
    create_python_tables(con)
    keys = con.execute("select constraint_column_names from duckdb_constraints() "
                       "where table_name = 'strategy_designs' and constraint_type = 'PRIMARY KEY'").fetchall()
    assert list(keys[0][0]) == ["created_date", "design_id"]  # migrated
    assert con.execute("select count(*) from information_schema.columns where table_name = 'backtest_runs' "
                       "and column_name = 'periods_per_year'").fetchall() == [(1,)]
    assert undocumented_relations(manifest, con) == []


def test_the_daily_report_exposure_names_every_model_the_report_reads(manifest):
    """dbt docs' lineage ends in the daily report (models/reports/_exposures.yml): its depends_on is exactly
    the models python_assets/reports' code selects from (`from <model>`, `join <model>`, or the name quoted, as
    table_exists(con, "features") has it), so a new section's mart cannot be left out."""
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    code = " ".join(p.read_text() for p in (REPO_ROOT / "python_assets" / "reports").rglob("*.py"))
    read = {m for m in models if re.search(rf"\b(from|join)\s+{m}\b|[\"']{m}[\"']", code)}
    exposure = manifest["exposures"]["exposure.blofin_stack.daily_report"]
    listed = {uid.split(".")[-1] for uid in exposure["depends_on"]["nodes"]}
    assert len(read) > 15 and listed == read, (sorted(read - listed), sorted(listed - read))
