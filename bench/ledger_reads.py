"""The daily backtest_ledger's parent reads (signals, bars, funding, contract specs for every active strategy
and symbol): the window-bounded batched reads against the in-run reference of the per-symbol
whole-history reads they replaced, on a demo warehouse and on synthetic warehouses of growing history
(the scaling exponent in history). Prints only; run `python -m bench.ledger_reads [warehouse.duckdb]`."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from bench.common import best_of, scaling_exponent, table
from python_assets.backtest import runner
from python_assets.backtest.catalog import active_specs
from python_assets.backtest.engine import Costs
from python_assets.backtest.spec import instance_id, resolve_params
from python_assets.platform.timeframes import DAY_MS, HOUR_MS, TIMEFRAME_MS
from python_assets.warehouse.connection import connect_warehouse

LOOKBACK_DAYS = 30
HISTORIES = (30, 120, 480)  # synthetic warehouse history in days, a 30-day window at its end
SYNTHETIC_TF = "15m"


def jobs(con: duckdb.DuckDBPyConnection, specs: dict, end_ms: int) -> list[runner.BacktestJob]:
    """The asset's jobs for the day ending at end_ms (default parameters, as the daily step runs them)."""
    return [runner.BacktestJob(spec=s, grid=[resolve_params(s, {})], symbols=None, timeframe=s.timeframe,
                               start_ms=end_ms - LOOKBACK_DAYS * DAY_MS, end_ms=end_ms, costs=Costs(),
                               run_id="bench", kind="daily", source="warehouse", signals_relation="backtest_signals")
            for s in specs.values()]


def _instances(job: runner.BacktestJob) -> tuple:
    return tuple((instance_id(job.spec, p), p, runner.rules_for(job.spec, p)) for p in job.grid)


def reads_before(con: duckdb.DuckDBPyConnection, job: runner.BacktestJob) -> list[runner.SymbolTask]:
    """Reference: the reads this replaced (whole-history signals; bars, funding, specs per symbol, then cut)."""
    instances = _instances(job)
    events = runner.signal_events(con, job.signals_relation, [sid for sid, _, _ in instances])
    symbols = sorted(r[0] for r in con.execute(
        f"select distinct symbol from {job.bars_relation} where timeframe = ?", [job.timeframe]).fetchall())
    tasks = []
    for s in symbols:
        bars = runner.load_bars(con, job.bars_relation, s, job.timeframe)
        keep = (bars.ms >= job.start_ms) & (bars.ms < job.end_ms)
        sig = tuple({k: v[keep] for k, v in runner.dense_signals(events.get((sid, s)), bars).items()}
                    for sid, _, _ in instances)
        tasks.append(runner.SymbolTask(job, instances, bars.window(job.start_ms, job.end_ms), sig,
                                       runner.load_funding(con, s), runner.load_instruments(con, s), "bench"))
    return tasks


def reads_after(con: duckdb.DuckDBPyConnection, job: runner.BacktestJob, shared: dict | None = None) -> list[runner.SymbolTask]:
    """What run_job reads now, all rounds of symbols (shared: one dict for the day's jobs, as the asset)."""
    instances = _instances(job)
    events = runner.signal_events(con, job.signals_relation, [sid for sid, _, _ in instances], job.start_ms, job.end_ms)
    symbols = runner.window_symbols(con, job.bars_relation, job.timeframe, job.start_ms, job.end_ms)
    return [t for chunk in runner.batches(symbols, runner.SYMBOLS_PER_ROUND)
            for t in runner.symbol_tasks(con, job, instances, events, chunk, "bench", shared)]


def same_rows(con: duckdb.DuckDBPyConnection, js: list[runner.BacktestJob]) -> bool:
    """Both reads give the engine the same ledger rows (backtest_symbol on each task)."""
    for job in js:
        a = [r for t in reads_before(con, job) for r in runner.backtest_symbol(t)]
        b = [r for t in reads_after(con, job) for r in runner.backtest_symbol(t)]
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            for f, g in ((x.runs, y.runs), (x.trades, y.trades), (x.equity, y.equity)):
                if not f.drop(columns="code_version", errors="ignore").equals(g.drop(columns="code_version", errors="ignore")):
                    return False
    return True


def day_after(con: duckdb.DuckDBPyConnection, js: list[runner.BacktestJob]) -> list[list[runner.SymbolTask]]:
    """A day's reads now: one shared dict for its jobs, as the asset."""
    shared: dict = {}
    return [reads_after(con, j, shared) for j in js]


