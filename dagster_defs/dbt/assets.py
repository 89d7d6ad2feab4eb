"""All dbt models as one daily-partitioned dagster-dbt asset; the partition window becomes dbt vars."""


import json
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_defs.computed_days import mark_days_computed
from dagster_defs.dbt.duckdb_dbt import install_thread_locks
from dagster_defs.dbt.project import dbt_project
from dagster_defs.dbt.translator import BlofinDbtTranslator
from dagster_defs.partitions import daily_partitions
from dagster_defs.resources import WAREHOUSE_POOL, Warehouse
from python_assets.config import Paths, dbt_window_env
from python_assets.lake.store import stored_day_bars
from python_assets.platform.lifeline import ended_on_error
from python_assets.platform.logs import log_event
from python_assets.platform.progress import say
from python_assets.reports.fmt import duration
from python_assets.warehouse.build_windows import bar_windows
from python_assets.warehouse.connection import connect_warehouse, table_exists


def partition_dbt_vars(start: datetime, end: datetime) -> dict[str, str]:
    """The window [start, end) as dbt's min_date / max_date (UTC dates, end exclusive)."""
    return {"min_date": start.date().isoformat(), "max_date": end.date().isoformat()}


# The window of a run that only adds the metrics of backtests that have none yet (what `blofin-stack
# backtest` stored; CLI runs have no partition date): empty, so the incremental ledger models compute just
# those and leave every daily row as the daily run wrote it.
NEW_BACKTESTS_ONLY_VARS = {"min_date": "1970-01-01", "max_date": "1970-01-01"}


def dbt_build_args(full_refresh: bool = False) -> list[str]:
    """`dbt build`: models and data tests. Unit tests check the SQL, not the day's data, so they run in
    the test suite (dbt's advice for production), not in every run. A full refresh rebuilds incremental
    models from the whole lake. The window is not here: see dbt_window."""
    args = ["build", "--exclude-resource-type", "unit_test"]
    return args + ["--full-refresh"] if full_refresh else args


def dbt_window(start: datetime, end: datetime, new_backtests_only: bool = False) -> dict[str, str]:
    """The run's window for dbt (BLOFIN_DBT_MIN_DATE / MAX_DATE through config.dbt_window_env, not --vars:
    a new --vars each day makes dbt re-parse the whole project); new_backtests_only: the empty window."""
    return NEW_BACKTESTS_ONLY_VARS if new_backtests_only else partition_dbt_vars(start, end)


class DbtRunConfig(dg.Config):
    full_refresh: bool = False
    # Only the metrics of ledger backtests without them (a CLI backtest), whatever the partition.
    new_backtests_only: bool = False
    # A first build (an empty warehouse) of a lake holding more 1m bars than this (~ 3 symbols x 34 days: the
    # 30-day demo is one pass) builds the days before the run's window in windows of at most this many bars,
    # each an incremental run continuing the one before (the same bits as one pass), so its memory is a
    # window's, not the history's; then the run's own build over its window. 0: one pass.
    first_build_window_bars: int = Field(default=150_000, ge=0)
    # Models at once in a warehouse build on DuckDB. Models over the whole history (a first build and its
    # windows, a full refresh, and every day's backtest signals) two at once add up their DuckDB
    # memory, and with one thread each model hands DuckDB's cached table blocks back after it
    # (macros/buffer_cache.sql): 120 days of the demo, the next day's build 1,076 -> 932 MiB (tree) at ~+1 s.
    # 0: the profile's threads (2).
    build_threads: int = Field(default=1, ge=0)


# Models tagged `ledger` read the backtest ledger that a Python asset writes after backtest_signals; models
# tagged `research` (strategy_overfitting, search_overfitting, strategy_monte_carlo), `portfolio` (the portfolio marts),
# `fill_stress` (fill_sensitivity) and `report` (the report_* marts the daily report reads) read what the
# research and ML assets write after strategy_ranking. No Python asset sits between the two groups, so they
# are one dbt asset after backtest_ledger (one dbt call: each costs a dbt start-up, a JVM on Spark), a second
# dbt asset so the graph has no cycle (dbt -> Python -> dbt).
LEDGER_SELECT = "tag:ledger"
RESEARCH_SELECT = "tag:research tag:portfolio tag:fill_stress tag:report"
RESULTS_SELECT = f"{LEDGER_SELECT} {RESEARCH_SELECT}"  # results_dbt_assets' models: what the warehouse asset leaves out


def _dbt_assets(name: str, select: str = "fqn:*", exclude: str | None = None):
    install_thread_locks()  # dagster-dbt's selection builds a dbt manifest: its lock without a tracker process
    return dbt_assets(
        manifest=dbt_project().manifest_path,
        project=dbt_project(),
        name=name,
        select=select,
        exclude=exclude,
        dagster_dbt_translator=BlofinDbtTranslator(),
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )


