"""Run strategy instances over warehouse (or file) bars: signals from SQL, fills from the engine,
rows into the ledger; full windows and walk-forward in-sample / out-of-sample windows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import duckdb
import numpy as np

from python_assets.backtest import ledger
from python_assets.backtest.engine import (MAX_BARS, REVERSE, SIGNAL, Costs, EngineResult, Instruments, Rules,
                                           simulate)
from python_assets.backtest.fills import DEFAULT_FILL
from python_assets.backtest.markets import PERP, SPOT_SHORT_ONLY, market_of, market_terms, runs_on
from python_assets.backtest.reads import (NO_FUNDING, Bars, load_bars, span_sql, window_bars, window_funding,
                                          window_instruments, window_symbols)
from python_assets.backtest.spec import CONDITIONS, StrategySpec, compile_instances, instance_id, risk_values
from python_assets.platform.fanout import Mapper, batches, map_in_process
from python_assets.platform.logs import log_event
from python_assets.platform.timeframes import DAY_MS
from python_assets.platform.version import code_version
from python_assets.research.dsr import is_flat
from python_assets.warehouse.connection import connect_utc


@dataclass(frozen=True)
class Execution:
    """Per bar of one symbol's Bars: the worst fill's high and low and the spread fill's half spread at the
    execution horizon (fills.execution_horizon, or a recorded book's, fills.book_spread; NaN: the bar's
    own); from_book: where that half spread is the book's (None: nowhere)."""

    worst_high: np.ndarray
    worst_low: np.ndarray
    spread: np.ndarray
    from_book: np.ndarray | None = None


@dataclass(frozen=True)
class Window:
    window_id: str
    kind: str  # full | in_sample | out_of_sample
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class WalkForward:
    """Folds of train_days in-sample then test_days out-of-sample, stepping by test_days;
    anchored folds grow the in-sample window from the start instead of rolling it."""

    train_days: float
    test_days: float
    anchored: bool = False

    def folds(self, start_ms: int, end_ms: int) -> list[tuple[Window, Window]]:
        train, test = int(self.train_days * DAY_MS), int(self.test_days * DAY_MS)
        if train <= 0 or test <= 0:
            raise ValueError("walk-forward train and test lengths must be positive")
        out, k, test_start = [], 1, start_ms + train
        while test_start + test <= end_ms:
            is_start = start_ms if self.anchored else test_start - train
            out.append((Window(f"wf{k:02d}", "in_sample", is_start, test_start),
                        Window(f"wf{k:02d}", "out_of_sample", test_start, test_start + test)))
            k, test_start = k + 1, test_start + test
        return out


def rules_for(spec: StrategySpec, params: dict[str, Any]) -> Rules:
    """The engine's numbers for one spec instance."""
    risk = risk_values(spec, params)
    nan = lambda v: math.nan if v is None else float(v)  # noqa: E731
    return Rules(
        allow_long=spec.side in ("long", "both"), allow_short=spec.side in ("short", "both"),
        fraction=spec.fraction, lot_size=spec.lot_size, stop_loss=nan(risk["stop_loss"]),
        take_profit=nan(risk["take_profit"]), trailing_stop=nan(risk["trailing_stop"]),
        max_bars=int(risk["max_bars"] or 0),
    )


def signal_events(con: duckdb.DuckDBPyConnection, sql_or_relation: str, strategy_ids: list[str],
                  start_ms: int | None = None, end_ms: int | None = None) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """{(strategy_id, symbol): {bar_at_ms and each condition: an array, by bar time}} from the compiled SQL or
    the backtest_signals table, the events in [start_ms, end_ms) only when given (the conditions at a bar
    already hold their warm-up). Read as arrays and cut at each series' first row: the tuner calls this once
    per trial, and a data frame per series was half of its cost."""
    src = sql_or_relation if sql_or_relation.isidentifier() else f"({sql_or_relation})"
    span, params = span_sql("bar_at_ms", start_ms, end_ms)
    got = con.execute(f"select strategy_id, symbol, bar_at_ms, {', '.join(CONDITIONS)} from {src} "
                      f"where strategy_id in (select unnest(?)){span} "
                      # by the keys' bytes: under a collation that orders 'x' with 'X', a series' rows would not
                      # lie together and the split below would keep only its last stretch
                      f"order by encode(strategy_id::varchar), encode(symbol::varchar), bar_at_ms",
                      [strategy_ids, *params]).fetchnumpy()
    sid, symbol = np.asarray(got["strategy_id"], object), np.asarray(got["symbol"], object)
    if not len(sid):
        return {}
    columns = {"bar_at_ms": np.asarray(got["bar_at_ms"], np.int64),
               **{k: np.ma.filled(got[k], False).astype(bool) for k in CONDITIONS}}
    starts = np.flatnonzero(np.r_[True, (sid[1:] != sid[:-1]) | (symbol[1:] != symbol[:-1])])  # each series' first row
    ends = np.r_[starts[1:], len(sid)]
    return {(sid[a], symbol[a]): {k: v[a:b] for k, v in columns.items()} for a, b in zip(starts, ends)}


