"""ML strategies: out-of-sample P(up) of a model or ensemble becomes a spec like any other
(conditions over a p_up column), so its signals are SQL and its fills come from the same engine."""

from __future__ import annotations

from typing import Mapping

import duckdb
import pandas as pd

from python_assets.backtest.engine import Costs
from python_assets.backtest.runner import BacktestJob, run_job
from python_assets.backtest.spec import StrategySpec, resolve_params, spec_from_dict
from python_assets.platform.timeframes import TIMEFRAME_MS

SOURCES = ("direction_predictor", "ensemble_average", "ensemble_stacked")


def ml_spec(source: str, timeframe: str) -> StrategySpec:
    """Long above a P(up) threshold, short below its mirror, out when P(up) crosses back over 0.5."""
    return spec_from_dict({
        "name": f"ml_{source}", "timeframe": timeframe, "side": "both",
        "description": f"Trades the out-of-sample P(up over 12 bars) of {source}.",
        "params": {"long_above": {"default": 0.55, "min": 0.5, "max": 0.95, "type": "float"},
                   "short_below": {"default": 0.45, "min": 0.05, "max": 0.5, "type": "float"}},
        "entry_long": "p_up > long_above", "exit_long": "p_up < 0.5",
        "entry_short": "p_up < short_below", "exit_short": "p_up > 0.5",
    }, frozenset({"p_up"}))


def run_ml_strategies(con: duckdb.DuckDBPyConnection, oos: pd.DataFrame, timeframe: str, costs: Costs, day: str,
                      markets: Mapping[str, str] | None = None) -> list[str]:
    """Backtest each ML source over its out-of-sample span (kind 'ml'; an ensemble only over the rows
    it was not fitted on; markets: each symbol's, a spot one traded long only); returns the backtest_ids."""
    bar_ms = TIMEFRAME_MS[timeframe]
    written = []
    for source in SOURCES:
        if source not in oos:
            continue
        rows = oos if not source.startswith("ensemble") else oos[~oos["ensemble_fitted_on"]]
        frame = pd.DataFrame({"symbol": rows["symbol"], "timeframe": timeframe, "bar_at_ms": rows["bar_at_ms"],
                              "p_up": rows[source]})
        con.register("ml_signal_inputs", frame)
        try:
            spec = ml_spec(source, timeframe)
            job = BacktestJob(spec=spec, grid=[resolve_params(spec, {})], symbols=sorted(frame["symbol"].unique()),
                              timeframe=timeframe, start_ms=int(frame["bar_at_ms"].min()),
                              end_ms=int(frame["bar_at_ms"].max()) + bar_ms, costs=costs, run_id=f"daily-{day}",
                              kind="ml", source="warehouse", features_relation="ml_signal_inputs",
                              partition_date=day, columns=frozenset({"p_up"}), markets=dict(markets or {}))
            written += run_job(con, job)
        finally:
            con.unregister("ml_signal_inputs")
    return written
