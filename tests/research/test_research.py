"""Designer, tuner and ranker: a planted edge ranks first, noise stays insignificant after hundreds
of trials, runs are deterministic, lifecycle rules fire with reasons, duplicates are never retested."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import kurtosis, skew

from python_assets.ingest import synthetic
from python_assets.research.daily import ResearchConfig, run_day
from python_assets.research.designer import canonical, propose, usable_atoms
from python_assets.research.dsr import deflated_sharpe, expected_max_sharpe, probabilistic_sharpe, sharpe
from python_assets.research.ranker import RankConfig, next_status, score
from python_assets.research.tuner import Market

DAYS = [date(2025, 3, 1) + timedelta(days=k) for k in range(3)]
CFG = ResearchConfig(include_catalog=False, trials_per_design=15, budget_seconds=600)


def hourly_frame(edge: float, monkeypatch, symbols=("BTC-USDT", "ETH-USDT"), days=40) -> pd.DataFrame:
    """1h OHLCV bars aggregated from the synthetic generator's ticks (with BLOFIN_SYNTHETIC_EDGE)."""
    monkeypatch.setenv(synthetic.EDGE_ENV, str(edge))
    frames = []
    for sym in symbols:
        for k in range(days):
            ticks = synthetic.generate_ticks(sym, date(2025, 1, 1) + timedelta(days=k))
            ticks["h"] = ticks["ts"] // 3_600_000 * 3_600_000
            g = ticks.sort_values("ts", kind="stable").groupby("h")  # ties keep arrival order
            frames.append(pd.DataFrame({"symbol": sym, "timeframe": "1h", "bar_at_ms": g.size().index.astype("int64"),
                                        "open": g["price"].first().values, "high": g["price"].max().values,
                                        "low": g["price"].min().values, "close": g["price"].last().values,
                                        "volume": g["size"].sum().values}))
    return pd.concat(frames, ignore_index=True)


