"""The daily research, fill stress and portfolio price designs at the daily backtests' costs. They priced at
the engine's bare Costs() (no slippage) while the daily backtest and `blofin-stack backtest` charge 1 bp a
market fill, so a design's research Sharpe and return read better than its daily backtest of the same
bars, parameters and window."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
import pandas as pd

from python_assets.backtest.defaults import MAKER_FEE, SLIPPAGE_BPS, TAKER_FEE
from python_assets.backtest.engine import DAILY_COSTS, Costs
from python_assets.platform.timeframes import DAY_MS
from python_assets.research.daily import market_from_warehouse, run_day
from tests.research.test_research_rounds import CFG, noise_frame

DAY, END = date(1970, 1, 30), 30 * DAY_MS
RANKED = "select design_id, rank, oos_sharpe, oos_return, oos_trades, status from ranking_history order by design_id"


def test_daily_costs_are_the_shared_defaults():
    assert (DAILY_COSTS.taker_fee, DAILY_COSTS.maker_fee, DAILY_COSTS.slippage_bps) == (TAKER_FEE, MAKER_FEE, SLIPPAGE_BPS)
    assert SLIPPAGE_BPS > 0 and Costs().slippage_bps == 0  # the engine's bare reference stays frictionless


def test_the_research_step_ranks_at_the_daily_costs_and_the_fill_stress_prices_as_the_ranking(tmp_path):
    from python_assets.research.step import fill_stress_days, research_days

    frame = noise_frame()
    frame["bar_at"], frame["bar_date"] = pd.to_datetime(frame["bar_at_ms"], unit="ms", utc=True), None
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table features as select * from frame")
    cfg = replace(CFG, max_rounds=1)
    research_days(warehouse, [(DAY, END)], "1h", 30, cfg, 1, 4)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stepped = con.execute(RANKED).fetchall()
        market = market_from_warehouse(con, "1h", END, 30, None)
    assert len(stepped) > 3
    ranked = {}
    for name, costs in (("daily", DAILY_COSTS), ("frictionless", Costs())):
        con = duckdb.connect()
        run_day(con, market, DAY, cfg, costs)
        ranked[name] = con.execute(RANKED).fetchall()
    assert stepped == ranked["daily"]
    assert stepped != ranked["frictionless"]
    # the stress's next-open row is the ranking's own evaluation (same window, parameters and costs)
    assert fill_stress_days(warehouse, [(DAY, END)], 3)["designs"] > 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        pairs = con.execute("select f.sharpe, r.oos_sharpe, f.net_return, r.oos_return from fill_stress_results f "
                            "join ranking_history r using (design_id) where f.fill_mode = 'next_open'").fetchall()
    assert pairs and all(f == r and fr == rr for f, r, fr, rr in pairs)
