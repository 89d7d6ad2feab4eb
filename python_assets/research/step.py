"""The research step's body (design -> tune -> rank, day after day) on its own warehouse connection, so the
step can run it in a child process (platform.fanout.in_child): the tuning's imports (numba and its compiled
engine, the trial matrices) and its heap's high-water mark then leave with the child instead of staying in
the Dagster process beside the ML steps and the results build that follow (~220 MiB at 120 days)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from python_assets.backtest.engine import DAILY_COSTS
from python_assets.platform.fanout import batch_mapper
from python_assets.research.daily import ResearchConfig, run_day
from python_assets.research.markets import market_from_warehouse, record_market, researched_market
from python_assets.research.tuner import Market
from python_assets.warehouse.connection import connect_warehouse


def research_days(warehouse: Path, days: list[tuple[date, int]], timeframe: str, lookback_days: int,
                  config: ResearchConfig, workers: int, batch_size: int,
                  markets: dict[str, str] | None = None) -> dict[str, Any]:
    """run_day for each (day, end_ms) in order, each on the market of the lookback window ending at end_ms
    (markets: each symbol's, spot or perp, from the lake): the designs, trials and rounds summed over the
    days, and the last day's ranking summary; the trials pruned because a spec cannot run there summed, and
    the days' notes (designs left out, such trials: run_day), each text once, joined into one line."""
    made = trials = rounds = invalid = 0
    summary: dict[str, Any] = {}
    notes: dict[str, None] = {}
    with connect_warehouse(warehouse) as con, batch_mapper(workers, batch_size) as map_batches:
        for day, end_ms in days:
            summary = run_day(con, market_from_warehouse(con, timeframe, end_ms, lookback_days, markets), day, config,
                              DAILY_COSTS, map_batches=map_batches)
            record_market(con, day, timeframe, lookback_days)
            made, trials, rounds = made + summary.pop("designs"), trials + summary.pop("trials"), rounds + summary.pop("rounds")
            invalid += summary.pop("invalid_trials", 0)
            notes.update(dict.fromkeys(summary.pop("notes", [])))
    return {"designs": made, "trials": trials, "rounds": rounds, **summary,
            **({"invalid_trials": invalid} if invalid else {}), **({"notes": "; ".join(notes)} if notes else {})}


def _researched(con: duckdb.DuckDBPyConnection, day: date, end_ms: int, markets: dict[str, str] | None) -> Market:
    """The market of the day's research (its timeframe and window: markets.researched_market) ending at end_ms."""
    timeframe, lookback_days = researched_market(con, day)
    return market_from_warehouse(con, timeframe, end_ms, lookback_days, markets)


def fill_stress_days(warehouse: Path, days: list[tuple[date, int]], top_k: int,
                     markets: dict[str, str] | None = None) -> dict[str, Any]:
    """stress_day for each (day, end_ms) in order, on the market the day's research recorded (the step runs it
    in a child, as research_days; markets as there): the last day's summary."""
    from python_assets.research.fill_stress import stress_day

    summary: dict[str, Any] = {}
    with connect_warehouse(warehouse) as con:
        for day, end_ms in days:
            summary = stress_day(con, _researched(con, day, end_ms, markets), day, top_k, DAILY_COSTS)
    return summary


def portfolio_days(warehouse: Path, days: list[tuple[date, int]], config: Any,
                   markets: dict[str, str] | None = None) -> dict[str, Any]:
    """portfolio_day for each (day, end_ms) in order on the market the day's research recorded (the step runs
    it in a child, as research_days; markets as there), its market read only when the day has strategies to
    combine: the last day's summary."""
    from python_assets.backtest.portfolio_daily import portfolio_day

    summary: dict[str, Any] = {}
    with connect_warehouse(warehouse) as con:
        for day, end_ms in days:
            summary = portfolio_day(con, lambda: _researched(con, day, end_ms, markets), day, config, DAILY_COSTS)
    return summary
