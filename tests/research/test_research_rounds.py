"""A research day in rounds: while fewer than target_active designs are active, another round of fresh
designs is tuned and the day ranked again; the round size follows the pass rate seen so far, the day's
count budget caps it, and every round's trials count in the deflated Sharpe's N."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.platform.timeframes import HOUR_MS
from python_assets.research import daily
from python_assets.research.daily import ResearchConfig, round_size, run_day
from python_assets.research.ranker import RankConfig
from python_assets.research.tuner import Market
from tests.research.test_research import tables

DAY = date(2025, 3, 1)
# 20 trades to pass (not 5) so that a quarter of this noise market's designs does not: rounds are called for
CFG = ResearchConfig(include_catalog=False, trials_per_design=3, new_designs_min=4, new_designs_max=60, max_rounds=4,
                     rank=RankConfig(target_active=5, min_trades=20))


def test_round_size_fills_the_gap_at_the_observed_pass_rate_within_the_day_budget():
    cfg = ResearchConfig(new_designs_min=4, new_designs_max=150, rank=RankConfig(target_active=20))
    assert round_size((0, 0), cfg, 0, True) == 80  # no ranking yet: a quarter expected to pass, 20 / (1 / 4)
    assert round_size((11, 52), cfg, 80, False) == 42  # 9 lacking at 12 / 56: ceil(9 x 56 / 12) = ceil(42.0)
    assert round_size((19, 100), cfg, 100, False) == 6  # ceil(1 x 104 / 20) = ceil(5.2)
    assert round_size((19, 100), cfg, 147, False) == 3  # ... within the 3 left of the day's 150
    assert round_size((20, 100), cfg, 30, False) == 0  # the target is met: no later round
    assert round_size((25, 100), cfg, 0, True) == 4  # a day's first round still proposes new_designs_min
    assert round_size((0, 0), cfg, 140, False) == 10  # what is left of the day's 150
    assert round_size((0, 0), cfg, 150, False) == 0
    assert round_size((30, 100), cfg, 150, True) == 0  # never past the day's cap


def noise_frame(days: int = 30, symbols=("AAA-USDT", "BBB-USDT"), seed: int = 11) -> pd.DataFrame:
    """Hourly random-walk bars (fat tails), OHLCV only: the designer uses its inline-indicator atoms."""
    rng = np.random.default_rng(seed)
    n, frames = days * 24, []
    for sym in symbols:
        close = 50 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.006))
        open_ = np.r_[close[0], close[:-1]]
        frames.append(pd.DataFrame({"symbol": sym, "timeframe": "1h", "bar_at_ms": np.arange(n, dtype=np.int64) * HOUR_MS,
                                    "open": open_, "high": np.maximum(open_, close) * 1.002,
                                    "low": np.minimum(open_, close) * 0.998, "close": close, "volume": 1.0}))
    return pd.concat(frames, ignore_index=True)


def test_rounds_run_while_the_target_is_not_met_and_count_every_trial():
    market = Market.from_frame(noise_frame(), "1h")
    one = duckdb.connect()
    first = run_day(one, market, DAY, replace(CFG, max_rounds=1))
    assert first["rounds"] == 1 and first["active"] < CFG.rank.target_active  # a second round is called for
    con = duckdb.connect()
    got = run_day(con, market, DAY, CFG)
    assert got["rounds"] > 1 and got["designs"] > first["designs"]
    # it stopped for a reason: the target met, the rounds or the day's designs used up
    assert (got["active"] >= CFG.rank.target_active or got["rounds"] == CFG.max_rounds
            or got["designs"] == CFG.new_designs_max)
    # the first round is the max_rounds=1 day's, the later rounds only add fresh keys
    one_keys = {k for (k,) in one.execute("select design_key from strategy_designs").fetchall()}
    keys = [k for (k,) in con.execute("select design_key from strategy_designs").fetchall()]
    assert one_keys < set(keys) and len(keys) == len(set(keys)) == got["designs"]
    assert {o for (o,) in con.execute("select distinct origin from strategy_designs").fetchall()} == {"random"}
    # N counts every round's trials; each design ranked once, tuned once, with one PBO row
    trials = con.execute("select count(*) from tuning_trials").fetchone()[0]
    assert trials == got["trials"] == got["trials_total"]
    assert con.execute("select min(n_trials_total), max(n_trials_total), count(*), count(distinct design_id) "
                       "from ranking_history").fetchone() == (trials, trials, got["designs"], got["designs"])
    assert con.execute("select count(*), count(distinct design_id) from tuning_pbo").fetchone() == (got["designs"],) * 2
    assert con.execute("select count(*) from strategy_tuning").fetchone()[0] == got["designs"]
    # a rerun of the day stores the same rows
    before = tables(con)
    assert run_day(con, market, DAY, CFG) == got
    after = tables(con)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], check_exact=True)


def test_a_later_round_reuses_the_earlier_rounds_evaluations_and_ranks_as_a_fresh_ranking_would(monkeypatch):
    """Each design is evaluated out of sample once a day, not once a round (the same design, parameters and
    start on the same market give the same evaluation); the ranking equals one made from scratch."""
    calls = []
    real = daily.evaluate
    monkeypatch.setattr(daily, "evaluate", lambda *args, **kwargs: (calls.append(args[1].name), real(*args, **kwargs))[1])
    market, con = Market.from_frame(noise_frame(), "1h"), duckdb.connect()
    got = run_day(con, market, DAY, CFG)
    assert got["rounds"] > 1 and sorted(calls) == sorted(set(calls)) and len(calls) == got["designs"]
    ranked = tables(con)["ranking_history"]
    daily.rank_day(con, market, DAY, CFG)  # from scratch: every design evaluated again
    assert len(calls) == 2 * got["designs"]
    pd.testing.assert_frame_equal(ranked, tables(con)["ranking_history"], check_exact=True)


def test_the_days_cap_counts_proposals_in_every_round_and_catalog_specs_enter_once_beside_it():
    """new_designs_max bounds what the designer proposes on a day, all rounds together; the catalog specs
    (those the columns allow) enter once on top, as before rounds (round 0 had counted none, later rounds all)."""
    con = duckdb.connect()
    # round 0 proposes 4 x 2 = 8 beside the catalog specs; 30 trades to pass leaves it short of 2 active
    got = run_day(con, Market.from_frame(noise_frame(), "1h"), DAY, replace(
        CFG, include_catalog=True, new_designs_max=10, rank=RankConfig(target_active=2, min_trades=30)))
    origins = dict(con.execute("select origin = 'catalog', count(*) from strategy_designs group by all").fetchall())
    assert got["rounds"] == 2 and origins.get(False) == 10 and origins.get(True, 0) >= 1
    assert got["designs"] == sum(origins.values())


def test_max_rounds_counts_the_first_round():
    """0 rounds ran nothing: the day's rows from an earlier run stayed, unranked, and the step succeeded."""
    with pytest.raises(ValueError, match="max_rounds"):
        replace(CFG, max_rounds=0)


