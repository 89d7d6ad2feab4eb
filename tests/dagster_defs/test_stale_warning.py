"""A run that recomputes an earlier day warns in the Dagster log of the later days it leaves continuing from
replaced results, where it marks the day (mark_days_computed), once per run however many of its steps mark
it, with or without daily_report in the run."""

from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg

from dagster_defs.computed_days import mark_days_computed
from dagster_defs.partitions import daily_partitions
from python_assets.reports.staleness import record_computed
from python_assets.warehouse.connection import connect_warehouse

EARLIER, LATER = date(2025, 3, 10), date(2025, 3, 11)


def marking_asset(name: str, deps: list[str], warehouse: Path) -> dg.AssetsDefinition:
    """A step that marks its partition's days as the warehouse build, research and ML's training set do."""

    @dg.asset(name=name, deps=deps, partitions_def=daily_partitions)
    def marks(context: dg.AssetExecutionContext) -> None:  # no __future__ annotations: Dagster reads this one
        with connect_warehouse(warehouse) as con:
            mark_days_computed(context, con)

    return marks


def test_a_run_recomputing_an_earlier_day_warns_once_naming_the_later_days(data_dir):
    with connect_warehouse(data_dir.warehouse) as con:  # both days built by earlier runs, in day order
        record_computed(con, [EARLIER], "run-1", datetime(2025, 4, 1, tzinfo=timezone.utc), "warehouse_dbt_assets")
        record_computed(con, [LATER], "run-2", datetime(2025, 4, 2, tzinfo=timezone.utc), "warehouse_dbt_assets")
    instance = dg.DagsterInstance.ephemeral()
    steps = [marking_asset("build", [], data_dir.warehouse), marking_asset("research", ["build"], data_dir.warehouse)]
    result = dg.materialize(steps, partition_key=EARLIER.isoformat(), instance=instance)
    assert result.success
    warnings = [(r.step_key, r.user_message) for r in instance.all_logs(result.run_id)
                if r.dagster_event is None and r.level == 30]  # logging.WARNING
    assert warnings == [("build", f"{LATER} was built before the latest run of {EARLIER} and continues from its "
                                  f"results as they were then: run again from {LATER}, one day at a time in day order "
                                  f"(blofin-stack materialize --date {LATER}, then each next day; a range run trains "
                                  "models for its last day only)")]

    again = dg.materialize(steps[:1], partition_key=LATER.isoformat(), instance=instance)
    assert again.success  # the later day run again, in day order: nothing left behind, no warning
    assert not [r for r in instance.all_logs(again.run_id) if r.dagster_event is None and r.level == 30]