def timed(con: duckdb.DuckDBPyConnection, js: list[runner.BacktestJob]) -> tuple[float, float]:
    before, _ = best_of(lambda: [reads_before(con, j) for j in js], 2)
    after, _ = best_of(lambda: day_after(con, js), 2)
    return before, after


def synthetic(con: duckdb.DuckDBPyConnection, days: int, symbols: int = 20) -> int:
    """15m bars, 8-hourly funding, monthly contract-spec versions and sparse signals over `days`; its end."""
    end_ms, step = 1_767_225_600_000, TIMEFRAME_MS[SYNTHETIC_TF]  # 2026-01-01 UTC
    ms = np.arange(end_ms - days * DAY_MS, end_ms, step, dtype=np.int64)
    rng = np.random.default_rng(days)
    frames, sig = [], []
    for k in range(symbols):
        c = 100 * np.cumprod(1 + rng.normal(0, 0.01, len(ms)))
        sym = f"S{k:02d}-USDT"
        frames.append(pd.DataFrame({"symbol": sym, "timeframe": SYNTHETIC_TF, "bar_at_ms": ms, "open": c, "high": c * 1.01,
                                    "low": c * 0.99, "close": c}))
        hit = rng.random(len(ms)) < 0.05
        sig.append(pd.DataFrame({"strategy_id": "", "symbol": sym, "timeframe": SYNTHETIC_TF, "bar_at_ms": ms[hit],
                                 **{k2: rng.random(hit.sum()) < 0.5 for k2 in runner.CONDITIONS}}))
    bars, signals = pd.concat(frames), pd.concat(sig)
    fund_ms = ms[::8 * HOUR_MS // step]
    funding = pd.DataFrame({"symbol": np.repeat(bars["symbol"].unique(), len(fund_ms)), "funding_at_ms": np.tile(fund_ms, symbols),
                            "funding_rate": 0.0001})
    vers = ms[::30 * DAY_MS // step]
    inst = pd.DataFrame({"symbol": np.repeat(bars["symbol"].unique(), len(vers)), "valid_from_ms": np.tile(vers, symbols),
                         "contract_value": 0.1, "lot_size": 1.0, "min_size": 1.0})
    for name, frame in (("int_bars_unioned", bars), ("stg_funding_rates", funding), ("dim_instruments", inst),
                        ("backtest_signals", signals)):
        con.register("_f", frame)
        con.execute(f"create or replace table {name} as select * from _f order by all")
        con.unregister("_f")
    return end_ms


def main(argv: list[str]) -> None:
    rows = []
    specs = active_specs()
    if argv:
        with connect_warehouse(Path(argv[0]), read_only=True) as con:
            end = con.execute("select max(bar_at_ms) from int_bars_unioned where timeframe = '1m'").fetchall()[0][0]
            end_ms = (int(end) // DAY_MS + 1) * DAY_MS
            js = jobs(con, specs, end_ms)
            n = len(runner.window_symbols(con, "int_bars_unioned", "1m", end_ms - LOOKBACK_DAYS * DAY_MS, end_ms))
            before, after = timed(con, js)
            rows.append((f"{Path(argv[0]).name}: {len(js)} strategies x {n} symbols", f"{before:.2f} s", f"{after:.2f} s",
                         f"{before / after:.1f}x", str(same_rows(con, js))))
    one = {k: v for k, v in list(specs.items())[:1]}
    times: list[tuple[float, float]] = []
    for days in HISTORIES:
        with duckdb.connect() as con:
            js = jobs(con, one, synthetic(con, days))
            for j in js:  # the synthetic signals stand for this strategy's instance, on its bars
                j.timeframe = SYNTHETIC_TF
                con.execute("update backtest_signals set strategy_id = ?", [instance_id(j.spec, j.grid[0])])
            times.append(timed(con, js))
            rows.append((f"synthetic 20 symbols x {days} days of {SYNTHETIC_TF}", f"{times[-1][0]:.3f} s", f"{times[-1][1]:.3f} s",
                         f"{times[-1][0] / times[-1][1]:.1f}x", str(same_rows(con, js))))
    print(table(rows, ("warehouse", "before (per symbol, whole history)", "after (window, batched)", "before/after",
                       "same rows")))
    print(f"exponent in history: before {scaling_exponent(list(HISTORIES), [t[0] for t in times]):.2f}, "
          f"after {scaling_exponent(list(HISTORIES), [t[1] for t in times]):.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
