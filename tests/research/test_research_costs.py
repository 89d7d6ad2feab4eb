"""The daily research, fill stress and portfolio price designs as the daily backtest does: its fees and 1 bp
slippage a market fill, the window's funding settlements and contract specs. They ran on the engine's bare
Costs() (no slippage) without funding, so a design's research Sharpe and return read better than its daily
backtest of the same bars and parameters (the demo's #1 design: annual Sharpe 18.59 against 18.21 with the
daily backtest's slippage and 12.8 USDT of funding over its 6 trades)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.backtest.defaults import MAKER_FEE, SLIPPAGE_BPS, TAKER_FEE
from python_assets.backtest.engine import DAILY_COSTS, Costs
from python_assets.platform.timeframes import DAY_MS, HOUR_MS
from python_assets.research.daily import run_day
from python_assets.research.markets import market_from_warehouse
from tests.research.test_research_rounds import CFG, noise_frame

DAY, END = date(1970, 1, 30), 30 * DAY_MS
RANKED = "select design_id, rank, oos_sharpe, oos_return, oos_trades, status from ranking_history order by design_id"
RATE = 0.002  # per 8h settlement, longs pay: large enough to move every ranked number


@pytest.fixture
def warehouse(tmp_path):
    """30 days of hourly noise bars for two symbols as the features view, and 8-hourly funding of both
    (settlements from before the window to after its end: the market reads only its window's)."""
    frame = noise_frame()
    frame["bar_at"], frame["bar_date"] = pd.to_datetime(frame["bar_at_ms"], unit="ms", utc=True), None
    funding = pd.DataFrame([(s, ms, RATE) for s in ("AAA-USDT", "BBB-USDT") for ms in range(-DAY_MS, END + 2 * DAY_MS, 8 * HOUR_MS)],
                           columns=["symbol", "funding_at_ms", "funding_rate"])
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table features as select * from frame")
        con.execute("create table stg_funding_rates as select * from funding")
    return path


def test_daily_costs_are_the_shared_defaults():
    assert (DAILY_COSTS.taker_fee, DAILY_COSTS.maker_fee, DAILY_COSTS.slippage_bps) == (TAKER_FEE, MAKER_FEE, SLIPPAGE_BPS)
    assert SLIPPAGE_BPS > 0 and Costs().slippage_bps == 0  # the engine's bare reference stays frictionless


def test_the_research_market_carries_its_windows_funding_to_a_worker(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        market = market_from_warehouse(con, "1h", END, 30, None)
    for symbol in ("AAA-USDT", "BBB-USDT"):
        ms, rate = market.funding[symbol]
        assert (ms.min(), ms.max(), len(ms)) == (0, END - 8 * HOUR_MS, 90) and set(rate) == {RATE}
    travelled = pickle.loads(pickle.dumps(market))
    assert all(np.array_equal(travelled.funding[s][0], market.funding[s][0]) for s in market.funding)
    assert travelled.instruments == market.instruments


def test_research_ranks_at_the_daily_costs_and_the_fill_stress_and_portfolio_price_alike(warehouse):
    from python_assets.backtest import portfolio_store as store
    from python_assets.backtest.portfolio_daily import PortfolioDayConfig, member_runs
    from python_assets.research.step import fill_stress_days, portfolio_days, research_days

    cfg = replace(CFG, max_rounds=1)
    research_days(warehouse, [(DAY, END)], "1h", 30, cfg, 1, 4)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stepped = con.execute(RANKED).fetchall()
        market = market_from_warehouse(con, "1h", END, 30, None)
    assert len(stepped) > 3
    ranked = {}
    for name, costs, funded in (("daily", DAILY_COSTS, market), ("no slippage", Costs(), market),
                                ("unfunded", DAILY_COSTS, replace(market, funding={}))):
        con = duckdb.connect()
        run_day(con, funded, DAY, cfg, costs)
        ranked[name] = con.execute(RANKED).fetchall()
    assert stepped == ranked["daily"]
    assert stepped != ranked["no slippage"] and stepped != ranked["unfunded"]
    # the stress's next-open row is the ranking's own evaluation (same window, parameters, costs and funding)
    assert fill_stress_days(warehouse, [(DAY, END)], 3)["designs"] > 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        pairs = con.execute("select f.sharpe, r.oos_sharpe, f.net_return, r.oos_return from fill_stress_results f "
                            "join ranking_history r using (design_id) where f.fill_mode = 'next_open'").fetchall()
    assert pairs and all(f == r and fr == rr for f, r, fr, rr in pairs)
    # the portfolio's members run with the market's funding (as their research evaluation)
    assert portfolio_days(warehouse, [(DAY, END)], PortfolioDayConfig())["members"] > 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        active = store.active_members(con, DAY)
    funded, unfunded = (member_runs(m, active, DAILY_COSTS) for m in (market, replace(market, funding={})))
    assert [m["member_id"] for m in funded] == [m["member_id"] for m in unfunded] and funded
    assert any(a["total_return"] != b["total_return"] for a, b in zip(funded, unfunded))
    assert all(a["total_return"] == b["total_return"] for a, b in zip(funded, unfunded) if not a["trades"])
