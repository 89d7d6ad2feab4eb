"""Overfitting and path-risk checks of the research day, and their landing tables: each trial's daily
returns (stored with the trials, so PBO is computed from what is stored), the probability of backtest
overfitting of each tuning and of the day's whole search, and the Monte Carlo quantiles of the day's
top-ranked designs."""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from python_assets.research.montecarlo import MonteCarloConfig, seed_for, simulate
from python_assets.research.pbo import MAX_BLOCKS, n_blocks, pbo, periods_used

DDL = (
    """create table if not exists tuning_trial_returns (run_date date not null, design_id varchar not null,
        trial_no integer not null, period_start_ms bigint not null, period_return double not null,
        primary key (run_date, design_id, trial_no, period_start_ms))""",
    """create table if not exists tuning_pbo (run_date date not null, design_id varchar not null,
        n_trials integer not null, n_periods integer not null, n_blocks integer not null,
        n_combinations integer not null, pbo double, logit_median double, primary key (run_date, design_id))""",
    """create table if not exists search_pbo (run_date date not null primary key, n_designs integer not null,
        n_trials integer not null, n_periods integer not null, n_blocks integer not null,
        n_combinations integer not null, pbo double, logit_median double)""",
    """create table if not exists monte_carlo_runs (run_date date not null, design_id varchar not null,
        rank integer not null, method varchar not null, n_paths integer not null, n_steps integer not null,
        block_bars integer, seed bigint not null, max_drawdown_p05 double, max_drawdown_p50 double,
        max_drawdown_mean double, final_return_p05 double, final_return_p50 double, final_return_mean double,
        primary key (run_date, design_id, method))""",
)
TUNING_TABLES = ("tuning_trial_returns", "tuning_pbo", "search_pbo")
RANKING_TABLES = ("monte_carlo_runs",)


def write_trial_returns(con: duckdb.DuckDBPyConnection, day, trials: list[dict[str, Any]]) -> int:
    """Store each trial's daily returns (the trial dicts carry a daily_returns Series: day ms -> return)."""
    frames = [pd.DataFrame({"run_date": day, "design_id": t["design_id"], "trial_no": t["trial_no"],
                            "period_start_ms": s.index.to_numpy(np.int64), "period_return": s.to_numpy(float)})
              for t in trials if (s := t.get("daily_returns")) is not None and len(s)]
    if not frames:
        return 0
    rows = pd.concat(frames, ignore_index=True)
    rows["period_return"] = rows["period_return"].fillna(0.0)
    con.register("trial_returns_rows", rows)
    try:
        con.execute("insert into tuning_trial_returns select run_date::date, design_id, trial_no, period_start_ms, "
                    "period_return from trial_returns_rows")
    finally:
        con.unregister("trial_returns_rows")
    return len(rows)


def trial_matrix(con: duckdb.DuckDBPyConnection, day, design_id: str | None = None) -> np.ndarray:
    """T x N: the design's stored trials of `day` (None: every design's) as columns (design, trial order),
    days as rows (time order); a day a trial has no return for counts as 0 (flat)."""
    frame = con.execute("select period_start_ms, design_id, trial_no, period_return from tuning_trial_returns "
                        "where run_date = ? and (design_id = ? or ? is null)", [day, design_id, design_id]).df()
    if frame.empty:
        return np.zeros((0, 0))
    return frame.pivot(index="period_start_ms", columns=["design_id", "trial_no"], values="period_return"
                       ).sort_index().sort_index(axis=1).fillna(0.0).to_numpy()


def pbo_row(m: np.ndarray, max_blocks: int = MAX_BLOCKS) -> list[Any]:
    """[n_trials, n_periods, n_blocks, n_combinations, pbo, logit_median] of a T x N trial matrix, as
    tuning_pbo and search_pbo store them (PBO and median NULL where undefined); n_periods: the days the PBO
    used, T less the oldest T mod S (storing T claimed days that never entered it)."""
    s = n_blocks(m.shape[0], max_blocks)
    p, logits, combos = pbo(m, s) if s else (math.nan, np.zeros(0), 0)
    return [m.shape[1], periods_used(m.shape[0], s), s, combos, None if math.isnan(p) else p,
            float(np.median(logits)) if len(logits) else None]


