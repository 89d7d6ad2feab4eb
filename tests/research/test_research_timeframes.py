"""A design is ranked, combined and stressed only on the timeframe it was tuned on. A later research day at
another timeframe ranked every stored design on its bars (162 designs tuned on 1h ranked on 15m bars, 28
'active', one deflated-Sharpe pool of both timeframes' trials), and the portfolio and the fill stress ran on
a timeframe of their own (1h designs run at 15m: Sharpe +28 -> -17). Now the day's research records its
market and the two steps after it run on that one."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
import pandas as pd
import pytest

from python_assets.platform.timeframes import DAY_MS, MINUTE_MS
from python_assets.research.daily import run_day
from python_assets.research.design_specs import DesignUnavailable, design_strategy
from python_assets.research.tuner import Market
from tests.research.test_research_rounds import CFG, DAY, noise_frame


def quarter_hour_frame(days: int = 120) -> pd.DataFrame:
    """noise_frame's bars as 15m bars (the same closes, a quarter of the span)."""
    frame = noise_frame(days=days)
    frame["timeframe"] = "15m"
    frame["bar_at_ms"] = frame.groupby("symbol").cumcount().to_numpy() * 15 * MINUTE_MS
    return frame


def test_a_day_at_another_timeframe_ranks_only_its_own_designs_and_deflates_among_their_trials():
    con = duckdb.connect()
    cfg = replace(CFG, max_rounds=1)
    first = run_day(con, Market.from_frame(noise_frame(), "1h"), DAY, cfg)
    assert first["ranked"] > 0
    second = date.fromordinal(DAY.toordinal() + 1)
    got = run_day(con, Market.from_frame(quarter_hour_frame(), "15m"), second, replace(cfg, timeframe="15m"))
    ranked = con.execute("select d.timeframe, count(*), max(r.n_trials_total) from ranking_history r join "
                         "strategy_designs d using (design_id) where r.run_date = ? group by 1", [second]).fetchall()
    trials_15m = con.execute("select count(*) from tuning_trials t join strategy_designs d using (design_id) "
                             "where d.timeframe = '15m'").fetchone()[0]
    assert [(tf, n) for tf, n, _ in ranked] == [("15m", got["ranked"])]  # no 1h design ranked on 15m bars
    assert ranked[0][2] == trials_15m == got["trials_total"]  # N: the 15m trials only
    assert any(f"designs tuned on 1h left out of the 15m ranking" in n for n in got["notes"])


def test_a_stored_design_does_not_run_on_another_timeframe():
    from python_assets.research.designer import ATOMS, canonical, spec_dict

    spec = spec_dict(canonical("long", [sorted(ATOMS)[0]], "random", ()), "1h")
    assert design_strategy("k", "random", spec, "1h").timeframe == "1h"
    with pytest.raises(DesignUnavailable, match="tuned on 1h bars, not on the market's 15m"):
        design_strategy("k", "random", spec, "15m")


def test_the_portfolio_and_the_fill_stress_run_on_the_market_the_research_recorded(tmp_path):
    from python_assets.backtest.portfolio_daily import PortfolioDayConfig
    from python_assets.research.markets import researched_market
    from python_assets.research.step import fill_stress_days, portfolio_days, research_days

    frame = quarter_hour_frame()
    frame["bar_at"], frame["bar_date"] = pd.to_datetime(frame["bar_at_ms"], unit="ms", utc=True), None
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table features as select * from frame")
        assert researched_market(con, date(1970, 1, 30)) == ("1h", 30)  # nothing recorded: the defaults
    day = date(1970, 1, 30)
    end = 30 * DAY_MS
    research_days(warehouse, [(day, end)], "15m", 20, replace(CFG, max_rounds=1, timeframe="15m"), 1, 4)
    with duckdb.connect(str(warehouse)) as con:
        assert researched_market(con, day) == ("15m", 20)
        assert researched_market(con, date(1970, 2, 2)) == ("15m", 20)  # a later day without research: the latest
    summary = portfolio_days(warehouse, [(day, end)], PortfolioDayConfig())
    assert summary["members"] > 0 and "left_out" not in summary
    stressed = fill_stress_days(warehouse, [(day, end)], 3)
    assert stressed["designs"] > 0 and "left_out" not in stressed
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("select distinct timeframe from portfolio_runs").fetchall() == [("15m",)]


def test_a_warehouse_older_than_research_markets_runs_on_the_timeframe_its_ranking_used():
    # second review: a warehouse that researched 15m before the table existed fell back to 1h, so a portfolio
    # or fill stress recomputed for an old day left every design out as tuned on another timeframe
    from python_assets.research.markets import researched_market

    con = duckdb.connect()
    run_day(con, Market.from_frame(quarter_hour_frame(), "15m"), DAY, replace(CFG, max_rounds=1, timeframe="15m"))
    assert researched_market(con, DAY) == ("15m", 30)  # no research_markets table: the ranking's timeframe
    assert researched_market(con, date.fromordinal(DAY.toordinal() + 3)) == ("15m", 30)
    assert researched_market(con, date.fromordinal(DAY.toordinal() - 1)) == ("1h", 30)  # nothing ranked yet
