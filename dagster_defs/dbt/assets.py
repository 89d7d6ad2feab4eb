"""All dbt models as one daily-partitioned dagster-dbt asset; the partition window becomes dbt vars."""


import json
from datetime import datetime

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_defs.dbt.project import dbt_project
from dagster_defs.dbt.translator import BlofinDbtTranslator
from dagster_defs.partitions import daily_partitions
from dagster_defs.resources import WAREHOUSE_POOL, Warehouse
from python_assets.logs import log_event


def partition_dbt_vars(start: datetime, end: datetime) -> dict[str, str]:
    """The window [start, end) as dbt's min_date / max_date (UTC dates, end exclusive)."""
    return {"min_date": start.date().isoformat(), "max_date": end.date().isoformat()}


def dbt_build_args(start: datetime, end: datetime, full_refresh: bool = False) -> list[str]:
    """`dbt build` for a window: models and data tests. Unit tests check the SQL, not the day's data,
    so they run in the test suite (dbt's advice for production), not in every run. A full refresh
    rebuilds incremental models from the whole lake."""
    args = ["build", "--vars", json.dumps(partition_dbt_vars(start, end)), "--exclude-resource-type", "unit_test"]
    return args + ["--full-refresh"] if full_refresh else args


class DbtRunConfig(dg.Config):
    full_refresh: bool = False


# Models tagged `ledger` read the backtest ledger that a Python asset writes after backtest_signals:
# they are a second dbt asset so the graph has no cycle (dbt -> Python -> dbt).
LEDGER_SELECT = "tag:ledger"


def _dbt_assets(name: str, select: str = "fqn:*", exclude: str | None = None):
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


def _stream_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtRunConfig, warehouse: Warehouse):
    window = context.partition_time_window
    args = dbt_build_args(window.start, window.end, config.full_refresh)
    # dbt writes the warehouse from its own process: this step holds the writer lock while it runs.
    with warehouse.for_subprocess() as paths:
        log_event("dbt_build_started", args=args)
        # One target dir under the data dir, replaced each run (dagster-dbt's default leaves a new
        # folder in dbt_project/target per run).
        yield from dbt.cli(args, context=context, target_path=paths.data_dir / "dbt_target").stream()
    log_event("dbt_build_finished", min_date=window.start.date().isoformat(), max_date=window.end.date().isoformat())


@_dbt_assets("warehouse_dbt_assets", exclude=LEDGER_SELECT)
def warehouse_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtRunConfig,
                         warehouse: Warehouse):
    """Staging, bars, features, signals and market marts."""
    yield from _stream_build(context, dbt, config, warehouse)


@_dbt_assets("backtest_metrics_dbt_assets", select=LEDGER_SELECT)
def backtest_metrics_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtRunConfig,
                                warehouse: Warehouse):
    """Metrics from the backtest ledger (strategy_backtest_results)."""
    yield from _stream_build(context, dbt, config, warehouse)


defs = dg.Definitions(assets=[warehouse_dbt_assets, backtest_metrics_dbt_assets])
