"""The one Definitions object: each domain's defs merged, plus the shared resources."""

from __future__ import annotations

import dagster as dg

from dagster_defs.backtests import assets as backtest_assets
from dagster_defs.dbt import assets as dbt_assets
from dagster_defs.ingest import assets as ingest_assets
from dagster_defs.ml import assets as ml_assets
from dagster_defs.portfolio import assets as portfolio_assets
from dagster_defs.research import assets as research_assets
from dagster_defs.reports import assets as report_assets
from dagster_defs.resources import resources
from dagster_defs import checks, schedules, sensors


def build_defs() -> dg.Definitions:
    return dg.Definitions.merge(
        ingest_assets.defs,
        dbt_assets.defs,
        backtest_assets.defs,
        ml_assets.defs,
        research_assets.defs,
        portfolio_assets.defs,
        report_assets.defs,
        schedules.build_defs(),
        checks.defs,
        sensors.defs,
        dg.Definitions(resources=resources()),
    )


defs = build_defs()