def dense_signals(events, bars: Bars) -> dict[str, np.ndarray]:
    """Sparse signal events (bar_at_ms and the conditions: arrays, or a frame's columns) scattered onto the
    bars (an event on a bar that is not there is an error)."""
    out = {k: np.zeros(len(bars.ms), bool) for k in CONDITIONS}
    if events is None or len(events["bar_at_ms"]) == 0:
        return out
    ms = np.asarray(events["bar_at_ms"], np.int64)
    idx = np.searchsorted(bars.ms, ms)
    ok = (idx < len(bars.ms)) & (bars.ms[np.minimum(idx, len(bars.ms) - 1)] == ms)
    if not ok.all():
        raise ValueError(f"{(~ok).sum()} signal rows of {bars.symbol} {bars.timeframe} have no bar")
    for k in CONDITIONS:
        out[k][idx] = np.asarray(events[k], bool)
    return out


def run_bars(bars: Bars, signals: dict[str, np.ndarray], rules: Rules, costs: Costs,
             funding: tuple[np.ndarray, np.ndarray], window: Window,
             instruments: Instruments | None = None, fill: str = DEFAULT_FILL,
             execution: Execution | None = None, market: str = PERP) -> tuple[Bars, EngineResult]:
    """The engine on the bars of one window (signals and execution arrays sliced alike; the position starts
    flat); fill: the engine's fill mode, execution: its per-bar worst prices and spread (backtest/fills.py);
    market: the symbol's ('spot': long only, unlevered, no funding: backtest/markets.py)."""
    rules, costs, funding = market_terms(rules, costs, funding, market)
    keep = (bars.ms >= window.start_ms) & (bars.ms < window.end_ms)
    sub = bars.window(window.start_ms, window.end_ms)
    sig = {k: v[keep] for k, v in signals.items()}
    extra = {} if execution is None else {"spread": execution.spread[keep],
                                          "worst": (execution.worst_high[keep], execution.worst_low[keep])}
    return sub, simulate(sub.open, sub.high, sub.low, sub.close, sub.ms, bars.bar_len_ms, sig, rules, costs, *funding,
                         instruments=instruments, fill=fill, **extra)


def order_fills(res: EngineResult) -> np.ndarray:
    """Bar indices, sorted, of a run's signal-order fills (every entry; signal, reversal and time exits):
    the fills a fill mode prices (stops, targets, liquidations and the end-of-data close keep theirs)."""
    exits = res.exit_index[np.isin(res.reason, (SIGNAL, REVERSE, MAX_BARS))]
    return np.sort(np.r_[res.entry_index, exits].astype(np.int64))


def equity_returns(equity: np.ndarray, initial: float) -> np.ndarray:
    """Per-bar returns of an equity curve marked at each close; the first bar against the initial equity."""
    return np.diff(np.r_[initial, equity]) / np.r_[initial, equity[:-1]]


def equity_sharpe(equity: np.ndarray, initial: float) -> float:
    """Per-bar Sharpe of an equity curve (the in-sample selection objective; no annualisation)."""
    if len(equity) < 2:
        return -math.inf
    r = equity_returns(equity, initial)
    sd = r.std(ddof=1)
    return float(r.mean() / sd) if sd > 0 and not is_flat(r) else -math.inf  # flat up to rounding: no Sharpe


@dataclass
class BacktestJob:
    """One invocation: a spec with one or more parameter sets on some symbols over a window."""

    spec: StrategySpec
    grid: list[dict[str, Any]]
    symbols: list[str] | None
    timeframe: str
    start_ms: int
    end_ms: int
    costs: Costs
    run_id: str
    kind: str
    source: str
    features_relation: str = "features"
    bars_relation: str = "int_bars_unioned"
    signals_relation: str | None = None  # the dbt model backtest_signals; else compile here
    walk_forward: WalkForward | None = None
    partition_date: str | None = None
    columns: frozenset[str] = frozenset()
    periods_per_year: float | None = None  # annualisation stored with each run; None: the mart measures each backtest
    markets: Mapping[str, str] = field(default_factory=dict)  # {symbol: 'spot' | 'perp'}; unlisted: perp


