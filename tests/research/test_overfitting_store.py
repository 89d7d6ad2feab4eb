"""The PBO lifecycle rule on hand-built histories, and the research step's overfitting and Monte
Carlo tables: PBO from the stored trial returns, Monte Carlo rows of the top-ranked designs."""

from __future__ import annotations

import math
from datetime import date
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.research import daily, robustness
from python_assets.research.montecarlo import MonteCarloConfig
from python_assets.research.pbo import pbo
from python_assets.research.ranker import RankConfig, next_status

CFG = RankConfig(min_trades=5, archive_days=3, max_pbo=0.5, min_pbo_trials=8)


def day(rank, n=20, sharpe=0.1, trades=10, **extra):
    return {"rank": rank, "n_ranked": n, "oos_sharpe": sharpe, "oos_trades": trades, **extra}


def test_an_overfit_tuning_archives_at_once_with_its_reason():
    status, reason = next_status("active", [day(1), day(2, pbo=0.7, pbo_trials=12)], 20, CFG)
    assert status == "archived" and reason == "probability of backtest overfitting 0.70 > 0.50 over 12 trials"
    assert next_status("candidate", [day(1, pbo=0.9, pbo_trials=8)], 20, CFG)[0] == "archived"


def test_too_few_trials_or_pbo_at_the_threshold_do_not_archive():
    assert next_status("active", [day(2, pbo=0.9, pbo_trials=7)], 20, CFG) == ("active", None)
    assert next_status("active", [day(2, pbo=0.5, pbo_trials=12)], 20, CFG) == ("active", None)
    assert next_status("active", [day(2, pbo=None, pbo_trials=0)], 20, CFG) == ("active", None)
    assert next_status("candidate", [day(2, pbo=float("nan"), pbo_trials=12)], 20, CFG)[0] == "active"
    assert next_status("active", [day(2)], 20, CFG) == ("active", None)  # rows without PBO (older days)


def test_an_overfit_design_is_not_reactivated_even_at_the_top():
    assert next_status("archived", [day(19), day(1, pbo=0.6, pbo_trials=12)], 20, CFG) == ("archived", None)
    status, reason = next_status("archived", [day(19), day(1, pbo=0.2, pbo_trials=12)], 20, CFG)
    assert status == "active" and reason.startswith("reactivated")


def insert_returns(con, run_date, design_id, matrix, days):
    for trial, column in enumerate(matrix.T):
        for d, value in zip(days, column):
            if value is not None:
                con.execute("insert into tuning_trial_returns values (?, ?, ?, ?, ?)",
                            [run_date, design_id, trial, d, value])


def test_pbo_day_reads_the_stored_trials_and_fills_missing_days_with_zero():
    con = duckdb.connect()
    daily.ensure_tables(con)
    run = date(2025, 3, 2)
    m = np.random.default_rng(4).normal(0.0, 0.01, (12, 3))
    days = [k * 86_400_000 for k in range(12)]
    insert_returns(con, run, "dA", m, days)
    insert_returns(con, date(2025, 3, 1), "dA", m * 0, days)  # another day's tuning: not read
    sparse = np.where((np.arange(12)[:, None] + np.arange(3)) % 5 == 0, np.nan, m)  # a trial's missing day -> 0
    insert_returns(con, run, "dB", np.where(np.isnan(sparse), None, sparse).astype(object), days)
    insert_returns(con, run, "dC", m[:, :1], days)  # one trial: undefined
    assert robustness.pbo_day(con, run) == 3
    got = {r[0]: r[1:] for r in con.execute("select design_id, n_trials, n_periods, n_blocks, n_combinations, pbo "
                                            "from tuning_pbo where run_date = ?", [run]).fetchall()}
    expected_a, expected_b = pbo(m, 6)[0], pbo(np.nan_to_num(sparse), 6)[0]
    assert got["dA"] == (3, 12, 6, 20, pytest.approx(expected_a))
    assert got["dB"] == (3, 12, 6, 20, pytest.approx(expected_b))
    assert got["dC"][:4] == (1, 12, 6, 0) and got["dC"][4] is None
    assert robustness.pbo_as_of(con, date(2025, 3, 5))["dA"] == (pytest.approx(expected_a), 3)



