"""One portfolio day: the designs active after the day's ranking, each run by the single-strategy engine
on every symbol of the research market's out-of-sample window (never before its tuning window ended;
funding from the warehouse), combined into one account under each allocation rule
(python_assets/backtest/portfolio.py), written to the portfolio landing tables. Each Sharpe is annualised
by the bars it is of (a member's, the account's union of them), under the rule strategy_backtest_results
applies to a backtest (backtest/periods.py): 24/7 only where they cover their span."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Callable

import duckdb

from python_assets.backtest import portfolio_store as store
from python_assets.backtest.engine import Costs
from python_assets.backtest.periods import periods_per_year_of_times
from python_assets.backtest.portfolio import (RULES, PortfolioConfig, align, correlation, curve_stats, daily_schedule,
                                              member_stream, run_portfolio, summary)
from python_assets.backtest.reads import load_funding
from python_assets.backtest.runner import Window, dense_signals, rules_for, run_bars, signal_events
from python_assets.backtest.spec import compile_instances, design_spec, instance_id
from python_assets.research.tuner import Market
from python_assets.platform.timeframes import DAY_MS


@dataclass(frozen=True)
class PortfolioDayConfig:
    """The allocation limits shared by every rule, and the rebalance period (ms, default the UTC day)."""

    rebalance_ms: int = DAY_MS
    lookback: int = PortfolioConfig.lookback
    min_history: int = PortfolioConfig.min_history
    max_weight: float = PortfolioConfig.max_weight
    gross_leverage: float = PortfolioConfig.gross_leverage


def member_runs(con: duckdb.DuckDBPyConnection, market: Market, rows: list[dict[str, Any]], costs: Costs
                ) -> list[dict[str, Any]]:
    """Per active design and symbol: bar times, returns, exposure and stats of its engine run."""
    out = []
    funding = {s: load_funding(con, s) for s in market.bars}
    for row in rows:
        spec, params = design_spec(row["key"], row["origin"], row["spec"]), row["params"]
        sid = instance_id(spec, params)
        events = signal_events(market.con, compile_instances([(sid, spec, params)], market.columns, "market",
                                                             market.timeframe), [sid])
        w = market.oos_window
        window = Window("oos", "out_of_sample", max(row["oos_start_ms"], w.start_ms), w.end_ms)
        for symbol, bars in sorted(market.bars.items()):
            sub, res = run_bars(bars, dense_signals(events.get((sid, symbol)), bars), rules_for(spec, params), costs,
                                funding[symbol], window)
            if not len(res.equity):
                continue
            ret, exp = member_stream(res.equity, res.position, sub.close, costs.initial_equity)
            stats = curve_stats(res.equity, costs.initial_equity, periods_per_year_of_times(sub.ms, bars.bar_len_ms))
            out.append({"member_id": f"{row['design_id']}|{symbol}", "design_id": row["design_id"], "symbol": symbol,
                        "params": params, "ms": sub.ms, "returns": ret, "exposure": exp, "trades": int(len(res.size)),
                        "total_return": stats["total_return"], "sharpe": stats["sharpe"],
                        "max_drawdown": stats["max_drawdown"]})
    return out


def portfolio_day(con: duckdb.DuckDBPyConnection, load_market: Callable[[], Market], day: date,
                  cfg: PortfolioDayConfig = PortfolioDayConfig(), costs: Costs = Costs()) -> dict[str, Any]:
    """Run every allocation rule over the day's active members and replace the day's portfolio rows; the
    market is loaded only when some design is active."""
    rows = store.active_members(con, day)
    market = load_market() if rows else None
    members = member_runs(con, market, rows, costs) if market is not None and market.bars else []
    if not members:
        store.write_day(con, day, [], [], [], [])
        return {"members": 0, "rules": 0}
    times, r, live = align([m["ms"] for m in members], [m["returns"] for m in members])
    _, x, _ = align([m["ms"] for m in members], [m["exposure"] for m in members], hold=True)
    ppy = periods_per_year_of_times(times, next(iter(market.bars.values())).bar_len_ms)
    schedule = daily_schedule(times, cfg.rebalance_ms)
    runs, equity = [], []
    for rule in RULES:
        pc = replace(PortfolioConfig(rule=rule, lookback=cfg.lookback, min_history=cfg.min_history,
                                     max_weight=cfg.max_weight, gross_leverage=cfg.gross_leverage),
                     taker_fee=costs.taker_fee, maintenance_margin=costs.maintenance_margin,
                     liquidation_fee=costs.liquidation_fee, initial_equity=costs.initial_equity)
        res = run_portfolio(r, x, schedule, pc, live)
        stats = summary(res, pc.initial_equity, ppy)
        runs.append({"rule": rule, "timeframe": market.timeframe, "members": len(members), "start_ms": int(times[0]),
                     "end_ms": int(times[-1]), "bars": len(times), "rebalance_ms": int(cfg.rebalance_ms),
                     "lookback": pc.lookback, "max_weight": pc.max_weight, "gross_leverage_cap": pc.gross_leverage,
                     "taker_fee": pc.taker_fee, "initial_equity": pc.initial_equity,
                     "final_equity": float(res.equity[-1]), **stats,
                     "liquidated_at_ms": int(times[res.liquidated_at]) if res.liquidated_at >= 0 else None})
        equity += [(rule, int(t), float(e), float(g), float(f))
                   for t, e, g, f in zip(times, res.equity, res.gross_leverage, res.fees)]
        for m, w in zip(members, res.weights[-1]):
            m[f"weight_{rule}"] = float(w)
    corr = correlation(r, live)
    pairs = [(a["member_id"], b["member_id"], float(corr[i, j]))
             for i, a in enumerate(members) for j, b in enumerate(members)]
    store.write_day(con, day, runs, equity, members, pairs)
    return {"members": len(members), "rules": len(runs),
            **{f"return_{x['rule']}": round(x["total_return"], 6) for x in runs}}
