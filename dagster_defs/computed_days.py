"""The days a step recomputes, marked in computed_days (python_assets/reports/staleness.py) before it
writes: called by the steps later days continue from (warehouse_dbt_assets: bars, carried features and
look-back windows; strategy_research: the ranking the next day's designs breed from; ml_dataset: the
training set of the model versions later days reuse), so a day rerun counts even when its run fails
after them, and a run that only renders the report (daily_report alone) marks nothing. The first step of a
run to mark its days warns, in the Dagster log, of the later days it leaves continuing from replaced results."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import duckdb

from dagster_defs.partitions import window_days
from python_assets.platform.logs import log_event
from python_assets.reports.staleness import computing_runs, record_computed, window_notes


def run_started_at(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> datetime:
    """The start of the step's run: the time of its first event (the same for every step of the run)."""
    first = context.instance.get_records_for_run(context.run.run_id, limit=1).records
    return datetime.fromtimestamp(first[0].timestamp, tz=timezone.utc) if first else datetime.now(timezone.utc)


def mark_days_computed(context: dg.AssetExecutionContext, con: duckdb.DuckDBPyConnection) -> None:
    """Mark the partition window's days as recomputed by this run (call under the writer lock, before writing);
    the first step of the run to mark them logs the later days this leaves continuing from replaced results
    (a subset recomputing an earlier day warns without daily_report in it)."""
    days, run_id = window_days(*context.partition_time_window), context.run.run_id
    first_mark = any(computing_runs(con).get(day) != run_id for day in days)
    record_computed(con, days, run_id, run_started_at(context), context.op_execution_context.op.name)
    later = window_notes(con, days[0], days[-1])[1] if first_mark else None
    if later:
        context.log.warning(later)
        log_event("days_built_on_replaced_results", note=later)
