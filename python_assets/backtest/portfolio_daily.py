"""One portfolio day: the designs active after the day's ranking, each run by the single-strategy engine
on every symbol of the research market's out-of-sample window (never before its tuning window ended;
funding from the warehouse), combined into one account under each allocation rule
(python_assets/backtest/portfolio.py), written to the portfolio landing tables. That account is in-sample
for its members' choice (the ranking judged them on the same window); the forward record is not: each day,
an account over the designs active after the ranking before the day, run on that day's bars only. Each Sharpe is annualised
by the bars it is of (a member's, the account's union of them), under the rule strategy_backtest_results
applies to a backtest (backtest/periods.py): 24/7 only where they cover their span."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Callable

import duckdb
import numpy as np

from python_assets.backtest import portfolio_store as store
from python_assets.backtest.engine import Costs
from python_assets.backtest.periods import periods_per_year_of_times
from python_assets.backtest.portfolio import (RULES, PortfolioConfig, align, correlation, curve_stats, daily_schedule,
                                              member_stream, run_portfolio, summary)
from python_assets.backtest.markets import market_of, runs_on
from python_assets.backtest.reads import NO_FUNDING
from python_assets.backtest.runner import Window, dense_signals, rules_for, run_bars, signal_events
from python_assets.backtest.spec import compile_instances, instance_id
from python_assets.research.design_specs import DesignUnavailable, design_strategy, unavailable_note
from python_assets.research.tuner import UNRUNNABLE, Market
from python_assets.platform.timeframes import DAY_MS, HOUR_MS


@dataclass(frozen=True)
class PortfolioDayConfig:
    """The allocation limits shared by every rule, and the rebalance period (ms, default the UTC day)."""

    rebalance_ms: int = DAY_MS
    lookback: int = PortfolioConfig.lookback
    min_history: int = PortfolioConfig.min_history
    max_weight: float = PortfolioConfig.max_weight
    gross_leverage: float = PortfolioConfig.gross_leverage

    def __post_init__(self) -> None:
        """One clear error for a rebalance period that is no period (0 rebalanced never: every rule kept its
        opening shares and read as equal weight; a negative one rebalanced at every bar)."""
        if not self.rebalance_ms > 0:
            raise ValueError(f"the portfolio's rebalance period must be > 0 (rebalance_hours >= 1), got "
                             f"{self.rebalance_ms / HOUR_MS:g} h")


@dataclass
class RunCache:
    """A day's engine runs by (design, parameters, window start): the day's members and the forward record's
    (mostly the same designs) run once; left_out: a note per design whose spec is gone, changed or does not
    run (research/design_specs.py), which has no member."""

    runs: dict[tuple, list[dict[str, Any]]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)


def member_runs(market: Market, rows: list[dict[str, Any]], costs: Costs,
                cache: RunCache | None = None) -> list[dict[str, Any]]:
    """Per active design and symbol: bar times, returns, exposure and stats of its engine run."""
    cache = cache or RunCache()
    out = []
    for row in rows:
        key = (row["design_id"], json.dumps(row["params"], sort_keys=True), row["oos_start_ms"])
        if key not in cache.runs:
            try:
                cache.runs[key] = _design_runs(market, row, costs)
            except (DesignUnavailable, *UNRUNNABLE) as exc:
                cache.runs[key], cache.left_out[row["design_id"]] = [], unavailable_note(row["design_id"], exc)
        out += [dict(m) for m in cache.runs[key]]
    return out


def _design_runs(market: Market, row: dict[str, Any], costs: Costs) -> list[dict[str, Any]]:
    """One design's engine run on every symbol of the market's out-of-sample window (from its own start), with
    the market's funding and contract specs (as its research evaluation and the daily backtest)."""
    spec, params = design_strategy(row["key"], row["origin"], row["spec"], market.timeframe), row["params"]
    sid = instance_id(spec, params)
    events = signal_events(market.con, compile_instances([(sid, spec, params)], market.columns, "market",
                                                         market.timeframe), [sid])
    w = market.oos_window
    window = Window("oos", "out_of_sample", max(row["oos_start_ms"], w.start_ms), w.end_ms)
    out = []
    for symbol, bars in sorted(market.bars.items()):
        kind = market_of(market.markets, symbol)
        if not runs_on(spec.side, kind):  # a short-only design has no member on a spot symbol
            continue
        sub, res = run_bars(bars, dense_signals(events.get((sid, symbol)), bars), rules_for(spec, params), costs,
                            market.funding.get(symbol, NO_FUNDING), window, market.instruments.get(symbol),
                            market=kind)
        if not len(res.equity):
            continue
        ret, exp = member_stream(res.equity, res.position, sub.close, costs.initial_equity)
        stats = curve_stats(res.equity, costs.initial_equity, periods_per_year_of_times(sub.ms, bars.bar_len_ms))
        out.append({"member_id": f"{row['design_id']}|{symbol}", "design_id": row["design_id"], "symbol": symbol,
                    "params": params, "ms": sub.ms, "returns": ret, "exposure": exp, "trades": int(len(res.size)),
                    "total_return": stats["total_return"], "sharpe": stats["sharpe"],
                    "max_drawdown": stats["max_drawdown"]})
    return out