def _stream_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtRunConfig, warehouse: Warehouse,
                  marks_days: bool = False, exclude: str = ""):
    """dbt build over the partition window, streaming dbt's events; marks_days (the warehouse models): mark
    the window's days as recomputed first (computed_days: later days continue from what this build writes),
    and build a long lake's first days in windows (build_first_days_in_windows) before it."""
    window = context.partition_time_window
    args = dbt_build_args(config.full_refresh)
    dbt_vars = dbt_window(window.start, window.end, config.new_backtests_only)
    # dbt writes the warehouse from its own process: this step holds the writer lock while it runs.
    with warehouse.for_subprocess() as paths, dbt_window_env(dbt_vars):
        marker = paths.data_dir / FIRST_BUILD_MARKER
        if marks_days:
            with connect_warehouse(paths.warehouse) as con:
                mark_days_computed(context, con)
                built = table_exists(con, "bars_1m")
            serial = build_flags(config, warehouse.engine)
            whole = context.selected_asset_keys == set(context.assets_def.keys)  # not a few models picked in the UI
            if warehouse.engine != "spark" and whole and not (config.full_refresh or config.new_backtests_only):
                build_first_days_in_windows(dbt, paths, config.first_build_window_bars, built, window.start.date(), exclude,
                                            serial)
            args = [*args, *serial]
        log_event("dbt_build_started", args=args, window=dbt_vars)
        # One target dir under the data dir, replaced each run (dagster-dbt's default leaves a new
        # folder in dbt_project/target per run). The events are held until dbt exits: DuckDB lets one
        # process at a time open the warehouse, so the row counts are read after the build.
        events, last, total, done = [], time.perf_counter(), len(context.selected_asset_keys), 0
        try:
            # On Spark the landing tables go out before the call and its models come back after it.
            with warehouse.dbt_exchange(paths) as extra:
                invocation = dbt.cli([*args, *extra], context=context, target_path=paths.data_dir / "dbt_target")
                with ended_on_error(invocation.process):  # not left writing once the step failed around it
                    for event in invocation.stream():
                        events.append(event)
                        name = _model_name(event)
                        if name:
                            took = event.metadata.get("Execution Duration")
                            took = getattr(took, "value", took)
                            seconds = float(took) if took is not None else time.perf_counter() - last
                            last, done = time.perf_counter(), done + 1
                            say(f"  dbt {done} of {total} OK {name} [{duration(seconds)}]")
        except Exception:
            yield from events  # what dbt finished before it failed, still recorded (without row counts)
            raise
        if marks_days and (config.full_refresh or warehouse.engine == "spark"):
            marker.unlink(missing_ok=True)  # every model rebuilt whole (or handed back by Spark): no window left
        counts = table_row_counts(paths.warehouse, [n for n in map(_model_name, events) if n],
                                  window.start.date(), window.end.date())
        for event in events:
            name = _model_name(event)
            yield event.with_metadata({**event.metadata, **counts[name]}) if name in counts else event
    log_event("dbt_build_finished", min_date=window.start.date().isoformat(), max_date=window.end.date().isoformat())


# Left while a first build runs in windows, removed after its last window: a run that finds it (the one
# before was killed or failed midway) builds the windows again from empty tables, never from a part.
FIRST_BUILD_MARKER = ".first_build_pending"
# The day-partitioned models (labels_h12 and recorder_coverage among them) and what they read (staging views,
# int_bars_unioned, the timeframes seed); the tables over the whole history (signals, instruments) are left to
# the run's own build.
WINDOWED_SELECT = "+config.materialized:incremental"
WINDOWED_MODELS = "config.materialized:incremental"


def build_flags(config: DbtRunConfig, engine: str) -> list[str]:
    """`--threads N` for a DuckDB warehouse build (its windows too) when config.build_threads says so;
    nothing on Spark (its profile's threads: much of a small model's time there is planning)."""
    if engine == "spark" or config.build_threads < 1:
        return []
    return ["--threads", str(config.build_threads)]