def research(frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    market = Market.from_frame(frame, "1h")
    for day in DAYS:
        run_day(con, market, day, CFG)
    return con


def tables(con, day: date | None = None) -> dict[str, pd.DataFrame]:
    """Every research table (seconds aside, a machine's time), or only the rows of `day`."""
    out = {}
    for t in ("strategy_designs", "tuning_trials", "strategy_tuning", "ranking_history", "tuning_trial_returns",
              "tuning_pbo", "search_pbo", "monte_carlo_runs"):
        where = f"where {'created_date' if t == 'strategy_designs' else 'run_date'} = '{day.isoformat()}'" if day else ""
        out[t] = con.execute(f"select * from {t} {where} order by all").df().drop(columns=["seconds"], errors="ignore")
    return out


@pytest.mark.slow
def test_a_planted_edge_ranks_first_and_runs_are_deterministic(monkeypatch):
    frame = hourly_frame(0.8, monkeypatch)
    con = research(frame)
    top = con.execute("""select d.design_key from ranking_history h join strategy_designs d using (design_id)
                         where run_date = ? order by rank limit 1""", [DAYS[-1]]).fetchall()[0][0]
    side, atoms = top.split("|")
    # buys after a down hour (a fixed or a volatility-scaled fall): the planted reversal
    assert {"drop", "drop_z"} & set(atoms.split("&")) and side in ("long", "both")
    again = tables(research(frame))
    for name, df in tables(con).items():
        pd.testing.assert_frame_equal(df, again[name], check_exact=True, obj=name)
    # every trial and ranking is plain SQL
    assert con.execute("select count(*) from tuning_trials").fetchall()[0][0] >= 300
    assert con.execute("select count(distinct run_date) from ranking_history").fetchall()[0][0] == 3


@pytest.mark.slow
def test_on_noise_no_deflated_sharpe_is_significant_after_hundreds_of_trials(monkeypatch):
    con = research(hourly_frame(0.0, monkeypatch))
    n_trials, best = con.execute("select max(n_trials_total), max(deflated_sharpe) from ranking_history "
                                 "where run_date = ?", [DAYS[-1]]).fetchall()[0]
    assert n_trials >= 300 and best < 0.95


def test_deflated_sharpe_hand_computed_and_monotone_in_trials():
    # PSR: SR 0.1 over 100 normal returns (skew 0, kurtosis 3) against 0:
    # z = 0.1 sqrt(99) / sqrt(1 + 0.5 x 0.01) = 0.994987 / 1.002497 = 0.992509 -> Phi(z) = 0.839525
    assert probabilistic_sharpe(0.1, 0.0, 100, 0.0, 3.0) == pytest.approx(0.839525, abs=1e-5)
    # E[max] of N noise Sharpes with variance 1, N=100: (1 - 0.5772) x z(0.99) + 0.5772 x z(1 - 1/(100e))
    #   = 0.42278 x 2.32635 + 0.57722 x 2.68021 = 2.5306
    assert expected_max_sharpe(100, 1.0) == pytest.approx(2.5306, abs=1e-3)
    r = np.random.default_rng(1).normal(0.05, 1.0, 500)
    dsrs = [deflated_sharpe(r, n, 0.002)[0] for n in (1, 10, 100, 1000)]
    assert all(a > b for a, b in zip(dsrs, dsrs[1:]))
    # one trial: no deflation, DSR = PSR against 0
    assert dsrs[0] == pytest.approx(probabilistic_sharpe(r.mean() / r.std(ddof=1), 0.0, 500, float(skew(r)),
                                                          float(kurtosis(r, fisher=False))))


def test_several_trials_without_a_sharpe_variance_have_no_deflated_sharpe():
    # the review's repro: 1000 trials of which fewer than two stored an out-of-sample Sharpe (variance 0.0,
    # or NaN as rank_day now passes) gave SR0 = 0, so no deflation: DSR 0.980, scored and eligible
    r = np.random.default_rng(2).normal(0.0012, 0.01, 720)
    for variance in (0.0, math.nan):
        dsr, sr0 = deflated_sharpe(r, 1000, variance)
        assert math.isnan(dsr) and math.isnan(sr0)
        s = score(r, 20, 1000, variance, RankConfig())
        assert s["score"] == 0.0 and not s["eligible"]
    # one trial: nothing to deflate for, SR0 = 0 and the DSR is the PSR against 0, with or without a variance
    psr = probabilistic_sharpe(r.mean() / r.std(ddof=1), 0.0, 720, float(skew(r)), float(kurtosis(r, fisher=False)))
    for variance in (0.0, math.nan, 0.002):
        assert deflated_sharpe(r, 1, variance) == (pytest.approx(psr), 0.0)


@pytest.mark.parametrize("value,n", [(0.1, 3), (0.003, 100), (-0.02, 7)])
def test_a_constant_return_series_has_no_sharpe(value, n):
    # flat: NaN by definition; NumPy's stddev of a constant series can come out a rounding above 0 (a
    # Sharpe ~1e15), and the deflated Sharpe of 0.1, 0.1, 0.1 against 100 trials was 1.0
    flat = np.full(n, value)
    assert math.isnan(sharpe(flat))
    assert math.isnan(deflated_sharpe(flat, 100, 0.01)[0])


def test_a_series_flat_up_to_rounding_has_no_sharpe():
    # 0.1 + 0.2 is 0.30000000000000004: the series differs in the last bit only (ptp 5.6e-17), and its
    # stddev of 3.2e-17 gave a Sharpe of 6.6e15 and a DSR of 0.9997; a stddev <= 1e-12 x |mean| is flat
    near = np.array([0.1 + 0.2, 0.3, 0.3, 0.1 + 0.2])
    assert np.ptp(near) > 0 and math.isnan(sharpe(near)) and math.isnan(deflated_sharpe(near, 10, 0.01)[0])
    assert math.isnan(sharpe(np.full(50, 1e-3) * (1 + 1e-15 * np.arange(50))))  # spread below 1e-12 (absolute, |mean| < 1)
    # a real spread, however small against the mean, still has one
    assert sharpe(np.array([0.01, 0.01 + 1e-11])) == pytest.approx(0.01 / (1e-11 / math.sqrt(2)), rel=1e-4)


def day(rank, n=20, sharpe=0.1, trades=10):
    return {"rank": rank, "n_ranked": n, "oos_sharpe": sharpe, "oos_trades": trades}


def test_lifecycle_activation_archival_and_reactivation():
    cfg = RankConfig(min_trades=5, archive_days=3, bottom_fraction=0.25)
    assert next_status("candidate", [day(5)], 20, cfg)[0] == "active"
    assert next_status("candidate", [day(5, trades=2)], 20, cfg) == ("candidate", None)
    # two bottom days are not enough, three are
    assert next_status("active", [day(18), day(19)], 20, cfg) == ("active", None)
    status, reason = next_status("active", [day(3), day(18), day(19), day(20)], 20, cfg)
    assert status == "archived" and "bottom 25%" in reason
    status, reason = next_status("active", [day(2, sharpe=-0.1), day(3, sharpe=0.0), day(4, sharpe=-0.2)], 20, cfg)
    assert status == "archived" and "Sharpe <= 0 for 3 days" in reason
    # archived stays archived until it is back in the top half with a positive Sharpe
    assert next_status("archived", [day(15)], 20, cfg) == ("archived", None)
    assert next_status("archived", [day(4, sharpe=-0.1)], 20, cfg) == ("archived", None)
    status, reason = next_status("archived", [day(19), day(19), day(4)], 20, cfg)
    assert status == "active" and reason.startswith("reactivated")
    # a day without out-of-sample trades stores a NULL Sharpe: it reads back as None and is not > 0
    status, reason = next_status("active", [day(2, sharpe=None, trades=0), day(3, sharpe=float("nan")), day(4, sharpe=None)], 20, cfg)
    assert status == "archived" and "Sharpe <= 0" in reason
    assert next_status("candidate", [day(1, sharpe=None, trades=None)], 20, cfg) == ("candidate", None)


def test_bottom_and_top_fractions_in_small_rankings():
    """`rank > 0.75 n` called the only ranked design (the top one) the bottom 25% and rank 2 of 2 too;
    `rank <= 0.5 n` kept rank 1 of 1 out of the top half for good."""
    cfg = RankConfig(min_trades=5, archive_days=3, bottom_fraction=0.25)
    for n in (1, 2, 3):
        assert next_status("active", [day(n, n=n)] * 3, n, cfg) == ("active", None), n
    status, reason = next_status("active", [day(4, n=4)] * 3, 4, cfg)
    assert status == "archived" and "bottom 25%" in reason
    assert next_status("active", [day(15, n=20)] * 3, 20, cfg) == ("active", None)  # 14 above it: 70 %
    assert next_status("archived", [day(1, n=1)], 1, cfg)[0] == "active"
    assert next_status("archived", [day(2, n=3)], 3, cfg)[0] == "active"  # 1 of 3 above it
    assert next_status("archived", [day(11, n=20)], 20, cfg) == ("archived", None)


def test_designer_canonical_form_and_no_retest_of_duplicates():
    a = canonical("long", ["rsi", "adx"], "random")
    b = canonical("long", ["adx", "rsi", "adx"], "mutation", ["x"])
    assert a.key == b.key and a.design_id == b.design_id
    atoms = usable_atoms(frozenset({"rsi_14", "adx_14", "close_zscore_20"}))
    assert {"rsi", "adx", "zscore", "drop", "sma_cross"} <= set(atoms) and "macd_turn" not in atoms
    seen: set[str] = set()
    first = propose(random.Random(1), atoms, [], seen, 40)
    parents = first[:5]
    second = propose(random.Random(2), atoms, parents, seen, 40)
    keys = [d.key for d in first + second]
    assert len(keys) == len(set(keys)) and len(second) > 0
    assert any(d.origin in ("mutation", "crossover") for d in second)
    assert all(set(d.parents) <= {p.design_id for p in parents} for d in second)


def test_rerunning_a_day_replaces_it_and_never_duplicates_designs(monkeypatch):
    frame = hourly_frame(0.0, monkeypatch, symbols=("BTC-USDT",), days=25)
    con = duckdb.connect()
    market = Market.from_frame(frame, "1h")
    cfg = ResearchConfig(include_catalog=False, trials_per_design=4, new_designs_max=8)
    for d in DAYS[:2]:
        run_day(con, market, d, cfg)
    before = tables(con)
    run_day(con, market, DAYS[1], cfg)  # rerun of the last day
    after = tables(con)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    keys = con.execute("select design_key from strategy_designs").fetchall()
    assert len(keys) == len(set(keys))
    assert not math.isnan(con.execute("select max(score) from ranking_history").fetchall()[0][0])
    # every design tuned with >= 2 trials has a PBO over its stored trials; the top 5 a Monte Carlo
    pbo_rows = con.execute("select count(*), count(pbo), min(n_trials) from tuning_pbo").fetchall()[0]
    assert pbo_rows[0] == con.execute("select count(distinct (run_date, design_id)) from tuning_trials").fetchall()[0][0]
    assert pbo_rows[1] > 0 and pbo_rows[2] >= 2
    per_day = con.execute("select run_date, count(distinct design_id), max(rank) from monte_carlo_runs group by 1").fetchall()
    assert len(per_day) == 2 and all(n == 5 and top == 5 for _, n, top in per_day)


def test_a_day_reranked_after_an_earlier_day_reran_is_bit_identical():
    """Rerunning an earlier day stores its trials again at the end of the table; the later day's deflated
    Sharpes then read the trial Sharpes in another order, and their variance (a float sum) moved in the last
    bits: 32 of 72 scores differed. The Sharpes are sorted before the variance."""
    rng, n = np.random.default_rng(6), 40 * 24
    t0, frames = int(pd.Timestamp("2025-01-20", tz="UTC").value // 10**6), []
    for sym in ("BTC-USDT", "ETH-USDT"):
        c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        o = np.r_[100.0, c[:-1]]
        frames.append(pd.DataFrame({"symbol": sym, "timeframe": "1h", "bar_at_ms": t0 + np.arange(n) * 3_600_000,
                                    "open": o, "high": np.maximum(o, c) * 1.002, "low": np.minimum(o, c) * 0.998,
                                    "close": c, "volume": 1.0}))
    market = Market.from_frame(pd.concat(frames, ignore_index=True), "1h")
    cfg = ResearchConfig(include_catalog=False, trials_per_design=6, new_designs_min=6, new_designs_max=6)
    days = [date(2025, 2, 26) + timedelta(days=k) for k in range(3)]
    con = duckdb.connect()
    for day in days:
        run_day(con, market, day, cfg)
    query = "select * from ranking_history where run_date = ? order by design_id"
    before = con.execute(query, [days[-1]]).fetchall()
    run_day(con, market, days[0], cfg)  # the same trials, stored after the later days' now
    run_day(con, market, days[-1], cfg)
    assert con.execute(query, [days[-1]]).fetchall() == before and len(before) > 6