def _rule_config(rule: str, cfg: PortfolioDayConfig, costs: Costs) -> PortfolioConfig:
    """The account's settings under one allocation rule: the day's limits, the engine's fees and margin."""
    return replace(PortfolioConfig(rule=rule, lookback=cfg.lookback, min_history=cfg.min_history,
                                   max_weight=cfg.max_weight, gross_leverage=cfg.gross_leverage),
                   taker_fee=costs.taker_fee, maintenance_margin=costs.maintenance_margin,
                   liquidation_fee=costs.liquidation_fee, initial_equity=costs.initial_equity)


def _combined(members: list[dict[str, Any]], cfg: PortfolioDayConfig
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bar times, returns, exposure, live mask, rebalance schedule) of the members on their union of bars."""
    times, r, live = align([m["ms"] for m in members], [m["returns"] for m in members])
    _, x, _ = align([m["ms"] for m in members], [m["exposure"] for m in members], hold=True)
    return times, r, x, live, daily_schedule(times, cfg.rebalance_ms)


def _key(member: dict[str, Any]) -> tuple[str, str]:
    """A member of the forward account as its holdings name it: member_id and parameters (JSON, keys sorted)."""
    return member["member_id"], json.dumps(member["params"], sort_keys=True)


def forward_day(members: list[dict[str, Any]], selected_on: date, day: date, cfg: PortfolioDayConfig, costs: Costs,
                previous: dict[str, dict[tuple[str, str], tuple[float, float]]]) -> tuple[list[dict[str, Any]], list[tuple]]:
    """The forward record's day under each rule, and its holdings at the day's last close: an account over the
    members an earlier ranking chose (weights from their returns before the day), run on the day's bars only,
    so out of sample for that choice. It opens by trading from `previous` (the record's holdings at the close
    before, store.forward_holdings) to its weights at the taker fee: a member kept with the same parameters
    pays only for the change of its allocation, one no longer held (or re-tuned) is closed. A member whose bars
    ended before the day (a delisted symbol) is not live at the opening: weight 0, its holding closed at no
    fee (its engine closed the position at its last bar: exposure 0). With no member or no bar on the day the
    account holds cash (after closing what it held)."""
    keys = [_key(m) for m in members]
    kept, start, stop = set(keys), 0, 0
    if members:
        times, r, x, live, schedule = _combined(members, cfg)
        day_ms = (day - date(1970, 1, 1)).days * DAY_MS
        start, stop = (int(v) for v in np.searchsorted(times, [day_ms, day_ms + DAY_MS]))  # the day's bars only
    rows, holdings = [], []
    for rule in RULES:
        pc = _rule_config(rule, cfg, costs)
        before = previous.get(rule, {})
        held = np.array([before.get(k, (0.0, 0.0))[0] for k in keys])
        closing = sum(h * e for k, (h, e) in sorted(before.items()) if k not in kept)
        row = {"rule": rule, "selected_on": selected_on, "members": len(members), "initial_equity": pc.initial_equity,
               "min_history": pc.min_history}
        if start >= stop:
            fee = pc.taker_fee * pc.initial_equity * closing
            rows.append({**row, "bars": 0, "start_ms": None, "end_ms": None, "day_return": -fee / pc.initial_equity,
                         "fees_paid": fee, "gross_leverage_max": 0.0, "liquidated_at_ms": None, "rebalances": 0,
                         "fallback_rebalances": 0})
            continue
        res = run_portfolio(r[:stop], x[:stop], schedule[:stop], pc, live[:stop], start, held, closing)
        rows.append({**row, "bars": stop - start, "start_ms": int(times[start]), "end_ms": int(times[stop - 1]),
                     "day_return": float(res.equity[-1] / pc.initial_equity - 1),
                     "fees_paid": float(res.fees[start:].sum()),
                     "gross_leverage_max": float(res.gross_leverage[start:].max()),
                     "liquidated_at_ms": int(times[res.liquidated_at]) if res.liquidated_at >= 0 else None,
                     "rebalances": res.rebalances, "fallback_rebalances": res.fallbacks})
        holdings += [(rule, k[0], k[1], float(h), float(x[stop - 1, i]))
                     for i, (k, h) in enumerate(zip(keys, res.holdings)) if h != 0]
    return rows, holdings


def portfolio_day(con: duckdb.DuckDBPyConnection, load_market: Callable[[], Market], day: date,
                  cfg: PortfolioDayConfig = PortfolioDayConfig(), costs: Costs = Costs()) -> dict[str, Any]:
    """Run every allocation rule over the day's active members and the forward record's day over the members
    of the ranking before it; replace the day's portfolio rows. The market is loaded only when some design is
    active. A design whose spec is gone, changed or does not run has no member, and a note (left_out)."""
    rows = store.active_members(con, day)
    selected_on = store.prior_ranking_day(con, day)
    earlier = store.active_members(con, selected_on) if selected_on is not None else []
    market = load_market() if rows or earlier else None
    cache = RunCache()
    live_market = market is not None and bool(market.bars)
    members = member_runs(market, rows, costs, cache) if live_market and rows else []
    forward, holdings = ([], []) if selected_on is None else forward_day(
        member_runs(market, earlier, costs, cache) if live_market and earlier else [], selected_on, day, cfg,
        costs, store.forward_holdings(con, day - timedelta(days=1)))
    notes = {"left_out": "; ".join(cache.left_out.values())} if cache.left_out else {}
    if not members:
        store.write_day(con, day, [], [], [], [], forward, holdings)
        return {"members": 0, "rules": 0, "forward_members": forward[0]["members"] if forward else 0, **notes}
    times, r, x, live, schedule = _combined(members, cfg)
    ppy = periods_per_year_of_times(times, next(iter(market.bars.values())).bar_len_ms)
    runs, equity = [], []
    for rule in RULES:
        pc = _rule_config(rule, cfg, costs)
        res = run_portfolio(r, x, schedule, pc, live)
        stats = summary(res, pc.initial_equity, ppy)
        runs.append({"rule": rule, "timeframe": market.timeframe, "members": len(members), "start_ms": int(times[0]),
                     "end_ms": int(times[-1]), "bars": len(times), "rebalance_ms": int(cfg.rebalance_ms),
                     "lookback": pc.lookback, "min_history": pc.min_history, "max_weight": pc.max_weight,
                     "gross_leverage_cap": pc.gross_leverage, "taker_fee": pc.taker_fee, "initial_equity": pc.initial_equity,
                     "final_equity": float(res.equity[-1]), **stats,
                     "liquidated_at_ms": int(times[res.liquidated_at]) if res.liquidated_at >= 0 else None,
                     "rebalances": res.rebalances, "fallback_rebalances": res.fallbacks})
        equity += [(rule, int(t), float(e), float(g), float(f))
                   for t, e, g, f in zip(times, res.equity, res.gross_leverage, res.fees)]
        for m, w in zip(members, res.weights[-1]):
            m[f"weight_{rule}"] = float(w)
    corr = correlation(r, live)
    pairs = [(a["member_id"], b["member_id"], float(corr[i, j]))
             for i, a in enumerate(members) for j, b in enumerate(members)]
    store.write_day(con, day, runs, equity, members, pairs, forward, holdings)
    return {"members": len(members), "rules": len(runs), "forward_members": forward[0]["members"] if forward else 0,
            **{f"return_{x['rule']}": round(x["total_return"], 6) for x in runs},
            **{f"forward_return_{f['rule']}": round(f["day_return"], 6) for f in forward}, **notes}
