"""The research marts are built by a dbt asset of their own after the research steps (no cycle through
the warehouse dbt asset), with the ledger metrics in the same dbt call, and the daily report waits for them."""

from __future__ import annotations

import dagster as dg

from dagster_defs.definitions import defs


def test_research_marts_run_after_ranking_and_before_the_report():
    graph = defs.resolve_asset_graph()
    overfitting, monte_carlo = dg.AssetKey("strategy_overfitting"), dg.AssetKey("strategy_monte_carlo")
    assert {dg.AssetKey("strategy_ranking"), dg.AssetKey("strategy_tuning")} <= graph.get(overfitting).parent_keys
    assert dg.AssetKey("strategy_ranking") in graph.get(monte_carlo).parent_keys
    assert {overfitting, monte_carlo} <= graph.get(dg.AssetKey("daily_report")).parent_keys
    # built by their own dbt step, not by the warehouse build that the research steps read from
    assert graph.get(overfitting).assets_def.node_def.name == "results_dbt_assets"
    # the ledger metrics share that call: no Python asset sits between them and the research marts
    assert graph.get(dg.AssetKey("strategy_backtest_results")).assets_def.node_def.name == "results_dbt_assets"
    assert graph.get(dg.AssetKey("features")).assets_def.node_def.name == "warehouse_dbt_assets"
    keys = {k.to_user_string() for k in defs.resolve_job_def("daily_job").asset_layer.executable_asset_keys}
    assert {"strategy_overfitting", "strategy_monte_carlo"} <= keys
