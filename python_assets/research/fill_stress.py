"""Fill-assumption stress of the day's top-ranked designs: each one re-evaluated out of sample (same
window, parameters and costs as its ranking) under every fill mode of backtest/fills.py, and flagged
when its edge (net return > 0 and Sharpe > 0) holds under next open but not under a stricter fill. The
strict fills are priced at the execution horizon, the warehouse's 1m bars (fills.execution_horizon), where
it has them; the spread fill takes the recorded order book's half spread at the signal bar's close
(feat_book, fills.book_spread) where the live recorder wrote one, and each spread row says what share of
its fills that priced."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import duckdb

from python_assets.backtest.engine import Costs
from python_assets.backtest.fill_store import write_fill_stress
import numpy as np

from python_assets.backtest.fills import (DEFAULT_FILL, FILL_MODES, SPREAD_RANGE_FRACTION, STRICT_FILLS,
                                          book_spread, execution_horizon)
from python_assets.backtest.runner import Execution
from python_assets.backtest.spec import StrategySpec
from python_assets.research.daily import DESIGNS_AS_OF, oos_start_sql
from python_assets.research.design_specs import DesignUnavailable, design_strategy, unavailable_note
from python_assets.research.tuner import UNRUNNABLE, Market, evaluate
from python_assets.platform.timeframes import MINUTE_MS
from python_assets.warehouse.connection import table_exists

TOP_K = 5


def has_edge(net_return: float | None, sharpe: float | None) -> bool:
    """A positive net return and a positive Sharpe (NaN or missing is no edge)."""
    return net_return is not None and sharpe is not None and net_return > 0 and sharpe > 0


def edge_survives(by_mode: dict[str, dict[str, Any]]) -> bool | None:
    """None when next open shows no edge (nothing to lose); else whether every strict fill keeps it."""
    if not by_mode[DEFAULT_FILL]["has_edge"]:
        return None
    return all(by_mode[m]["has_edge"] for m in STRICT_FILLS if m in by_mode)


def book_spread_share(market: Market, fill_ms: dict[str, np.ndarray]) -> float | None:
    """Share of the signal-order fills (bar open times per symbol) whose spread came from a recorded book
    (Execution.from_book); None without fills."""
    used = total = 0
    for symbol, ms in fill_ms.items():
        total += len(ms)
        ex = market.execution.get(symbol)
        if len(ms) and ex is not None and ex.from_book is not None:
            used += int(ex.from_book[np.searchsorted(market.bars[symbol].ms, ms)].sum())
    return used / total if total else None


def stress_rows(market: Market, spec: StrategySpec, params: dict[str, Any], design: dict[str, Any],
                costs: Costs) -> list[dict[str, Any]]:
    """One row per fill mode of a design (design_id, design_key, rank, oos_start_ms): out-of-sample net
    return, per-bar Sharpe, trades, the two flags and, on the spread row, the share of its fills priced
    from a recorded book (None on the other rows)."""
    by_mode = {}
    for mode in FILL_MODES:
        ev = evaluate(market, spec, params, costs, oos_start_ms=design["oos_start_ms"], fill=mode)
        sharpe = None if ev.oos_sharpe != ev.oos_sharpe else float(ev.oos_sharpe)
        by_mode[mode] = {"design_id": design["design_id"], "design_key": design["design_key"], "fill_mode": mode,
                         "rank": design["rank"], "net_return": float(ev.oos_return),
                         "sharpe": sharpe, "trades": int(ev.oos_trades), "has_edge": has_edge(ev.oos_return, sharpe),
                         "spread_fraction": SPREAD_RANGE_FRACTION,
                         "book_spread_share": book_spread_share(market, ev.oos_fill_ms) if mode == "spread" else None}
    survives = edge_survives(by_mode)
    return [{**row, "edge_survives": survives} for row in by_mode.values()]


def top_designs(con: duckdb.DuckDBPyConnection, day: date, top_k: int) -> list[dict[str, Any]]:
    """The day's top_k ranked designs with their spec row (key, origin, spec), tuned parameters and out-of-sample start."""
    if not (table_exists(con, "ranking_history") and table_exists(con, "strategy_tuning")):
        return []
    start = oos_start_sql(con)
    found = con.execute(f"""
        with tuned as (select design_id, arg_max(best_params, run_date) as params,
                              arg_max({start}, run_date) as oos_start from strategy_tuning where run_date <= ? group by design_id)
        select h.design_id, h.rank, d.design_key, d.origin, cast(d.spec as varchar), cast(t.params as varchar), t.oos_start
        from ranking_history h join {DESIGNS_AS_OF.format(op='<=')} d using (design_id) join tuned t using (design_id)
        where h.run_date = ? order by h.rank limit ?""", [day, day, day, top_k]).fetchall()
    return [{"design_id": r[0], "rank": r[1], "design_key": r[2], "origin": r[3], "spec": json.loads(r[4]),
             "params": json.loads(r[5]), "oos_start_ms": r[6]} for r in found]