def _meta(job: BacktestJob, sid: str, params: dict, symbol: str, bar_ms: int, w: Window) -> ledger.RunMeta:
    return ledger.RunMeta(job.run_id, job.kind, job.spec.name, job.spec.version, sid, params, symbol, job.timeframe,
                          bar_ms, w.window_id, w.kind, w.start_ms, w.end_ms, job.costs, job.source, job.partition_date,
                          job.periods_per_year)


@dataclass(frozen=True)
class SymbolTask:
    """One symbol's share of a job, everything the engine needs and nothing that opens a file:
    bars and signals cut to the job's window, funding, contract specs, the instances in order."""

    job: BacktestJob
    instances: tuple[tuple[str, dict[str, Any], Rules], ...]
    bars: Bars
    signals: tuple[dict[str, np.ndarray], ...]  # per instance, aligned with bars
    funding: tuple[np.ndarray, np.ndarray]
    instruments: Instruments | None
    version: str
    market: str = PERP


# Symbols read from the warehouse per round: bounds the parent's memory on large universes.
SYMBOLS_PER_ROUND = 32


def _in_window(events: dict[str, np.ndarray] | None, start_ms: int, end_ms: int) -> dict[str, np.ndarray] | None:
    """A symbol's events on bars in [start_ms, end_ms) (None stays None)."""
    if events is None:
        return None
    ms = events["bar_at_ms"]
    keep = (ms >= start_ms) & (ms < end_ms)
    return {k: v[keep] for k, v in events.items()}


def symbol_tasks(con: duckdb.DuckDBPyConnection, job: BacktestJob, instances: tuple, events: dict,
                 symbols: list[str], version: str, shared: dict | None = None) -> list[SymbolTask]:
    """Read the symbols' inputs over the job's window, one query each for all of them (bars; on warehouse
    bars also funding and contract specs, kept in shared for the next job on the same symbols and span),
    and scatter their signals onto their bars."""
    bars = window_bars(con, job.bars_relation, symbols, job.timeframe, job.start_ms, job.end_ms)
    funding, specs = {s: NO_FUNDING for s in symbols}, dict.fromkeys(symbols)
    if job.bars_relation == "int_bars_unioned":
        # the engine reaches funding up to the last bar's close: never past the window's end on aligned bars
        reach = max((int(b.ms[-1]) + b.bar_len_ms for b in bars.values() if len(b.ms)), default=job.start_ms)
        shared = {} if shared is None else shared
        key = (tuple(symbols), job.start_ms, reach, job.end_ms)
        if key not in shared:
            shared[key] = (window_funding(con, symbols, job.start_ms, reach),
                           window_instruments(con, symbols, job.start_ms, job.end_ms))
        funding, specs = shared[key]
    return [SymbolTask(job, instances, bars[s], tuple(dense_signals(_in_window(events.get((sid, s)), job.start_ms, job.end_ms),
                                                                    bars[s]) for sid, _, _ in instances),
                       funding[s], specs[s], version, market_of(job.markets, s)) for s in symbols]


def backtest_symbol(t: SymbolTask) -> list[ledger.LedgerRows]:
    """Pure: every instance of one symbol over the full window, then the walk-forward folds (the best
    in-sample instance by Sharpe goes out of sample: a choice only when the job's grid holds several; the
    daily run and the CLI give one, so their folds test that one set); the ledger rows in a fixed order."""
    job, bars, batch = t.job, t.bars, []
    full = Window("full", "full", job.start_ms, job.end_ms)
    prepared = [(sid, params, rules, sig) for (sid, params, rules), sig in zip(t.instances, t.signals)]
    for sid, params, rules, sig in prepared:
        sub, res = run_bars(bars, sig, rules, job.costs, t.funding, full, t.instruments, market=t.market)
        if len(sub.ms):
            batch.append(ledger.ledger_rows(_meta(job, sid, params, bars.symbol, bars.bar_len_ms, full),
                                            sub.ms, sub.open, sub.close, res, t.version))
    for is_w, oos_w in (job.walk_forward.folds(job.start_ms, job.end_ms) if job.walk_forward else []):
        best = None
        for sid, params, rules, sig in prepared:
            sub, res = run_bars(bars, sig, rules, job.costs, t.funding, is_w, t.instruments, market=t.market)
            score = equity_sharpe(res.equity, job.costs.initial_equity)
            if len(sub.ms) and (best is None or score > best[0]):
                best = (score, sid, params, rules, sig, sub, res)
        if best is None:
            continue
        _, sid, params, rules, sig, sub, res = best
        batch.append(ledger.ledger_rows(_meta(job, sid, params, bars.symbol, bars.bar_len_ms, is_w),
                                        sub.ms, sub.open, sub.close, res, t.version))
        sub, res = run_bars(bars, sig, rules, job.costs, t.funding, oos_w, t.instruments, market=t.market)
        if len(sub.ms):
            batch.append(ledger.ledger_rows(_meta(job, sid, params, bars.symbol, bars.bar_len_ms, oos_w),
                                            sub.ms, sub.open, sub.close, res, t.version))
    return batch


