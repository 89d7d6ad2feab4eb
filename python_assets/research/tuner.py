"""The tuner: Optuna (seeded TPE) over a spec's parameter ranges, judged in-sample (objective:
mean per-bar Sharpe over symbols) and scored out-of-sample on the later window; every trial is
kept. The portfolio return of a bar is the equal-weight mean of the symbols' equity returns."""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import numpy as np
import optuna
import pandas as pd

from python_assets.backtest.engine import Costs, Instruments
from python_assets.backtest.fills import DEFAULT_FILL
from python_assets.backtest.markets import market_of, runs_on
from python_assets.backtest.reads import NO_FUNDING
from python_assets.backtest.runner import (Bars, Execution, Window, dense_signals, equity_returns, load_bars,
                                          order_fills, rules_for, run_bars, signal_events)
from python_assets.backtest.expr import Columns
from python_assets.backtest.spec import (ConstraintUndefined, SpecError, StrategySpec, compile_instances, instance_id,
                                         resolve_params)
from python_assets.research.dsr import sharpe
from python_assets.platform.timeframes import DAY_MS
from python_assets.warehouse.connection import connect_utc

optuna.logging.set_verbosity(optuna.logging.WARNING)


# What a spec that cannot run at a draw raises: a compile error (a lag length < 1 at n = 3), an arithmetic
# error, or DuckDB's refusal of the query (a type the checker could not see): the trial is pruned and
# counted, never the step's failure
UNRUNNABLE = (SpecError, ArithmeticError, duckdb.Error)
KEY_COLUMNS = frozenset({"symbol", "timeframe", "bar_at_ms", "bar_at", "bar_date"})


def condition_columns(columns, text=()) -> Columns:
    """The columns a design's conditions may name: everything but the row keys, with the text ones (regime
    labels) marked, so a spec comparing one with a number is refused here as publish refuses it (unmarked,
    it was tuned and its query failed in DuckDB, failing the research step)."""
    names = frozenset(c for c in columns if c not in KEY_COLUMNS)
    return Columns(names, text=names & frozenset(text))


def text_columns(frame: pd.DataFrame) -> frozenset[str]:
    """The frame's columns that hold text (a string or object dtype: regime labels, all-NULL ones too)."""
    return frozenset(c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c]))


@dataclass
class Market:
    """Everything a trial needs, loaded once: a features frame in a scratch DuckDB and bars per symbol."""

    con: duckdb.DuckDBPyConnection
    columns: frozenset[str]
    timeframe: str
    bars: dict[str, Bars]
    is_window: Window
    oos_window: Window
    execution: dict[str, Execution] = field(default_factory=dict)  # per symbol, for the stress fills only
    frame: pd.DataFrame | None = None  # what it was built from: a worker process rebuilds it from this
    split: float = 2 / 3
    markets: dict[str, str] = field(default_factory=dict)  # {symbol: 'spot' | 'perp'} (backtest/markets.py); unlisted: perp
    # per symbol, as the daily backtest reads them (runner.symbol_tasks): funding settlements (ms, rate) and
    # contract-spec versions; a symbol without either runs unfunded / sized without lots
    funding: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    instruments: dict[str, Instruments | None] = field(default_factory=dict)

    def __reduce__(self):
        """Pickled as its frame (a scratch DuckDB connection does not travel): a worker rebuilds the
        same market, windows and stress fills included, once per batch it receives."""
        if self.frame is None:
            raise TypeError("a Market not built by Market.from_frame cannot be sent to a worker")
        return (_rebuilt_market, (self.frame, self.timeframe, self.split, self.execution, self.markets, self.funding,
                                  self.instruments))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, timeframe: str, split: float = 2 / 3,
                   markets: dict[str, str] | None = None) -> "Market":
        """frame: symbol, timeframe, bar_at_ms, OHLCV and any feature columns, one timeframe; markets: each
        symbol's market where known (a spot symbol is traded long only, unlevered, without funding)."""
        markets = dict(markets or {})
        con = connect_utc()
        # one thread: each trial's query is small, and more threads only add their start to each (a table of
        # its own would save another ~8 % of a query, but hold a second copy of the window)
        con.execute("set threads = 1")
        con.register("market", frame)
        symbols = sorted(frame["symbol"].unique())
        bars = {s: load_bars(con, "market", s, timeframe) for s in symbols}
        if frame.empty:  # no bars in the window (a lake without the window's days): a market with nothing to tune
            return cls(con, condition_columns(frame.columns, text_columns(frame)), timeframe, bars,
                       Window("is", "in_sample", 0, 0), Window("oos", "out_of_sample", 0, 0), frame=frame, split=split,
                       markets=markets)
        start, end = int(frame["bar_at_ms"].min()), int(frame["bar_at_ms"].max()) + 1
        cut = int(np.quantile(np.sort(frame["bar_at_ms"].unique()), split))
        return cls(con, condition_columns(frame.columns, text_columns(frame)), timeframe, bars,
                   Window("is", "in_sample", start, cut), Window("oos", "out_of_sample", cut, end), frame=frame, split=split,
                   markets=markets)


