"""The market each research day ran on (its timeframe and trailing window), stored with the day: the portfolio
and the fill stress run that day's designs on the same one, so the three steps cannot disagree (a portfolio
timeframe of its own ran 1h-tuned designs on 15m bars when only the research's was set)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb

from python_assets.backtest.reads import window_funding, window_instruments
from python_assets.platform.timeframes import DAY_MS
from python_assets.research.daily import ResearchConfig
from python_assets.research.tuner import Market
from python_assets.warehouse.connection import table_exists

LOOKBACK_DAYS = 30  # the research market's trailing window, in days, unless the run's config sets another
MARKETS_DDL = """create table if not exists research_markets (run_date date primary key, timeframe varchar not null,
        lookback_days integer not null)"""


def record_market(con: duckdb.DuckDBPyConnection, day: date, timeframe: str, lookback_days: int) -> None:
    """Replace the day's research market: the timeframe and window its designs were tuned and ranked on."""
    con.execute(MARKETS_DDL)
    con.execute("insert or replace into research_markets values (?, ?, ?)", [day, timeframe, lookback_days])


def researched_market(con: duckdb.DuckDBPyConnection, day: date) -> tuple[str, int]:
    """(timeframe, lookback_days) of the latest research on or before `day` (the forward record's members come
    from an earlier day's ranking). Before any was recorded (a warehouse older than the table): the timeframe
    the latest ranking on or before `day` ranked its designs on (a warehouse that researched 15m would
    otherwise have had every design left out as tuned on another timeframe), with the default window; the
    research defaults where nothing was ranked."""
    found = None
    if table_exists(con, "research_markets"):
        found = con.execute("select timeframe, lookback_days from research_markets where run_date <= ? "
                            "order by run_date desc limit 1", [day]).fetchone()
    if found:
        return found[0], int(found[1])
    ranked = None
    if table_exists(con, "ranking_history") and table_exists(con, "strategy_designs"):
        ranked = con.execute("select min(d.timeframe) from ranking_history r join strategy_designs d using (design_id) "
                             "where r.run_date = (select max(run_date) from ranking_history where run_date <= ?)",
                             [day]).fetchone()
    return (ranked[0] if ranked and ranked[0] else ResearchConfig.timeframe), LOOKBACK_DAYS


def market_from_warehouse(con: duckdb.DuckDBPyConnection, timeframe: str, end_ms: int, lookback_days: int,
                          markets: dict[str, str] | None = None) -> Market:
    """The features of one timeframe over the trailing window, loaded into a scratch DuckDB, with the window's
    funding and contract specs as the daily backtest reads them; markets: each symbol's market from the lake
    (spot symbols are traded long only: backtest/markets.py)."""
    start_ms = end_ms - lookback_days * DAY_MS
    frame = con.execute("select * exclude (bar_at, bar_date) from features where timeframe = ? and bar_at_ms >= ? "
                        "and bar_at_ms < ? order by symbol, bar_at_ms", [timeframe, start_ms, end_ms]).df()
    symbols = sorted(frame["symbol"].unique())
    return replace(Market.from_frame(frame, timeframe, markets=markets),
                   funding=window_funding(con, symbols, start_ms, end_ms),
                   instruments=window_instruments(con, symbols, start_ms, end_ms))