def minute_execution(con: duckdb.DuckDBPyConnection, market: Market) -> dict[str, Execution]:
    """Per symbol of the market: worst prices and spread from the warehouse's bars_1m over the market's
    window (none before its first bar's signal minute, none at or after its end); {} without bars_1m."""
    if not table_exists(con, "bars_1m"):
        return {}
    start, end = market.is_window.start_ms - MINUTE_MS, market.oos_window.end_ms
    out = {}
    for symbol, bars in market.bars.items():
        m = con.execute("select bar_at_ms, high, low, close from bars_1m where symbol = ? and bar_at_ms >= ? "
                        "and bar_at_ms < ? order by bar_at_ms", [symbol, start, end]).fetchnumpy()
        out[symbol] = Execution(*execution_horizon(bars.ms, m["bar_at_ms"], m["high"], m["low"], m["close"]))
    return out


def book_execution(con: duckdb.DuckDBPyConnection, market: Market) -> dict[str, np.ndarray]:
    """Per symbol of the market with a book: the spread fill's half spread from the warehouse's feat_book
    (fills.book_spread: the book at the signal bar's close, NaN where none) over the market's window, on
    its timeframe's bars; {} without feat_book, a symbol left out where it has no book there."""
    if not table_exists(con, "feat_book"):
        return {}
    out = {}
    for symbol, bars in market.bars.items():
        b = con.execute("select bar_at_ms, spread_bps from feat_book where symbol = ? and timeframe = ? "
                        "and bar_at_ms >= ? and bar_at_ms < ? and spread_bps is not null order by bar_at_ms",
                        [symbol, market.timeframe, market.is_window.start_ms, market.oos_window.end_ms]).fetchnumpy()
        if len(b["bar_at_ms"]):
            out[symbol] = book_spread(bars.ms, b["bar_at_ms"], b["spread_bps"])
    return out


def stress_execution(con: duckdb.DuckDBPyConnection, market: Market) -> dict[str, Execution]:
    """minute_execution with the spread fill's half spread taken from the recorded book wherever the signal
    bar has one (book_execution; else the minute's estimate, else the bar's): what the stress fills use."""
    out, books = minute_execution(con, market), book_execution(con, market)
    for symbol, book in books.items():
        nan = np.full(len(book), np.nan)
        base = out.get(symbol) or Execution(nan, nan, nan)
        has = ~np.isnan(book)
        out[symbol] = Execution(base.worst_high, base.worst_low, np.where(has, book, base.spread), has)
    return out


def stress_day(con: duckdb.DuckDBPyConnection, market: Market, day: date, top_k: int = TOP_K,
               costs: Costs = Costs()) -> dict[str, Any]:
    """Stress the day's top designs under every fill mode into fill_stress_results (replacing the day); a design
    whose spec is gone, changed or does not run (research/design_specs.py) is left out with a note."""
    market = replace(market, execution=stress_execution(con, market))
    rows, left_out = [], []
    for d in top_designs(con, day, top_k):
        try:
            rows += stress_rows(market, design_strategy(d["design_key"], d["origin"], d["spec"], market.timeframe), d["params"], d, costs)
        except (DesignUnavailable, *UNRUNNABLE) as exc:
            left_out.append(unavailable_note(d["design_id"], exc))
    write_fill_stress(con, day, rows)
    lost = sorted({r["design_id"] for r in rows if r["edge_survives"] is False})
    return {"designs": len({r["design_id"] for r in rows}), "rows": len(rows), "edge_lost": lost,
            **({"left_out": "; ".join(left_out)} if left_out else {})}