def _rebuilt_market(frame: pd.DataFrame, timeframe: str, split: float, execution: dict[str, Execution],
                    markets: dict[str, str] | None = None, funding: dict | None = None,
                    instruments: dict | None = None) -> Market:
    """Market.from_frame with the stress fills, markets, funding and contract specs it carried: how a Market
    arrives in a worker process."""
    return replace(Market.from_frame(frame, timeframe, split, markets), execution=execution, funding=funding or {},
                   instruments=instruments or {})


@dataclass
class Evaluation:
    is_score: float
    is_trades: int
    oos_sharpe: float
    oos_return: float
    oos_trades: int
    oos_returns: np.ndarray
    daily_returns: pd.Series = None  # whole window (in + out of sample), compounded per UTC day; index: day ms
    oos_trade_returns: np.ndarray = None  # each out-of-sample trade's net pnl / its symbol's equity before entry / symbols
    oos_bar_ms: np.ndarray = None  # open time of each bar of oos_returns: the symbols' out-of-sample bars, united
    oos_fill_ms: dict[str, np.ndarray] = None  # per symbol: open time of each out-of-sample signal-order fill's bar


def _portfolio_series(results: list[tuple[Bars, Any]], initial: float) -> pd.Series:
    """Equal-weight mean across symbols of per-bar equity returns, aligned on bar time (index: bar ms)."""
    series = []
    for sub, res in results:
        if len(res.equity):
            series.append(pd.Series(equity_returns(res.equity, initial), index=sub.ms))
    if not series:
        return pd.Series(dtype=float)
    return pd.concat(series, axis=1).fillna(0.0).sort_index().mean(axis=1)


def _portfolio_returns(results: list[tuple[Bars, Any]], initial: float) -> np.ndarray:
    """Equal-weight mean across symbols of per-bar equity returns, aligned on bar time."""
    return _portfolio_series(results, initial).to_numpy()


