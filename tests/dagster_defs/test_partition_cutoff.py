"""A partition sees nothing after its end: a day backfilled after later days exist gets the same
models, backtests, research and report as a day built in a warehouse where those days never were."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest
from conftest import FAST_RUN_CONFIG, TEST_DAYS, VOLATILE_COLUMNS, report_digest, use_built_environment

from dagster_defs.partitions import day_start_ms
from dagster_defs.runner import materialize_days
from python_assets.config import Paths
from python_assets.ml.artifacts import read_artifact
from python_assets.ml.models import MODELS


# (table, the rows that belong to a day); backtest children follow their runs.
DAY_ROWS = {
    "backtest_runs": "partition_date = $day",
    "backtest_trades": "backtest_id in (select backtest_id from backtest_runs where partition_date = $day)",
    "backtest_equity": "backtest_id in (select backtest_id from backtest_runs where partition_date = $day)",
    "strategy_backtest_results": "partition_date = $day",
    "ml_model_results": "partition_date = $day",
    "ml_ensembles": "partition_date = $day",
    "ml_predictions": "partition_date = $day",
    "strategy_designs": "created_date = $day",
    "tuning_trials": "run_date = $day",
    "strategy_tuning": "run_date = $day",
    "ranking_history": "run_date = $day",
    "tuning_trial_returns": "run_date = $day",
    "tuning_pbo": "run_date = $day",
    "search_pbo": "run_date = $day",
    "monte_carlo_runs": "run_date = $day",
    "strategy_overfitting": "run_date = $day",
    "search_overfitting": "run_date = $day",
    "strategy_monte_carlo": "run_date = $day",
    "portfolio_runs": "run_date = $day",
    "portfolio_equity_bars": "run_date = $day",
    "portfolio_members": "run_date = $day",
    "portfolio_correlations": "run_date = $day",
    "portfolio_forward_days": "run_date = $day",
    "portfolio_forward_holdings": "run_date = $day",
    "portfolio_forward": "run_date = $day",
    "daily_market_summary": "report_date = $day",
    "report_strategies": "partition_date = $day",
    "report_walk_forward": "partition_date = $day",
    "report_ml_models": "partition_date = $day",
    "report_ml_ensembles": "partition_date = $day",
    "report_ml_predictions": "partition_date = $day",
    "report_research_ranking": "run_date = $day",
    "report_research_designs": "created_date = $day",
    "report_trades": "partition_date = $day",
    "report_equity": "partition_date = $day",
}


def day_rows(paths: Paths, day) -> dict[str, list[tuple]]:
    """Every table's rows of one day, run-time columns left out, sorted."""
    out = {}
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        for table, where in DAY_ROWS.items():
            cols = [r[0] for r in con.execute("select column_name from information_schema.columns where table_name = ? "
                                              "order by ordinal_position", [table]).fetchall()]
            keep = ", ".join(f'"{c}"' for c in cols if c not in VOLATILE_COLUMNS)
            out[table] = con.execute(f"select {keep} from {table} where {where} order by all", {"day": day}).fetchall()
    return out


def model_versions(paths: Paths, day) -> dict[str, str]:
    runs = {name: read_artifact(paths.ml_runs, day.isoformat(), f"ml_{name}") for name in MODELS}
    return {name: run.pointer["version"] for name, run in runs.items() if run is not None and run.pointer}


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two graph runs here and one in the shared built_first_day (the day alone)
def test_a_day_backfilled_after_later_days_equals_a_day_built_without_them(built_first_day, tmp_path, monkeypatch):
    day, later = TEST_DAYS
    (tmp_path / "later_first").mkdir()
    late = use_built_environment(tmp_path / "later_first", monkeypatch)  # as built_first_day was built
    assert materialize_days(later, later, run_config=FAST_RUN_CONFIG).success
    later_rows = day_rows(late, later)
    assert materialize_days(day, day, run_config=FAST_RUN_CONFIG).success
    got, got_versions = day_rows(late, day), model_versions(late, day)
    got_report = report_digest(late)[f"{day.isoformat()}.json"]
    with duckdb.connect(str(late.warehouse), read_only=True) as con:
        last_bar, ends = con.execute("select max(e.bar_at_ms), max(r.window_end) from backtest_runs as r "
                                     "join backtest_equity as e using (backtest_id) where r.partition_date = ?",
                                     [day]).fetchall()[0]
    end_ms = day_start_ms(day + timedelta(days=1))
    assert last_bar < end_ms and int(ends.timestamp() * 1000) <= end_ms
    # the backfill wrote D's rows only: the later day's rows (designs, rankings, backtests) are untouched,
    # but for the later day's composite_change (report_strategies' last column), which compares with D
    # and only now has D to compare with
    after, before = day_rows(late, later), dict(later_rows)
    changes_after, changes_before = after.pop("report_strategies"), before.pop("report_strategies")
    assert after == before and later_rows["strategy_designs"]
    assert [r[:-1] for r in changes_after] == [r[:-1] for r in changes_before] and changes_before
    assert all(r[-1] is None for r in changes_before) and any(r[-1] is not None for r in changes_after)

    alone = built_first_day  # the day materialized in a warehouse where no later day ever was
    assert got_versions == model_versions(alone, day) and len(got_versions) == len(MODELS)
    want = day_rows(alone, day)
    assert {t: len(r) for t, r in got.items()} == {t: len(r) for t, r in want.items()}
    for table in DAY_ROWS:
        assert got[table] == want[table], table
    assert all(want[t] for t in ("backtest_runs", "ml_predictions", "ranking_history")), "nothing was compared"
    assert got_report == report_digest(alone)[f"{day.isoformat()}.json"]
