"""A first build over a long lake runs its day-partitioned models window by window (memory bounded by a
window's bars, not the history) and writes the same bits as one pass; a windowed build stopped midway
is built again from empty tables by the next run, never continued from its part."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import pytest
from conftest import use_built_environment, warehouse_digest

import dagster_defs.dbt.assets as dbt_assets_module
from dagster_defs.dbt.assets import FIRST_BUILD_MARKER, DbtRunConfig, build_flags, warehouse_dbt_assets
from dagster_defs.runner import extend_partitions_to
from python_assets.config import Paths
from python_assets.ingest.market import generate_market
from python_assets.ingest.synthetic import generate_ticks
from python_assets.lake.store import stored_day_bars, write_candles, write_trades
from python_assets.warehouse.build_windows import bar_windows

DAYS = (date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10))
D = date(2025, 1, 1)


def test_windows_hold_at_most_the_budget_and_end_at_the_runs_window():
    bars = {D: 100, date(2025, 1, 2): 100, date(2025, 1, 3): 100, date(2025, 1, 5): 250, date(2025, 1, 6): 10}
    end = date(2025, 1, 6)  # the run's own day: never in a window
    assert bar_windows(bars, 200, end) == [(D, date(2025, 1, 3)), (date(2025, 1, 3), date(2025, 1, 5)),
                                           (date(2025, 1, 5), end)]  # a gap day rides along; a heavy day alone
    assert bar_windows(bars, 10_000, end) == [(D, end)]
    assert bar_windows(bars, 0, end) == [(D, end)]
    assert bar_windows(bars, 200, D) == []


def test_warehouse_builds_run_one_model_at_a_time_on_duckdb():
    """Every DuckDB warehouse build (a first build's windows, its own build, each daily build, a full
    refresh): --threads 1, so each model hands DuckDB's cached blocks back (macros/buffer_cache.sql);
    build_threads 0 or Spark: the profile's threads."""
    assert build_flags(DbtRunConfig(), "duckdb") == ["--threads", "1"]
    assert build_flags(DbtRunConfig(full_refresh=True), "duckdb") == ["--threads", "1"]
    assert build_flags(DbtRunConfig(build_threads=3), "duckdb") == ["--threads", "3"]
    assert build_flags(DbtRunConfig(), "spark") == []
    assert build_flags(DbtRunConfig(build_threads=0), "duckdb") == []


def test_the_lake_counts_each_symbol_days_finest_bars(tmp_path):
    import pandas as pd

    paths = Paths(tmp_path / "data")
    assert stored_day_bars(paths) == {}
    # the generator's ticks written as any real writer's: a real symbol may also hold candles (the generator's may not)
    write_trades(paths, "BTC-USDT", generate_ticks("BTC-USDT", date(2025, 3, 5)))
    bar = 1_741_046_400_000  # 2025-03-04 00:00 UTC
    candles = pd.DataFrame({"bar_at_ms": [bar], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0],
                            "volume": [1.0], "source": ["csv"]})
    write_candles(paths, "ETH-USDT", "1h", candles)
    write_candles(paths, "ETH-USDT", "4h", candles)
    write_candles(paths, "BTC-USDT", "1d", candles.assign(bar_at_ms=bar + 86_400_000))  # beside its ticks
    assert stored_day_bars(paths) == {date(2025, 3, 4): 24, date(2025, 3, 5): 1440}


def test_a_first_run_at_the_lakes_first_day_builds_no_later_day_in_its_pass(tmp_path, monkeypatch):
    """Over budget, a run starting at the lake's first day (a backfill from the start) creates the models
    empty and runs no window: its own build then covers its window only, not the whole lake in one pass;
    within budget nothing happens (one pass)."""
    paths = Paths(tmp_path / "data")
    generate_market(paths, ["BTC-USDT"], DAYS)
    calls: list[list[str]] = []
    monkeypatch.setattr(dbt_assets_module, "_run_dbt", lambda dbt, p, args: calls.append(args))
    dbt_assets_module.build_first_days_in_windows(None, paths, 3 * 1440, False, DAYS[0], "")
    assert calls == []  # the lake's 3 days fit one window
    dbt_assets_module.build_first_days_in_windows(None, paths, 1440, False, DAYS[0], "")
    assert len(calls) == 1 and "--empty" in calls[0]
    calls.clear()
    dbt_assets_module.build_first_days_in_windows(None, paths, 2 * 1440, False, DAYS[-1], "")
    assert len(calls) == 2 and "--empty" in calls[0]  # the two days before the run's own fit one window
    assert not (paths.data_dir / FIRST_BUILD_MARKER).exists()


def build(window_bars: int, **config: object) -> dg.ExecuteInProcessResult:
    """The warehouse models alone for the last day, as a first run materializes them."""
    extend_partitions_to(DAYS[-1])
    from dagster_defs.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    run_config = {"ops": {"warehouse_dbt_assets": {"config": {"first_build_window_bars": window_bars, **config}}}}
    return job.execute_in_process(asset_selection=list(warehouse_dbt_assets.keys), partition_key=DAYS[-1].isoformat(),
                                  instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, run_config=run_config)


@pytest.mark.timeout(900)
def test_a_windowed_first_build_equals_one_pass_and_a_stopped_one_is_built_again(tmp_path, monkeypatch):
    paths = use_built_environment(tmp_path / "data", monkeypatch)
    generate_market(paths, ["BTC-USDT"], DAYS)
    calls: list[list[str]] = []
    run_dbt = dbt_assets_module._run_dbt

    def second_window_fails(dbt, paths, args):
        calls.append(args)
        if len(calls) == 3:  # --empty, the first day, then the second day: stopped (a kill, a full disk)
            raise RuntimeError("stopped in the second window")
        run_dbt(dbt, paths, args)

    monkeypatch.setattr(dbt_assets_module, "_run_dbt", second_window_fails)
    assert not build(1440).success  # a window a day: the two days before the run's own
    marker = paths.data_dir / FIRST_BUILD_MARKER
    assert json.loads(marker.read_text())["windows"] == [["2025-03-08", "2025-03-09"], ["2025-03-09", "2025-03-10"]]
    assert "--empty" in calls[0] and "--empty" not in calls[1]
    assert all(c[-2:] == ["--threads", "1"] for c in calls)  # history-sized: one model at a time
    monkeypatch.setattr(dbt_assets_module, "_run_dbt", run_dbt)
    # the next run finds the first day's bars but also the marker: it builds the windows again from empty tables
    assert build(1440).success
    assert not marker.exists()
    windowed = warehouse_digest(paths)
    assert windowed["feat_recursive"][0] > 1000 and windowed["bars_1d"][0] == 3  # every day reaches the features
    # with the warehouse built, a later run is the daily run alone: no window
    calls.clear()
    monkeypatch.setattr(dbt_assets_module, "_run_dbt", second_window_fails)
    dbt_assets_module.build_first_days_in_windows(None, paths, 1440, True, DAYS[-1], "")
    assert calls == [] and not marker.exists()
    # a full refresh rebuilds every model in one pass from the whole lake: the windows wrote the same bits;
    # and a marker left by a stopped windowed build goes with it
    marker.write_text("{}")
    assert build(1440, full_refresh=True).success and calls == [] and not marker.exists()
    assert warehouse_digest(paths) == windowed