def test_the_guard_passed_between_rounds_stops_before_the_next_round_is_tuned(monkeypatch):
    """The guard passed while the first round was ranked: the second round is not begun (a round of one design
    was tuned to the end, a longer one had its first design tuned, before the guard was looked at)."""
    clock = {"now": 0.0}
    real_rank, real_tune = daily.rank_day, daily.tune_designs
    tuned = []

    def slow_rank(*args, **kwargs):
        clock["now"] += 100.0
        return real_rank(*args, **kwargs)

    monkeypatch.setattr(daily, "time", SimpleNamespace(monotonic=lambda: clock["now"]))
    monkeypatch.setattr(daily, "rank_day", slow_rank)
    monkeypatch.setattr(daily, "tune_designs", lambda tasks: (tuned.extend(tasks), real_tune(tasks))[1])
    market = Market.from_frame(noise_frame(), "1h")
    with duckdb.connect() as con:
        with pytest.raises(daily.ResearchBudgetError, match="after 1 rounds .* before round 1"):
            run_day(con, market, DAY, replace(CFG, budget_seconds=50.0))
        first_round = con.execute("select count(*) from strategy_tuning").fetchone()[0]
        searched = con.execute("select count(*) from search_pbo").fetchone()[0]
    assert first_round > 0 and len(tuned) == first_round
    assert searched == 0  # the search PBO comes after the rounds: a failed day has none (a rerun clears the day)


def test_a_day_of_rounds_backfilled_after_a_later_day_stores_its_own_rows_and_leaves_the_later_days():
    market, later = Market.from_frame(noise_frame(), "1h"), date(2025, 3, 2)
    alone = duckdb.connect()
    assert run_day(alone, market, DAY, CFG)["rounds"] > 1
    con = duckdb.connect()
    assert run_day(con, market, later, CFG)["rounds"] > 1  # no ranking before it either: rounds too
    later_rows = tables(con, later)
    run_day(con, market, DAY, CFG)  # the earlier day, run second, then again
    run_day(con, market, DAY, CFG)
    for want, got in ((later_rows, tables(con, later)), (tables(alone), tables(con, DAY))):
        for name, frame in want.items():
            assert len(frame) > 0, name
            pd.testing.assert_frame_equal(frame, got[name], check_exact=True, obj=name)


def test_a_research_window_without_bars_tunes_nothing_and_says_so(tmp_path):
    """A window with no bars of the timeframe (BLOFIN_SYMBOLS= ran on an empty lake; a lake source whose days
    lack the window) failed the step in Market.from_frame: int(NaN) of the empty frame's first bar. Now the day
    is researched as nothing to tune, its old rows cleared, and the stress step after it stresses nothing."""
    from python_assets.research.step import fill_stress_days, research_days
    from python_assets.platform.timeframes import DAY_MS

    frame = noise_frame(days=3)
    frame["bar_at"], frame["bar_date"] = pd.to_datetime(frame["bar_at_ms"], unit="ms", utc=True), None
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table features as select * from frame")
    day = date(1970, 1, 3)
    had = research_days(warehouse, [(day, 3 * DAY_MS)], "1h", 3, replace(CFG, max_rounds=1), 1, 4)
    assert had["designs"] > 0 and had["trials"] > 0
    empty_end = 40 * DAY_MS  # the window 10..40 days after the bars: none of them
    got = research_days(warehouse, [(day, empty_end)], "1h", 30, CFG, 1, 4)
    assert got == {"designs": 0, "trials": 0, "rounds": 0, "ranked": 0, "active": 0, "trials_total": 0,
                   "note": "no 1h bars in the research window ending 1970-01-03: nothing to tune"}
    with duckdb.connect(str(warehouse)) as con:  # the earlier run of the day left nothing behind
        for table in ("strategy_designs", "tuning_trials", "strategy_tuning", "ranking_history"):
            assert con.execute(f"select count(*) from {table}").fetchone()[0] == 0, table
    assert fill_stress_days(warehouse, [(day, empty_end)], 3) == {"designs": 0, "rows": 0, "edge_lost": []}
