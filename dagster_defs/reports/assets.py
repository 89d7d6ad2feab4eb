"""The daily report asset: data/reports/YYYY-MM-DD.json plus a row in the daily_reports table."""


import json
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from dagster_defs.computed_days import run_started_at
from dagster_defs.dbt.assets import results_dbt_assets, warehouse_dbt_assets
from dagster_defs.resources import WAREHOUSE_POOL, Warehouse
from dagster_defs.partitions import daily_partitions, window_days
from python_assets.config import Paths
from python_assets.platform.logs import log_event
from python_assets.reports.daily_report import (ReportError, markdown_summary, produce_daily_report, rebuild_run_facts,
                                                require_computed)
from python_assets.reports.staleness import computing_runs, window_notes
from python_assets.warehouse.connection import connect_warehouse
from python_assets.warehouse.snapshot import publish_snapshot


def run_facts(context: dg.AssetExecutionContext) -> tuple[dict, list[dict[str, str]]]:
    """Start time, seconds per finished step and the failed asset checks of this run (with what each found, its
    description, where it gives one), from Dagster's event log."""
    stage, failed, stamps = {}, [], []
    for record in context.instance.all_logs(context.run.run_id):
        stamps.append(record.timestamp)
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_SUCCESS":
            stage[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 3)
        elif event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
            data = event.event_specific_data
            failed.append({"asset": data.asset_key.to_user_string(), "check": data.check_name,
                           **({"description": data.description} if data.description else {})})
    started = run_started_at(context).isoformat(timespec="seconds") if stamps else None
    return {"started_at": started, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "stage_seconds": stage}, failed


def rendered_again(paths: Paths, days: list[date], run: dg.DagsterRun) -> set[date]:
    """The window's days this run did not recompute (computed_days; a re-execution from failure counts the
    runs it re-executes): their reports are rendered again (daily_report alone, or without the steps that
    mark days), so each must have been computed by a run."""
    with connect_warehouse(paths.warehouse, read_only=True, must_exist=True) as con:
        runs = computing_runs(con)
    this_run = {run.run_id, run.parent_run_id, run.root_run_id} - {None}
    again = {day for day in days if runs.get(day) not in this_run}
    try:
        for day in sorted(again):  # before anything is written: a day with bars only would look healthy, no results
            require_computed(paths, day)
    except ReportError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    return again


# The marts the report's strategy, walk-forward, ML and research sections select one day from.
REPORT_MARTS = ("report_strategies", "report_walk_forward", "report_ml_models", "report_ml_ensembles",
                "report_ml_predictions", "report_research_ranking", "report_research_designs", "report_trades",
                "report_equity")


@dg.asset(
    deps=[get_asset_key_for_model([warehouse_dbt_assets], "daily_market_summary"),
          get_asset_key_for_model([results_dbt_assets], "strategy_backtest_results"),
          dg.AssetKey("ml_results"), dg.AssetKey("strategy_ranking"),
          get_asset_key_for_model([results_dbt_assets], "strategy_overfitting"),
          get_asset_key_for_model([results_dbt_assets], "search_overfitting"),
          get_asset_key_for_model([results_dbt_assets], "strategy_monte_carlo"),
          get_asset_key_for_model([results_dbt_assets], "portfolio_backtest_results"),
          get_asset_key_for_model([results_dbt_assets], "fill_sensitivity"),
          *(get_asset_key_for_model([results_dbt_assets], name) for name in REPORT_MARTS)],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reports",
    pool=WAREHOUSE_POOL,
    kinds={"json", "duckdb"},
)
def daily_report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """The daily product: market, strategies, walk-forward, ML, research, failed checks and the
    analyst review, as JSON (schema-validated) and a self-contained HTML page."""
    written = []
    facts, failed = run_facts(context)
    days = window_days(*context.partition_time_window)
    with warehouse.locked() as p:
        again = rendered_again(p, days, context.run)
        for day in days:
            if day in again:
                run, checks = rebuild_run_facts(p, day, "dagster")
            else:
                run, checks = {"run_id": context.run.run_id, "partition": day.isoformat(), **facts}, failed
            path = produce_daily_report(p, day, run=run, failed_checks=checks)
            log_event("daily_report_written", day=day.isoformat(), path=str(path))
            written.append(str(path))
        with connect_warehouse(p.warehouse, read_only=True, must_exist=True) as con:
            built_on, later = window_notes(con, days[0], days[-1])
    stale = built_on + ([later] if later else [])
    # days built before an earlier day's latest run continue from its replaced results; the later days a run
    # that recomputed days left behind were logged where it marked them (mark_days_computed)
    for note in stale if len(again) == len(days) else built_on:
        context.log.warning(note)
        log_event("days_built_on_replaced_results", note=note)
    latest = json.loads(Path(written[-1]).read_text())
    html_path = Path(written[-1]).with_suffix(".html")
    return dg.MaterializeResult(metadata={
        "paths": written, "latest": dg.MetadataValue.path(written[-1]),
        "html": dg.MetadataValue.url(html_path.as_uri()),
        "symbols": len(latest["symbols"]), "findings": len(latest["review"]["findings"]),
        "summary": dg.MetadataValue.md(markdown_summary(latest)),
        **({"stale_days": "\n".join(stale)} if stale else {}),
    })


@dg.asset(
    deps=[daily_report],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reports",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
)
def warehouse_snapshot(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Read-only copy of the warehouse after the run (what `blofin-stack query` reads)."""
    with warehouse.locked() as p:
        path = publish_snapshot(p)
    log_event("warehouse_snapshot_published", path=str(path))
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size})


defs = dg.Definitions(assets=[daily_report, warehouse_snapshot])