def test_the_search_pbo_is_one_cscv_over_every_design_s_trials_of_the_day_and_replaces_its_row():
    con = duckdb.connect()
    daily.ensure_tables(con)
    run, days = date(2025, 3, 2), [k * 86_400_000 for k in range(16)]
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.0, 0.01, (16, 4)), rng.normal(0.0, 0.01, (16, 3))
    insert_returns(con, run, "dA", a, days)
    insert_returns(con, run, "dB", b, days)
    insert_returns(con, date(2025, 3, 1), "dC", rng.normal(0.0, 0.01, (16, 5)), days)  # another day's search
    got = robustness.search_pbo_day(con, run)
    assert got == pytest.approx(pbo(np.hstack([a, b]), 8)[0])  # columns in (design, trial) order
    assert con.execute("select n_designs, n_trials, n_periods, n_blocks, n_combinations from search_pbo").fetchall() == [
        (2, 7, 16, 8, 70)]
    # a trial in every block above the rest: the search found it, PBO 0; computed again, one row for the day
    b[:, 0] = 0.02 + rng.normal(0.0, 0.001, 16)
    con.execute("delete from tuning_trial_returns where design_id = 'dB'")
    insert_returns(con, run, "dB", b, days)
    assert robustness.search_pbo_day(con, run) == 0.0
    assert con.execute("select count(*), min(pbo) from search_pbo").fetchall() == [(1, 0.0)]
    assert robustness.search_pbo_day(con, date(2025, 3, 9)) is None  # a day that searched nothing: NULL
    assert con.execute("select n_trials, pbo from search_pbo where run_date = '2025-03-09'").fetchall() == [(0, None)]


def test_pbo_as_of_takes_pbo_and_trials_from_the_same_latest_tuning():
    # a later tuning without a PBO (too few periods) is the latest: its (None, trials), not the older
    # tuning's PBO beside the newer trial count (arg_max skips NULLs)
    con = duckdb.connect()
    daily.ensure_tables(con)
    con.execute("insert into tuning_pbo (run_date, design_id, n_trials, n_periods, n_blocks, n_combinations, pbo) "
                "values ('2025-01-01', 'd1', 8, 12, 6, 20, 0.9), ('2025-01-05', 'd1', 12, 3, 0, 0, null)")
    assert robustness.pbo_as_of(con, date(2025, 1, 6)) == {"d1": (None, 12)}
    assert robustness.pbo_as_of(con, date(2025, 1, 4)) == {"d1": (0.9, 8)}

def test_trial_returns_round_trip_through_the_landing_table():
    con = duckdb.connect()
    daily.ensure_tables(con)
    series = pd.Series([0.01, -0.02], index=np.array([0, 86_400_000], dtype=np.int64))
    n = robustness.write_trial_returns(con, date(2025, 3, 2), [
        {"design_id": "dA", "trial_no": 0, "daily_returns": series},
        {"design_id": "dA", "trial_no": 2, "daily_returns": pd.Series(dtype=float)}])
    assert n == 2
    assert con.execute("select trial_no, period_start_ms, period_return from tuning_trial_returns order by 2"
                       ).fetchall() == [(0, 0, 0.01), (0, 86_400_000, -0.02)]


def test_monte_carlo_rows_cover_the_top_k_with_both_methods():
    ev = lambda k: SimpleNamespace(oos_trade_returns=np.full(4, 0.01 * k), oos_returns=0.001 * k * np.sin(np.arange(30)))  # noqa: E731
    ranked = [{"design_id": f"d{k}", "rank": k} for k in range(1, 5)]
    rows = robustness.monte_carlo_rows(date(2025, 3, 2), ranked, {f"d{k}": ev(k) for k in range(1, 5)},
                                       MonteCarloConfig(top_k=2, n_paths=50, block_bars=5))
    assert [(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows] == [
        ("d1", 1, "trades", 50, 4, None), ("d1", 1, "bars", 50, 30, 5),
        ("d2", 2, "trades", 50, 4, None), ("d2", 2, "bars", 50, 30, 5)]
    assert rows[0][8:] == [None] * 6  # equal trades: no spread to resample, no quantiles (and trades: no drawdown)
    con = duckdb.connect()
    daily.ensure_tables(con)
    robustness.write_monte_carlo(con, rows)
    assert con.execute("select count(*) from monte_carlo_runs").fetchall() == [(4,)]
    assert not any(math.isnan(v) for v in rows[1][8:])


def test_daily_compounding_and_trade_returns_by_hand():
    from python_assets.research.tuner import daily_compounded, trade_returns
    from python_assets.platform.timeframes import DAY_MS

    # two bars of day 0 compound: 1.1 x 0.9 - 1 = -0.01; day 1 keeps its one bar
    got = daily_compounded(pd.Series([0.1, -0.1, 0.2], index=np.array([0, 3_600_000, DAY_MS], dtype=np.int64)))
    assert got.index.tolist() == [0, DAY_MS] and got.tolist() == pytest.approx([-0.01, 0.2])
    # trades entered at bar 0 (equity before = the initial 100) and bar 3 (equity at bar 2 = 102),
    # pnl 2 and -1.02, over two symbols: 2/100/2 = 0.01 and -1.02/102/2 = -0.005
    res = SimpleNamespace(size=np.ones(2), entry_index=np.array([0, 3]), equity=np.array([100.0, 101, 102, 103, 104]),
                          pnl=np.array([2.0, -1.02]))
    idle = SimpleNamespace(size=np.zeros(0), entry_index=np.zeros(0, int), equity=np.full(5, 100.0), pnl=np.zeros(0))
    assert trade_returns([(None, res), (None, idle)], 100.0).tolist() == pytest.approx([0.01, -0.005])
