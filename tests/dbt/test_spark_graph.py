"""The whole daily graph with dbt on Spark: `BLOFIN_DBT_TARGET=spark blofin-stack materialize --date D`
gives the daily report the DuckDB build gives.

The CLI runs in a subprocess (fast ML and research settings, as the other whole-graph tests) on a fresh
data dir; every dbt step builds on a local Spark session (blofin-dbt-spark), with the landing tables the
Python assets wrote handed to Spark before each call and Spark's models handed back after it (the
warehouse resource's dbt_exchange). The reference is the session's DuckDB build of the same day
(built_first_day, same symbols and settings). Compared: every number and string of the report JSON
(numbers within 1e-9 relative; fields that say when or how long something ran are left out) and the
report marts row for row. `make test-spark-graph` runs it alone; ~2-3 min on 2 cores (the Spark run ~2 min
on a loaded machine, 2026-12-07), most of it the two dbt calls' Spark start-ups and Spark planning and running
the feature models' wide window queries (docs/scaling.md).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import CLI, TEST_DAYS, VOLATILE_COLUMNS, fast_config_file
from test_spark_parity import differences, spark_missing

from python_assets.config import Paths

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]

DAY = TEST_DAYS[0]
RTOL = 1e-9
# What says when or for how long something ran, or where: not a result. And `version`, a model version's
# content address: a hash of the training rows' bits, which differ by ~1e-12 between the engines' features
# (the models' predictions and scores are compared as numbers).
RUN_TIME_KEYS = {"generated_at", "created_at", "run_id", "seconds", "stage_seconds", "duration_s", "elapsed_s",
                 "started_at", "finished_at", "version"}
# The marts the report reads, and the metric marts under them.
REPORT_MARTS = ("report_strategies", "report_trades", "report_equity", "report_walk_forward", "report_research_ranking",
                "report_research_designs", "report_ml_models", "report_ml_ensembles", "report_ml_predictions",
                "strategy_backtest_results", "daily_market_summary", "portfolio_backtest_results",
                "portfolio_member_results", "strategy_overfitting", "search_overfitting", "strategy_monte_carlo",
                "fill_sensitivity")


@pytest.fixture(scope="module")
def spark_run(built_first_day: Paths, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """DAY through the whole graph by the CLI with dbt on Spark, in a fresh data dir."""
    if reason := spark_missing():
        pytest.skip(reason)
    paths = Paths((tmp_path_factory.mktemp("spark_graph") / "data").resolve())
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "BLOFIN_LLM_BASE_URL")}
    env.update(BLOFIN_DATA_DIR=str(paths.data_dir), BLOFIN_DBT_TARGET="spark")
    config = fast_config_file(paths.data_dir.parent)
    done = subprocess.run([*CLI, "materialize", "--date", DAY.isoformat(), "--config", str(config)],
                          env=env, capture_output=True, text=True, timeout=1700)
    log = paths.data_dir / "last_run.log"
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + (log.read_text()[-4000:] if log.exists() else "")
    return paths


def results(value: object, where: str = "") -> dict[str, object]:
    """Every leaf of a report JSON by its path, run-time fields left out."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() if key not in RUN_TIME_KEYS
                for k, v in results(item, f"{where}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in results(item, f"{where}[{i}]").items()}
    return {where: value}


def leaf_differences(duck: dict[str, object], spark: dict[str, object]) -> list[str]:
    """Paths whose values differ (numbers beyond RTOL), or that only one report has."""
    found = [f"only in one report: {k}" for k in sorted(set(duck) ^ set(spark))]
    for key in sorted(set(duck) & set(spark)):
        a, b = duck[key], spark[key]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        if numbers and not math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12):
            found.append(f"{key}: duckdb {a!r}, spark {b!r}")
        elif not numbers and a != b:
            found.append(f"{key}: duckdb {a!r}, spark {b!r}")
    return found


def report(paths: Paths) -> dict[str, object]:
    return json.loads((paths.reports / f"{DAY.isoformat()}.json").read_text())


def mart(paths: Paths, name: str):
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.sql(f'select * from "{name}"').df()


def test_the_report_on_spark_has_the_numbers_of_the_report_on_duckdb(built_first_day, spark_run):
    with duckdb.connect(str(built_first_day.warehouse), read_only=True) as con:  # the reference is DuckDB's build
        assert con.execute("select table_type from information_schema.tables where table_name = 'features'").fetchone() == ("VIEW",)
    duck, spark = results(report(built_first_day)), results(report(spark_run))
    assert len(duck) > 300  # not vacuous: the report holds the market, strategies, research and ML sections
    assert len(mart(built_first_day, "strategy_backtest_results")) > 10
    assert leaf_differences(duck, spark) == []


# Marts the first demo day fills (walk-forward, portfolio and some ML marts need more days or members).
FILLED_ON_DAY_ONE = {"report_strategies", "report_trades", "report_equity", "report_research_ranking",
                     "strategy_backtest_results", "daily_market_summary", "strategy_overfitting", "search_overfitting",
                     "strategy_monte_carlo",
                     "fill_sensitivity"}


@pytest.mark.parametrize("name", REPORT_MARTS)
def test_each_report_mart_has_the_same_rows_on_both_engines(built_first_day, spark_run, name):
    duck, spark = mart(built_first_day, name), mart(spark_run, name)
    assert len(duck) > 0 or name not in FILLED_ON_DAY_ONE, f"{name} is empty: the comparison would prove nothing"
    run_time = [c for c in duck.columns if c in VOLATILE_COLUMNS | RUN_TIME_KEYS]
    assert differences(duck.drop(columns=run_time), spark.drop(columns=[c for c in run_time if c in spark])) == [], name


def test_the_models_were_built_by_spark(spark_run):
    """Not DuckDB in disguise: Spark's warehouse holds the marts, and the Python side's copy has them as
    tables handed back (on DuckDB `features` and the report marts are views)."""
    spark_tables = Path(spark_run.data_dir / "spark" / "warehouse" / "blofin.db")
    for name in ("bars_1m", "feat_recursive", "strategy_backtest_results", "strategy_overfitting"):
        assert (spark_tables / name).is_dir(), name
    with duckdb.connect(str(spark_run.warehouse), read_only=True) as con:
        kinds = dict(con.execute("select table_name, table_type from information_schema.tables").fetchall())
    assert kinds["features"] == kinds["report_strategies"] == "BASE TABLE"
    assert (spark_run.data_dir / "dbt_target" / "run_results.json").exists()


def test_a_report_difference_is_found():
    """The comparison itself catches a changed number, a changed text and a missing field."""
    a = {"x": {"n": 1.0, "s": "a", "when": {"generated_at": "t0"}}, "l": [1, 2]}
    assert leaf_differences(results(a), results(a | {"x": {"n": 1.0, "s": "a", "when": {"generated_at": "t1"}}})) == []
    assert leaf_differences(results(a), results(a | {"x": {"n": 1.0 + 1e-6, "s": "a"}})) != []
    assert leaf_differences(results(a), results(a | {"x": {"n": 1.0, "s": "b"}})) != []
    assert leaf_differences(results(a), results({"x": a["x"]})) == ["only in one report: .l[0]", "only in one report: .l[1]"]