def backtest_symbols(tasks: list[SymbolTask]) -> list[list[ledger.LedgerRows]]:
    """Pure: a batch of symbols (what one worker runs), each symbol's rows in its own list."""
    return [backtest_symbol(t) for t in tasks]


def tradable_symbols(spec: StrategySpec, symbols: list[str], markets: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(the symbols a spec runs on, those left out): a short-only spec is not run on a spot symbol."""
    runs = [runs_on(spec.side, market_of(markets, s)) for s in symbols]
    return [s for s, ok in zip(symbols, runs) if ok], [s for s, ok in zip(symbols, runs) if not ok]


def run_job(con: duckdb.DuckDBPyConnection, job: BacktestJob, map_batches: Mapper | None = None,
            shared: dict | None = None) -> list[str]:
    """Backtest every instance on every symbol: this process reads the inputs over the job's window
    (signals once, then bars, funding and contract specs once per round of symbols), map_batches
    runs backtest_symbols over batches of them (in-process by default, or side by side, see
    python_assets/platform/fanout.py), and the rows are written here in symbol order, one transaction per
    round of up to SYMBOLS_PER_ROUND symbols; shared (one dict for the jobs of one day) keeps each round's
    funding and contract specs for the next strategy. Returns the backtest_ids written."""
    map_batches = map_batches or (lambda fn, items: map_in_process(fn, items))
    instances = tuple((instance_id(job.spec, p), p, rules_for(job.spec, p)) for p in job.grid)
    sids = [sid for sid, _, _ in instances]
    source = job.signals_relation or compile_instances([(sid, job.spec, p) for sid, p, _ in instances], job.columns,
                                                       job.features_relation, job.timeframe)
    events = signal_events(con, source, sids, job.start_ms, job.end_ms)
    symbols = job.symbols or window_symbols(con, job.bars_relation, job.timeframe, job.start_ms, job.end_ms)
    symbols, skipped = tradable_symbols(job.spec, symbols, job.markets)
    if skipped:
        log_event("backtest_symbols_skipped", strategy=job.spec.name, symbols=skipped, reason=SPOT_SHORT_ONLY)
    written, version = [], code_version()
    for chunk in batches(symbols, SYMBOLS_PER_ROUND):
        tasks = symbol_tasks(con, job, instances, events, chunk, version, shared)
        # in symbol order, whatever finished first; one transaction for the round (each write scans the
        # ledger tables once: per symbol, the writes were half of the daily step on 20 symbols)
        written += ledger.write(con, [rows for per_symbol in map_batches(backtest_symbols, tasks) for rows in per_symbol])
    return written


def backtest_frame(spec: StrategySpec, params: dict[str, Any], bars_df, costs: Costs,
                   funding: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Bars, EngineResult]:
    """One instance on an in-memory bars frame (symbol, timeframe, bar_at_ms, OHLC): SQL signals in a
    scratch DuckDB, then the engine; nothing is stored (tests, notebooks, benchmarks)."""
    symbol, timeframe = str(bars_df["symbol"].iloc[0]), str(bars_df["timeframe"].iloc[0])
    sid = instance_id(spec, params)
    with connect_utc() as con:
        con.register("bars", bars_df)
        sql = compile_instances([(sid, spec, params)], frozenset(), "bars", timeframe)
        events = signal_events(con, sql, [sid])
        bars = load_bars(con, "bars", symbol, timeframe)
    signals = dense_signals(events.get((sid, symbol)), bars)
    fund = funding or (np.zeros(0, np.int64), np.zeros(0))
    return bars, simulate(bars.open, bars.high, bars.low, bars.close, bars.ms, bars.bar_len_ms, signals,
                          rules_for(spec, params), costs, *fund)
