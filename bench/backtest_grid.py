"""sma_cross grid (fast 2..50 x slow 3..51, fast < slow: 1,225 combos) on 6.25k, 25k and 100k bars: our path
(SQL signals with shared SMA columns + the numba engine) in combos/s, and vectorbt on the same
grid in the same run when it is installed (make bench installs it), as a ratio."""

from __future__ import annotations

import time

import duckdb
import numpy as np
import pandas as pd

from bench.common import peak_rss_mib, print_stage, save, stage_result
from python_assets.backtest.engine import Costs, simulate
from python_assets.backtest.runner import dense_signals, load_bars, rules_for
from python_assets.backtest.spec import instance_id, signal_query_parts
from python_assets.backtest.spec_files import STRATEGY_DIR, load_spec

SIZES = (6_250, 25_000, 100_000)
CHUNK = 250  # combos per SQL query / per vectorbt batch: bounded memory (bars x chunk)


def grid() -> list[tuple[int, int]]:
    return [(f, s) for f in range(2, 51) for s in range(3, 52) if f < s]


def synthetic_bars(n: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0005, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0005, n)))
    return pd.DataFrame({"symbol": "BENCH", "timeframe": "1m", "bar_at_ms": np.arange(n, dtype=np.int64) * 60_000,
                         "open": open_, "high": high, "low": low, "close": close, "volume": 1.0})


def run_ours(frame: pd.DataFrame, combos: list[tuple[int, int]]) -> dict[str, float]:
    """Signals in DuckDB (each distinct SMA and its lag computed once), then one engine run per combo."""
    spec = load_spec(STRATEGY_DIR / "sma_cross.yaml")
    instances = [(instance_id(spec, {"fast": f, "slow": s}), spec, {"fast": f, "slow": s}) for f, s in combos]
    costs = Costs(0.0006, 0.0002, 0.0)
    rules = rules_for(spec, {"fast": 10, "slow": 30})
    finals = {}
    t0 = time.perf_counter()
    with duckdb.connect() as con:
        con.register("bars", frame)
        body, last, selects = signal_query_parts(instances, frozenset(), "bars", "1m")
        con.execute(f"create temp table ind as with {body} select * from {last}")
        bars = load_bars(con, "bars", "BENCH", "1m")
        t_sql = 0.0
        for i in range(0, len(selects), CHUNK):
            ts = time.perf_counter()
            sql = "\nunion all\n".join(q.replace(f"from {last} where", "from ind where") for q in selects[i:i + CHUNK])
            events = con.execute(sql).df()
            t_sql += time.perf_counter() - ts
            for sid, ev in events.groupby("strategy_id", sort=False):
                res = simulate(bars.open, bars.high, bars.low, bars.close, bars.ms, bars.bar_len_ms,
                               dense_signals(ev, bars), rules, costs)
                finals[sid] = res.final_equity
    total = time.perf_counter() - t0
    return {"seconds": total, "sql_seconds": t_sql, "combos": len(finals)}


def run_vectorbt(frame: pd.DataFrame, combos: list[tuple[int, int]]) -> dict[str, float] | None:
    """The same grid with vectorbt (MA crossovers, long/short reversal), chunked to bound memory."""
    try:
        import vectorbt as vbt
    except ImportError:
        return None
    close = pd.Series(frame["close"].to_numpy(), index=pd.to_datetime(frame["bar_at_ms"], unit="ms", utc=True))
    t0 = time.perf_counter()
    windows = sorted({w for c in combos for w in c})
    ma = {w: close.rolling(w).mean().to_numpy() for w in windows}
    done = 0
    for i in range(0, len(combos), CHUNK):
        part = combos[i:i + CHUNK]
        fast = np.column_stack([ma[f] for f, _ in part])
        slow = np.column_stack([ma[s] for _, s in part])
        above = fast > slow
        prev = np.vstack([np.zeros((1, len(part)), bool), above[:-1]])
        prev_below = np.vstack([np.zeros((1, len(part)), bool), (fast < slow)[:-1]])
        entries = above & prev_below
        exits = (fast < slow) & prev
        pf = vbt.Portfolio.from_signals(close, entries, exits, direction="both", fees=0.0006, init_cash=10_000,
                                        freq="1min")
        pf.final_value()
        done += len(part)
    return {"seconds": time.perf_counter() - t0, "combos": done}


def run(sizes: tuple[int, ...] = SIZES) -> dict:
    """The grid on 1x, 4x, 16x bars: our SQL signals + engine against vectorbt, same combos."""
    combos = grid()
    warm = synthetic_bars(10)
    simulate(warm["open"].to_numpy(), warm["high"].to_numpy(), warm["low"].to_numpy(), warm["close"].to_numpy(),
             warm["bar_at_ms"].to_numpy(), 60_000, {}, rules_for(load_spec(STRATEGY_DIR / "sma_cross.yaml"),
                                                                 {"fast": 10, "slow": 30}), Costs())  # JIT warm-up
    ours, sql, ref = [], [], []
    if run_vectorbt(synthetic_bars(500), combos[:2]) is None:  # vectorbt JIT warm-up
        print("vectorbt is not installed: the sweep runs without its reference")
    for n in sizes:
        frame = synthetic_bars(n)
        r = run_ours(frame, combos)
        ours.append(r["seconds"]), sql.append(r["sql_seconds"])
        v = run_vectorbt(frame, combos)
        if v:
            ref.append(v["seconds"])
    bar_combos = [n * len(combos) for n in sizes]
    res = stage_result(f"backtest sweep: sma_cross, {len(combos):,} combos (SQL signals + numba engine)", "bar-combos",
                       bar_combos, ours, "vectorbt from_signals", ref, ">= vectorbt's throughput",
                       (ref[-1] >= ours[-1]) if ref else None, bars=list(sizes), combos=len(combos),
                       sql_seconds=sql, combos_per_s=len(combos) / ours[-1], peak_rss_mib=peak_rss_mib())
    save("backtest_grid", res)
    print_stage(res)
    return res


if __name__ == "__main__":
    run()