def pbo_day(con: duckdb.DuckDBPyConnection, day, max_blocks: int = MAX_BLOCKS, designs: list[str] | None = None) -> int:
    """PBO of every design tuned on `day` (or of `designs` only: a later round's) over all its stored
    trials, into tuning_pbo; returns the rows."""
    out = []
    for (did,) in con.execute("select distinct design_id from tuning_trial_returns where run_date = ? order by 1",
                              [day]).fetchall():
        if designs is not None and did not in designs:
            continue
        out.append([day, did, *pbo_row(trial_matrix(con, day, did), max_blocks)])
    if out:
        con.executemany("insert into tuning_pbo values (?, ?, ?, ?, ?, ?, ?, ?)", out)
    return len(out)


def search_pbo_day(con: duckdb.DuckDBPyConnection, day, max_blocks: int = MAX_BLOCKS) -> float | None:
    """PBO of the day's whole search, into search_pbo: CSCV over every stored trial of every design tuned
    on `day` (all rounds so far), so the in-sample winner is the configuration the day's search liked best.
    On a market with nothing to find it scatters around 0.5 (0.34-0.74 on three noise windows), unless the
    sample itself drifts (a random walk can): then being long (or short) throughout wins in every block, CSCV
    calls it consistent, and only later days tell. With a real edge it is near 0. Returns the PBO."""
    row = pbo_row(trial_matrix(con, day), max_blocks)
    n_designs = con.execute("select count(distinct design_id) from tuning_trial_returns where run_date = ?", [day]).fetchall()[0][0]
    con.execute("delete from search_pbo where run_date = ?", [day])
    con.execute("insert into search_pbo values (?, ?, ?, ?, ?, ?, ?, ?)", [day, n_designs, *row])
    return row[4]


def pbo_as_of(con: duckdb.DuckDBPyConnection, day) -> dict[str, tuple[float | None, int]]:
    """Per design: (PBO, trials) of its latest tuning on or before `day`, both from that one row (arg_max
    skips a NULL PBO: a latest tuning without one would have been paired with an older tuning's)."""
    return {r[0]: (r[1], r[2]) for r in con.execute(
        "select design_id, pbo, n_trials from tuning_pbo where run_date <= ? "
        "qualify row_number() over (partition by design_id order by run_date desc) = 1", [day]).fetchall()}


def monte_carlo_rows(day, ranked: list[dict[str, Any]], evaluations: dict[str, Any],
                     cfg: MonteCarloConfig) -> list[list[Any]]:
    """Rows of monte_carlo_runs for the top_k ranked designs: trade and block bootstrap summaries."""
    out = []
    for r in ranked[:cfg.top_k]:
        ev = evaluations[r["design_id"]]
        trades = ev.oos_trade_returns if ev.oos_trade_returns is not None else np.zeros(0)
        for method, s in simulate(r["design_id"], trades, ev.oos_returns, cfg).items():
            out.append([day, r["design_id"], r["rank"], method, int(s["paths"]), int(s["steps"]),
                        cfg.block_bars if method == "bars" else None, seed_for(r["design_id"], cfg.seed),
                        s["max_drawdown_p05"], s["max_drawdown_p50"], s["max_drawdown_mean"],
                        s["final_return_p05"], s["final_return_p50"], s["final_return_mean"]])
    return out


def write_monte_carlo(con: duckdb.DuckDBPyConnection, rows: list[list[Any]]) -> None:
    if rows:
        con.executemany(f"insert into monte_carlo_runs values ({', '.join('?' * 14)})", rows)
