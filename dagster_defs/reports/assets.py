"""The daily report asset: data/reports/YYYY-MM-DD.json plus a row in the daily_reports table."""


import dagster as dg
from dagster_dbt import get_asset_key_for_model

from dagster_defs.dbt.assets import backtest_metrics_dbt_assets, warehouse_dbt_assets
from dagster_defs.resources import WAREHOUSE_POOL
from dagster_defs.partitions import daily_partitions, window_days
from python_assets.config import paths
from python_assets.logs import log_event
from python_assets.reports.daily_report import produce_daily_report
from python_assets.snapshot import publish_snapshot


@dg.asset(
    deps=[get_asset_key_for_model([warehouse_dbt_assets], "daily_market_summary"),
          get_asset_key_for_model([backtest_metrics_dbt_assets], "strategy_backtest_results"),
          dg.AssetKey("ml_results"), dg.AssetKey("strategy_ranking")],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reports",
    pool=WAREHOUSE_POOL,
    kinds={"json", "duckdb"},
)
def daily_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Per-symbol market numbers, the day's best backtests and the ML predictions and scores."""
    p = paths()
    written = []
    for day in window_days(*context.partition_time_window):
        path = produce_daily_report(p, day, run={"run_id": context.run.run_id, "partition": day.isoformat()})
        log_event("daily_report_written", day=day.isoformat(), path=str(path))
        written.append(str(path))
    return dg.MaterializeResult(metadata={"paths": written, "latest": dg.MetadataValue.path(written[-1])})


@dg.asset(
    deps=[daily_report],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reports",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
)
def warehouse_snapshot(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Read-only copy of the warehouse after the run (what `blofin-stack query` reads)."""
    path = publish_snapshot(paths())
    log_event("warehouse_snapshot_published", path=str(path))
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size})


defs = dg.Definitions(assets=[daily_report, warehouse_snapshot])
