"""The real Definitions, materialized for consecutive daily partitions in a temp dir, checked against pandas."""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime, timedelta, timezone

import duckdb
import numpy as np
import pytest
from conftest import (FAST_RUN_CONFIG, TEST_DAYS, copy_data_dir, report_digest, undocumented_relations,
                      warehouse_digest)

from dagster_defs.dbt.assets import dbt_build_args, dbt_window, partition_dbt_vars
from dagster_defs.runner import materialize_days, partition_tags
from python_assets.backtest.catalog import active_specs
from python_assets.config import DBT_PROJECT_DIR, DEFAULT_SYMBOLS, dbt_window_env
from python_assets.ingest.synthetic import generate_ticks
from python_assets.platform.timeframes import TIMEFRAME_MS
from python_assets.reports.daily_report import produce_daily_report, stored_run_facts
from python_assets.reports.staleness import stale_notes


def expected_day(symbol: str, day: date) -> dict:
    """The report's numbers for one symbol-day, computed with pandas straight from the generator."""
    t = generate_ticks(symbol, day).sort_values("ts", kind="mergesort")
    prev = generate_ticks(symbol, day - timedelta(days=1))["price"].iloc[-1]
    minutes = np.unique(t["ts"].to_numpy() // 60_000)
    day_start = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()) // 60
    present = np.zeros(1440, dtype=bool)
    present[minutes - day_start] = True
    runs, run = [], 0
    for has_trade in present:
        if has_trade and run:
            runs.append(run)
        run = 0 if has_trade else run + 1
    runs += [run] if run else []
    return {
        "close": t["price"].iloc[-1],
        "high": t["price"].max(),
        "low": t["price"].min(),
        "volume": t["size"].sum(),
        "trade_count": len(t),
        "return_1d": t["price"].iloc[-1] / prev - 1,
        "bars": {tf: len(np.unique(t["ts"].to_numpy() // ms)) for tf, ms in TIMEFRAME_MS.items()},
        "gaps": {"gap_count": len(runs), "missing_minutes": int(sum(runs)), "longest_gap_minutes": max(runs, default=0),
                 "resolution": "1m"},
    }


def check_report(report: dict, day: date, has_previous_day: bool) -> None:
    assert report["report_date"] == day.isoformat()
    assert len(report["ml"]["predictions"]) == 5 * len(DEFAULT_SYMBOLS)
    ranking = report["research"]["ranking"]
    assert ranking and [r["rank"] for r in ranking] == list(range(1, len(ranking) + 1))
    scores = [s["composite_score"] for s in report["strategies"]]
    assert scores and scores == sorted(scores, reverse=True)
    assert [s["symbol"] for s in report["symbols"]] == sorted(DEFAULT_SYMBOLS)
    for s in report["symbols"]:
        want = expected_day(s["symbol"], day)
        assert s["close"] == want["close"] and s["high"] == want["high"] and s["low"] == want["low"]
        assert s["trade_count"] == want["trade_count"]
        assert s["volume"] == pytest.approx(want["volume"], rel=1e-12)
        assert s["range_abs"] == pytest.approx(want["high"] - want["low"], rel=1e-12)
        assert s["bars"] == want["bars"]
        assert s["data_gaps"] == want["gaps"]
        assert s["quarantined_rows"] == 0
        if has_previous_day:
            assert s["return_1d"] == pytest.approx(want["return_1d"], rel=1e-12)
        else:
            assert s["return_1d"] is None


def check_ml_tables(data_dir, day):
    """After a daily run: every model scored beside its baseline, both ensembles, a prediction per
    model and symbol, ML strategies in the backtest results, and labels equal to pandas on the bars."""
    from python_assets.ml.models import MODELS

    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        overall = con.execute("select model, scorer from ml_model_results where fold = 'overall' and partition_date = ?",
                              [day]).fetchall()
        assert set(overall) == {(m, s) for m in MODELS for s in ("model", "baseline")}
        ensembles = {r[0] for r in con.execute("select ensemble from ml_ensembles where partition_date = ?", [day]).fetchall()}
        assert ensembles == {"ensemble_average", "ensemble_stacked"}
        preds = con.execute("select model, symbol from ml_predictions where partition_date = ?", [day]).fetchall()
        assert sorted(preds) == sorted((m, s) for m in MODELS for s in DEFAULT_SYMBOLS)
        trials, ranked = con.execute("select (select count(*) from tuning_trials where run_date = ?), "
                                     "(select count(*) from ranking_history where run_date = ?)", [day, day]).fetchall()[0]
        assert trials > 0 and ranked > 0
        ml_kinds = {r[0] for r in con.execute("select strategy from strategy_backtest_results where kind = 'ml'").fetchall()}
        assert "ml_direction_predictor" in ml_kinds
        bars = con.execute("select symbol, bar_at_ms, close from bars_5m order by symbol, bar_at_ms").df()
        labels = con.execute("select symbol, bar_at_ms, fwd_return_12 from labels_h12 where timeframe = '5m' "
                             "order by symbol, bar_at_ms").df()
    want = bars.groupby("symbol")["close"].shift(-12) / bars["close"] - 1
    np.testing.assert_allclose(labels["fwd_return_12"].to_numpy(dtype=float, na_value=np.nan), want.to_numpy(), rtol=1e-12)


def backtest_rows(con, day):
    """(strategy, symbol, window_kind, final_equity) of a day's daily backtests, sorted."""
    return sorted(con.execute(
        "select strategy, symbol, window_kind, round(final_equity, 6) from strategy_backtest_results "
        "where kind = 'daily' and partition_date = ?", [day]).fetchall())


def report_metadata(result) -> dict:
    """The daily_report asset's materialization metadata in a run's result."""
    return next(e.step_materialization_data.materialization.metadata for e in result.all_events
                if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.to_user_string() == "daily_report")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two graph runs here, two more in the shared built_two_days (fast ML and research settings)
def test_two_consecutive_partitions_produce_reports_matching_pandas(built_two_days, tmp_path, monkeypatch, capfd):
    first, second = TEST_DAYS
    data_dir = copy_data_dir(built_two_days, tmp_path / "data", monkeypatch)
    reports = {d: json.loads((data_dir.reports / f"{d.isoformat()}.json").read_text()) for d in TEST_DAYS}
    check_report(reports[first], first, has_previous_day=False)
    check_report(reports[second], second, has_previous_day=True)

    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        rows = con.execute("select report_date, report_json from daily_reports order by report_date").fetchall()
        assert [r[0] for r in rows] == list(TEST_DAYS)
        assert json.loads(rows[1][1])["symbols"] == reports[second]["symbols"]
        bars_before = con.execute("select count(*) from bars_1m").fetchall()[0][0]
        bars_day = con.execute("select count(*) from bars_1m where bar_date = ?", [second]).fetchall()[0][0]
        backtests_before = backtest_rows(con, second)
    tables_before = warehouse_digest(data_dir)
    reports_before = report_digest(data_dir)

    # Every active strategy was backtested on every symbol (full window) for the partition.
    specs = active_specs()
    assert {(s, sym) for s, sym, kind, _ in backtests_before if kind == "full"} == {
        (name, sym) for name in specs for sym in DEFAULT_SYMBOLS}

    # Re-running the older day rewrites its own rows with the same bits and nothing of the later
    # day's: every table (the later day's rows included) and every report is unchanged.
    older = materialize_days(first, first, run_config=FAST_RUN_CONFIG)
    assert older.success
    assert warehouse_digest(data_dir) == tables_before
    assert report_digest(data_dir) == reports_before
    # ... but the later day was built before it and continues from its results as they were then (late
    # ticks or a revised file would have changed them): the run says so, and so does the later day's report
    assert f"{second} was built before the latest run of {first}" in report_metadata(older)["stale_days"].value
    assert stale_notes(data_dir, first, first) == [report_metadata(older)["stale_days"].value]
    rebuilt = json.loads(produce_daily_report(data_dir, second, run=stored_run_facts(data_dir, second)[0]).read_text())
    assert any(w.startswith(f"{second} computed before the latest run of {first}") for w in rebuilt["warnings"])

    # Re-running a partition is idempotent: no duplicate bars or report rows, same numbers.
    capfd.readouterr()
    result = materialize_days(second, second, run_config=FAST_RUN_CONFIG)
    assert result.success
    # the run is the named daily_job (the UI lists it there and in its timeline), and it said
    # what it finished while it worked: a line per step, one per dbt model
    assert result.dagster_run.job_name == "daily_job"
    printed = capfd.readouterr().out
    steps = re.findall(r"^ *(\d+) of (\d+) OK (\S+) ", printed, flags=re.M)
    assert steps and {s[2] for s in steps} >= {"warehouse_dbt_assets", "daily_report"}
    assert steps[-1][0] == steps[-1][1] and re.search(r"^  dbt \d+ of \d+ OK bars_1m \[", printed, flags=re.M)
    # dbt assets carry their table's row count and the partition's rows
    meta = {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert meta["bars_1m"]["dagster/row_count"].value == bars_before > bars_day
    assert meta["bars_1m"]["partition_rows"].value == bars_day > 0
    assert "stale_days" not in meta["daily_report"] and stale_notes(data_dir, second, second) == []
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["bars_1m_is_fresh"] is True and len(checks) > 100 and all(checks.values())
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from bars_1m").fetchall()[0][0] == bars_before
        assert con.execute("select count(*) from daily_reports").fetchall()[0][0] == 2
        assert backtest_rows(con, second) == backtests_before  # same backtests, same numbers
    rerun = json.loads((data_dir.reports / f"{second.isoformat()}.json").read_text())
    assert rerun["symbols"] == reports[second]["symbols"] and rerun["warnings"] == reports[second]["warnings"]
    # every table, ledger, trials and rankings included, holds exactly the same rows (same bits)
    assert warehouse_digest(data_dir) == tables_before

    assert (data_dir.data_dir / "warehouse_snapshot.duckdb").exists()
    check_ml_tables(data_dir, second)
    # The second day scored its bars with the first day's models (retrained every 7 days), so its export
    # held only the day's rows (and each symbol's newest), not the whole training window.
    from python_assets.ml.artifacts import read_artifact
    from python_assets.ml.models import MODELS

    exported = read_artifact(data_dir.ml_runs, second.isoformat(), "ml_dataset")
    scored = duckdb.sql(f"select min(bar_at_ms), count(*) from '{exported.file}'").fetchall()[0]
    second_ms = int(datetime(second.year, second.month, second.day, tzinfo=timezone.utc).timestamp() * 1000)
    assert exported.scoring_only is True and scored[0] >= second_ms and scored[1] == exported.rows > 0

    for name in MODELS:
        run = read_artifact(data_dir.ml_runs, second.isoformat(), f"ml_{name}")
        assert run.pointer["reused"] is True and run.pointer["trained_on"] == first.isoformat()
        assert run.latest is not None and len(run.latest) > 0  # the day's predictions of the reused version
    # what the backtests traded: the direction models' out-of-sample P(up), declared as ml_results' value
    oos = read_artifact(data_dir.ml_runs, second.isoformat(), "ml_results")
    assert oos.timeframe == "5m" and len(oos.frame) > 0

    # A day's data tests read that day's rows (the partition window) and rows without a date, one query per bars model
    # for the required columns; feat_recursive (a Python model, incremental) carries bar_date for it.
    run_dir = data_dir.data_dir / "dbt_target" / "run" / "blofin_stack" / "models"
    row_rules = (run_dir / "bars" / "_bars.yml").glob("bars_1m_row_rules.sql")
    sql = " ".join(next(row_rules).read_text().split())
    assert (f"where (bar_date >= (date '{second}' - interval '0 day') and bar_date < date "
            f"'{second + timedelta(days=1)}' or bar_date is null)") in sql and "(open is null) or (high is null)" in sql
    recursive = next((run_dir / "features" / "_features.yml").glob("not_null_feat_recursive_bar_date.sql"))
    assert f"bar_date < date '{second + timedelta(days=1)}'" in " ".join(recursive.read_text().split())

    # (dbt's unit tests, which the daily builds leave out, run on their own: tests/dbt/test_unit_tests.py)
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())

    # Every column of every dbt model in the warehouse is documented (dbt docs show no blanks), and every
    # table or view is a dbt model, seed, snapshot or declared source with documented columns (the
    # Python-written tables are sources: tests/dbt/test_lineage_coverage.py proves the check itself).
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        assert undocumented_relations(manifest, con) == []

    log_lines = [json.loads(line) for line in data_dir.log_file.read_text().splitlines()]
    events = {line["event"] for line in log_lines}
    assert {"lake_generated", "dbt_build_started", "daily_report_written"} <= events
    assert all(line["ts"].endswith("+00:00") for line in log_lines)


@pytest.mark.slow
def test_a_range_run_reports_every_day_of_the_range(data_dir):
    first, second = TEST_DAYS
    assert materialize_days(first, second, run_config=FAST_RUN_CONFIG).success
    assert sorted(p.name for p in data_dir.reports.glob("*.json")) == [f"{d.isoformat()}.json" for d in TEST_DAYS]
    check_report(json.loads((data_dir.reports / f"{second.isoformat()}.json").read_text()), second, True)

    # the CLI without --data backtests the warehouse's symbols and stores the run beside the daily ones
    from blofin_cli.main import main as cli_main

    assert cli_main(["backtest", "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--days", "2"]) == 0
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        cli = con.execute("select symbol, timeframe, source from strategy_backtest_results where kind = 'cli'").fetchall()
    assert sorted(cli) == [(s, "1h", "warehouse") for s in DEFAULT_SYMBOLS]


def test_lake_source_without_data_fails_with_a_clear_message(data_dir, monkeypatch):
    monkeypatch.setenv("BLOFIN_SOURCE", "lake")
    import dagster as dg

    from dagster_defs.ingest.assets import lake_market_data
    from dagster_defs.resources import market_source_from_env

    result = dg.materialize(
        [lake_market_data], resources={"market_source": market_source_from_env()},
        partition_key=TEST_DAYS[0].isoformat(), raise_on_error=False,
    )
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "no trades or candles in the lake for 2025-03-10" in str(failure.step_failure_data.error)


def test_partition_window_becomes_the_dbt_window_with_an_exclusive_end():
    start, end = datetime(2025, 3, 10, tzinfo=timezone.utc), datetime(2025, 3, 11, tzinfo=timezone.utc)
    assert partition_dbt_vars(start, end) == {"min_date": "2025-03-10", "max_date": "2025-03-11"}
    assert dbt_window(start, end) == {"min_date": "2025-03-10", "max_date": "2025-03-11"}
    assert dbt_window(start, end, new_backtests_only=True) == {"min_date": "1970-01-01", "max_date": "1970-01-01"}
    assert dbt_build_args() == ["build", "--exclude-resource-type", "unit_test"]  # no --vars: no full re-parse
    assert dbt_build_args(full_refresh=True)[-1] == "--full-refresh"
    with dbt_window_env(dbt_window(start, end)):
        assert (os.environ["BLOFIN_DBT_MIN_DATE"], os.environ["BLOFIN_DBT_MAX_DATE"]) == ("2025-03-10", "2025-03-11")
    assert "BLOFIN_DBT_MIN_DATE" not in os.environ


def test_partition_tags_select_one_day_or_a_range():
    assert partition_tags(date(2025, 3, 10), date(2025, 3, 10)) == ("2025-03-10", {})
    key, tags = partition_tags(date(2025, 3, 10), date(2025, 3, 12))
    assert key is None and tags["dagster/asset_partition_range_end"] == "2025-03-12"
    with pytest.raises(ValueError):
        partition_tags(date(2025, 3, 12), date(2025, 3, 10))