def daily_compounded(bar_returns: pd.Series) -> pd.Series:
    """Per-bar returns (index: bar ms) compounded per UTC day (index: the day's start ms)."""
    if bar_returns.empty:
        return pd.Series(dtype=float)
    days = (bar_returns.index.to_numpy(np.int64) // DAY_MS) * DAY_MS
    return (1.0 + bar_returns).groupby(days).prod() - 1.0


def trade_returns(results: list[tuple[Bars, Any]], initial: float) -> np.ndarray:
    """Each trade's net pnl over its symbol's equity before entry, divided by the number of symbols
    (each symbol trades an equal share of the portfolio), in exit order per symbol."""
    out = []
    for _, res in results:
        if len(res.size):
            before = np.where(res.entry_index > 0, res.equity[np.maximum(res.entry_index - 1, 0)], initial)
            out.append(res.pnl / before)
    return np.concatenate(out) / len(results) if out else np.zeros(0)


def evaluate(market: Market, spec: StrategySpec, params: dict[str, Any], costs: Costs,
             oos_start_ms: int | None = None, fill: str = DEFAULT_FILL) -> Evaluation:
    """In-sample score and out-of-sample portfolio returns of one parameter set (fill: the engine's fill mode);
    a short-only spec leaves out the market's spot symbols (nothing it can trade there), a spot symbol is
    traded on its long side only (backtest/markets.py)."""
    sid = instance_id(spec, params)
    events = signal_events(market.con, compile_instances([(sid, spec, params)], market.columns, "market",
                                                         market.timeframe), [sid])
    rules = rules_for(spec, params)
    oos = market.oos_window if oos_start_ms is None else Window("oos", "out_of_sample", max(oos_start_ms, market.oos_window.start_ms), market.oos_window.end_ms)
    is_scores, is_trades, is_runs, oos_runs, oos_trades, fill_ms = [], 0, [], [], 0, {}
    for symbol, bars in market.bars.items():
        kind = market_of(market.markets, symbol)
        if not runs_on(spec.side, kind):
            continue
        signals = dense_signals(events.get((sid, symbol)), bars)
        funding, specs = market.funding.get(symbol, NO_FUNDING), market.instruments.get(symbol)
        sub, res = run_bars(bars, signals, rules, costs, funding, market.is_window, specs, fill=fill,
                            execution=market.execution.get(symbol), market=kind)
        if len(res.equity):
            s = sharpe(equity_returns(res.equity, costs.initial_equity))
            is_scores.append(-1.0 if math.isnan(s) else s)
            is_trades += len(res.size)
        is_runs.append((sub, res))
        sub, res = run_bars(bars, signals, rules, costs, funding, oos, specs, fill=fill,
                            execution=market.execution.get(symbol), market=kind)
        oos_runs.append((sub, res))
        oos_trades += len(res.size)
        fill_ms[symbol] = sub.ms[order_fills(res)]
    oos_series = _portfolio_series(oos_runs, costs.initial_equity)
    r = oos_series.to_numpy()
    s = sharpe(r)
    whole = pd.concat([_portfolio_series(is_runs, costs.initial_equity), oos_series])
    return Evaluation(float(np.mean(is_scores)) if is_scores else -1.0, is_trades, s,
                      float(np.prod(1 + r) - 1) if len(r) else 0.0, oos_trades, r,
                      daily_compounded(whole[~whole.index.duplicated()]),
                      trade_returns(oos_runs, costs.initial_equity), oos_series.index.to_numpy(np.int64), fill_ms)


def tune(market: Market, spec: StrategySpec, n_trials: int, seed: int, costs: Costs
         ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, Evaluation | None, list[str]]:
    """(trial rows, best params by in-sample score, its evaluation, why each invalid trial was). The sampler
    seed mixes the run seed with the spec name, so each design's search is reproducible on its own; the budget
    is a count of trials, never the wall clock, so the stored trials do not depend on machine speed. A trial
    that breaks a constraint is pruned; so is one where the spec cannot run (_trial), also returned as invalid."""
    sampler = optuna.samplers.TPESampler(seed=(seed * 1_000_003 + zlib.crc32(spec.name.encode())) % 2**32)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    rows, evals, invalid = [], {}, []
    for k in range(n_trials):
        trial = study.ask()
        raw = {}
        for name, p in spec.params.items():
            raw[name] = (trial.suggest_int(name, int(p.low), int(p.high), log=p.log) if p.kind == "int"
                         else trial.suggest_float(name, float(p.low), float(p.high), log=p.log))
        t0 = time.perf_counter()
        params, ev, why = _trial(market, spec, raw, costs)
        if ev is None:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            if why is not None:
                invalid.append(f"{params}: {why}")
            continue
        study.tell(trial, ev.is_score)
        evals[k] = (params, ev)
        rows.append({"trial_no": k, "params": params, "is_sharpe": ev.is_score, "is_trades": ev.is_trades,
                     "oos_sharpe": ev.oos_sharpe, "oos_return": ev.oos_return, "oos_trades": ev.oos_trades,
                     "seconds": time.perf_counter() - t0, "daily_returns": ev.daily_returns})
    if not evals:
        return rows, None, None, invalid
    best = max(evals, key=lambda k: (evals[k][1].is_score, -k))
    return rows, evals[best][0], evals[best][1], invalid


def _trial(market: Market, spec: StrategySpec, raw: dict[str, Any], costs: Costs
           ) -> tuple[dict[str, Any], Evaluation | None, str | None]:
    """(parameters, their evaluation, None); (raw, None, None) when they break a constraint or a range; (params,
    None, why) when the spec cannot run there (UNRUNNABLE): its conditions do not compile (lag(close, n - 9)
    at n < 10) or a constraint is undefined (10 / a at a = 0). A spec is validated at its defaults only."""
    try:
        params = resolve_params(spec, raw)
    except ConstraintUndefined as exc:
        return raw, None, " ".join(str(exc).split())
    except SpecError:
        return raw, None, None
    except ArithmeticError as exc:
        return raw, None, f"{type(exc).__name__}: {exc}"
    try:
        return params, evaluate(market, spec, params, costs), None
    except UNRUNNABLE as exc:
        return params, None, " ".join(str(exc).split())


@dataclass(frozen=True)
class TuneTask:
    """One design's search, sent whole to a worker (the market travels as its frame)."""

    market: Market
    spec: StrategySpec
    n_trials: int
    seed: int
    costs: Costs


def tune_designs(tasks: list[TuneTask]
                 ) -> list[tuple[list[dict[str, Any]], dict[str, Any] | None, Evaluation | None, list[str]]]:
    """Pure: tune() for a batch of designs (what one worker runs), results in task order; each
    design's sampler is seeded by the run seed and its name, never by the worker."""
    return [tune(t.market, t.spec, t.n_trials, t.seed, t.costs) for t in tasks]
