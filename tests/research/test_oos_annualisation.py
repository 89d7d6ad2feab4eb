"""Research's oos_sharpe_annual is annualised by the out-of-sample bars it is the Sharpe of, under the rule
strategy_backtest_results applies to a backtest (backtest/periods.py): a market closed at weekends no longer
gets 24/7's 8,760 bars a year on 1h bars; a 24/7 market still does."""

from __future__ import annotations

import math
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.research.daily import ResearchConfig, run_day
from python_assets.research.tuner import Market

H, DAY = 3_600_000, 86_400_000
MONDAY = 1_736_726_400_000  # 2025-01-13 00:00 UTC


def hourly_market(weekdays_only: bool) -> Market:
    """Four weeks of 1h random-walk bars of two symbols (Monday to Friday only, or every hour); the
    out-of-sample window is the second half: weeks 3 and 4."""
    rng, frames = np.random.default_rng(5), []
    ms = MONDAY + np.arange(28 * 24) * H
    if weekdays_only:
        ms = ms[(ms - MONDAY) // DAY % 7 < 5]
    for sym in ("BTC-USDT", "ETH-USDT"):
        c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(ms))))
        o = np.r_[100.0, c[:-1]]
        frames.append(pd.DataFrame({"symbol": sym, "timeframe": "1h", "bar_at_ms": ms, "open": o,
                                    "high": np.maximum(o, c) * 1.002, "low": np.minimum(o, c) * 0.998,
                                    "close": c, "volume": 1.0}))
    return Market.from_frame(pd.concat(frames, ignore_index=True), "1h", split=0.5)


def annualised_ratios(market: Market) -> list[float]:
    """oos_sharpe_annual / oos_sharpe of every design ranked with a Sharpe, after one research day."""
    con = duckdb.connect()
    run_day(con, market, date(2025, 2, 10), ResearchConfig(include_catalog=False, trials_per_design=3,
                                                           new_designs_min=6, new_designs_max=6))
    rows = con.execute("select oos_sharpe, oos_sharpe_annual from ranking_history").fetchall()
    return [annual / s for s, annual in rows if s is not None and s != 0]


@pytest.mark.parametrize("weekdays_only, bars_per_year", [
    # weeks 3 and 4, Monday 00:00 to Friday 24:00: 240 bars over 12 days, 5/6 of the span (not > 13/14),
    # so 240 bars per 12 days: 240 x 365 / 12 = 7,300 a year (24/7's 8,760 before)
    (True, 240 * 365 / 12),
    (False, 365 * 24),  # 24/7: bars cover their span, 365 days of bars as before
])
def test_oos_sharpe_is_annualised_by_its_own_bars(weekdays_only, bars_per_year):
    market = hourly_market(weekdays_only)
    oos = market.bars["BTC-USDT"].window(market.oos_window.start_ms, market.oos_window.end_ms).ms
    assert (oos[0], oos[-1]) == (MONDAY + 14 * DAY, MONDAY + 28 * DAY - (2 * DAY if weekdays_only else 0) - H)
    ratios = annualised_ratios(market)
    assert len(ratios) >= 3
    assert ratios == pytest.approx([math.sqrt(bars_per_year)] * len(ratios), rel=1e-12)