def build_first_days_in_windows(dbt: DbtCliResource, paths: Paths, window_bars: int, built: bool, before: date,
                                exclude: str, serial: list[str] | tuple[str, ...] = ()) -> None:
    """A first build of a lake holding more than window_bars 1m bars: its day-partitioned models created
    empty (`--empty`), then the days before the run's window (`before`) built window by window as
    incremental runs, each continuing the last (what a daily run does: the same bits as one pass), so the
    dbt child holds one window's bars, not the history; the run's own build then continues from them over
    its window. Days after the run's window are left to their own runs (a one-pass first build, for a lake
    within the budget or window_bars 0, builds every lake day). Nothing to do once the warehouse holds
    bars, unless FIRST_BUILD_MARKER says a windowed build stopped midway."""
    marker = paths.data_dir / FIRST_BUILD_MARKER
    pending = marker.exists()
    if built and not pending:
        return
    day_bars = stored_day_bars(paths)
    if not pending and (window_bars < 1 or sum(day_bars.values()) <= window_bars):
        return  # the whole lake fits one window: the run's own build is that pass
    windows = bar_windows(day_bars, window_bars, before)  # none when the run starts at the lake's first day
    spans = [[start.isoformat(), end.isoformat()] for start, end in windows]
    marker.write_text(json.dumps({"windows": spans}) + "\n")

    def build(select: str, *flags: str) -> None:
        # no tests (the run's own build tests its window); one --exclude value (space-separated selectors
        # are a union to dbt): dagster-dbt passes on one value per selection flag
        _run_dbt(dbt, paths, ["build", "--exclude-resource-type", "test", "unit_test", "--select", select,
                              *(["--exclude", exclude] if exclude else []), *flags, *serial])  # serial: build_flags

    log_event("dbt_first_build_windows", bars=window_bars, windows=spans)
    build(WINDOWED_SELECT, "--empty", "--full-refresh")
    for number, (start, end) in enumerate(windows, 1):
        t0 = time.perf_counter()
        with dbt_window_env({"min_date": start.isoformat(), "max_date": end.isoformat()}):
            # the first window also replaces the views `--empty` made (their SQL holds its `limit 0`)
            build(WINDOWED_SELECT if number == 1 else WINDOWED_MODELS)
        say(f"  dbt first build: {start} to {end - timedelta(days=1)} ({number} of {len(windows)}) "
            f"[{duration(time.perf_counter() - t0)}]")
    marker.unlink()


def _run_dbt(dbt: DbtCliResource, paths: Paths, args: list[str]) -> None:
    """One dbt call to its end (its events are not the asset's: the run's own build reports the models)."""
    dbt.cli(args, manifest=dbt_project().manifest_path, target_path=paths.data_dir / "dbt_target").wait()


def _model_name(event: Any) -> str | None:
    """The dbt model an Output / AssetMaterialization event is about (from its unique_id metadata)."""
    if not isinstance(event, (dg.Output, dg.AssetMaterialization)):
        return None
    unique_id = event.metadata.get("unique_id")
    text = getattr(unique_id, "value", unique_id)
    return str(text).rsplit(".", 1)[-1] if isinstance(text, str) and text.startswith("model.") else None


PARTITION_COLUMNS = ("bar_date", "partition_date", "report_date", "run_date")


def table_row_counts(warehouse: Path, names: list[str], min_date: date, max_date: date) -> dict[str, dict[str, Any]]:
    """Per model table: dagster/row_count (all rows) and partition_rows (rows whose date column lies in
    [min_date, max_date)); views are skipped (counting them would rescan the lake)."""
    if not names or not warehouse.exists():
        return {}
    out: dict[str, dict[str, Any]] = {}
    with connect_warehouse(warehouse, read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables where table_type = "
                                            "'BASE TABLE' and table_name in (select unnest(?))", [names]).fetchall()}
        for name in sorted(tables):
            columns = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                                 "where table_name = ?", [name]).fetchall()}
            date_col = next((c for c in PARTITION_COLUMNS if c in columns), None)
            part = (f"count(*) filter (where {date_col} >= ? and {date_col} < ?)" if date_col else "null")
            total, in_window = con.execute(f'select count(*), {part} from "{name}"',
                                           [min_date, max_date] if date_col else []).fetchall()[0]
            out[name] = {"dagster/row_count": int(total), **({"partition_rows": int(in_window)} if date_col else {})}
    return out


@_dbt_assets("warehouse_dbt_assets", exclude=RESULTS_SELECT)
def warehouse_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtRunConfig,
                         warehouse: Warehouse):
    """Staging, bars, features, signals and market marts."""
    yield from _stream_build(context, dbt, config, warehouse, marks_days=True, exclude=RESULTS_SELECT)


@_dbt_assets("results_dbt_assets", select=RESULTS_SELECT)
def results_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtRunConfig,
                       warehouse: Warehouse):
    """Metrics from the backtest ledger (strategy_backtest_results) and the marts from the research and ML
    tables: strategy_overfitting, search_overfitting, strategy_monte_carlo, the portfolio marts, fill_sensitivity and the
    report_* marts the daily report reads."""
    yield from _stream_build(context, dbt, config, warehouse)


defs = dg.Definitions(assets=[warehouse_dbt_assets, results_dbt_assets])
