"""Fill stress of the day's top designs: the edge flag, and a hand-built market (the bars of
tests/backtest/test_fill_modes.py inside the out-of-sample window) where only next open profits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.backtest.engine import Costs
from python_assets.backtest.fills import fill_prices
from python_assets.backtest.spec import spec_from_dict
from python_assets.research import daily
from python_assets.research.fill_stress import edge_survives, has_edge, minute_execution, stress_day, stress_execution
from python_assets.research.tuner import Market, evaluate

HOUR = 3_600_000
DAY = date(2025, 3, 10)
NO_FEES = Costs(taker_fee=0.0, maker_fee=0.0)
BARS = [(100.0, 140.0, 60.0, 100.0), (95.0, 112.0, 94.0, 104.0), (104.0, 130.0, 70.0, 98.0),
        (108.0, 109.0, 90.0, 95.0), (95.0, 96.0, 94.0, 95.0)]
S1, S3 = 0.1 * 80 / 100, 0.1 * 60 / 98
HAND_RETURN = {"next_open": 108 / 95 - 1, "signal_close": 98 / 100 - 1, "worst": 90 / 112 - 1,
               "spread": 108 * (1 - S3) / (95 * (1 + S1)) - 1}


def test_has_edge_needs_a_positive_return_and_sharpe():
    assert has_edge(0.01, 0.1)
    assert not has_edge(0.01, -0.1) and not has_edge(-0.01, 0.1) and not has_edge(0.0, 0.1)
    assert not has_edge(0.01, None) and not has_edge(None, 0.1)


def test_edge_survives_only_when_every_strict_fill_keeps_it():
    row = lambda e: {"has_edge": e}  # noqa: E731
    modes = lambda o, c, w, s: {"next_open": row(o), "signal_close": row(c), "worst": row(w), "spread": row(s)}  # noqa: E731
    assert edge_survives(modes(True, False, True, True)) is True  # signal close is not a strict fill
    assert edge_survives(modes(True, True, False, True)) is False
    assert edge_survives(modes(True, True, True, False)) is False
    assert edge_survives(modes(False, True, True, True)) is None  # nothing to lose


def market() -> Market:
    """30 flat 1h bars at 100 with the hand-built trade at bars 22-26 (out of sample: cut after bar 19)."""
    rows = [(100.0,) * 4] * 22 + BARS + [(95.0,) * 4] * 3
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"])
    frame.insert(0, "bar_at_ms", np.arange(len(rows), dtype=np.int64) * HOUR)
    frame.insert(0, "timeframe", "1h")
    frame.insert(0, "symbol", "BTC-USDT")
    frame["volume"] = 1.0
    frame["sig_long"] = (np.arange(len(rows)) == 22).astype(float)
    frame["sig_exit"] = (np.arange(len(rows)) == 24).astype(float)
    return Market.from_frame(frame, "1h")


def spec(name: str, entry: str) -> dict:
    return {"name": name, "description": "fill stress test", "timeframe": "1h", "side": "long", "params": {},
            "entry_long": entry, "exit_long": "sig_exit > 0"}


def seed_day(con: duckdb.DuckDBPyConnection, is_end_ms: int) -> None:
    """Two ranked designs: d_trade (rank 1, the hand-built trade) and d_never (rank 2, never enters)."""
    daily.ensure_tables(con)
    for did, rank, entry in (("d_trade", 1, "sig_long > 0"), ("d_never", 2, "sig_long > 5")):
        con.execute("insert into strategy_designs values (?, ?, 'random', '[]', ?, '1h', ?)",
                    [did, f"long|{did}", json.dumps(spec(did, entry)), DAY])
        con.execute("insert into strategy_tuning (run_date, design_id, best_params, is_sharpe, is_end_ms, n_trials) values (?, ?, '{}', 0.0, ?, 1)", [DAY, did, is_end_ms])
        con.execute("insert into ranking_history (run_date, design_id, rank, n_ranked, score, n_trials_total, status) "
                    "values (?, ?, ?, 2, 0.5, 2, 'active')", [DAY, did, rank])


def test_only_next_open_profits_and_the_design_is_flagged():
    m = market()
    assert m.is_window.end_ms <= 22 * HOUR < m.oos_window.end_ms  # the trade is out of sample
    with duckdb.connect() as con:
        seed_day(con, m.is_window.end_ms)
        summary = stress_day(con, m, DAY, top_k=5, costs=NO_FEES)
        got = con.execute("select design_id, fill_mode, rank, net_return, sharpe, trades, has_edge, edge_survives "
                          "from fill_stress_results where run_date = ? order by design_id, fill_mode", [DAY]).df()
        assert summary == {"designs": 2, "rows": 8, "edge_lost": ["d_trade"]}
        trade = got[got.design_id == "d_trade"].set_index("fill_mode")
        for mode, ret in HAND_RETURN.items():
            assert trade.loc[mode, "net_return"] == pytest.approx(ret, rel=1e-9)
            assert trade.loc[mode, "trades"] == 1
            assert bool(trade.loc[mode, "has_edge"]) == (mode == "next_open")
            assert (trade.loc[mode, "sharpe"] > 0) == (mode == "next_open")
        assert trade["edge_survives"].tolist() == [False] * 4
        keys = con.execute("select distinct design_key from fill_stress_results where design_id = 'd_trade'").fetchall()
        assert keys == [("long|d_trade",)]
        never = got[got.design_id == "d_never"]
        assert never["trades"].tolist() == [0] * 4 and never["edge_survives"].isna().all()
        # next open is exactly the ranking's own evaluation (the engine's default fill)
        ev = evaluate(m, spec_from_dict(spec("d_trade", "sig_long > 0")), {}, NO_FEES, oos_start_ms=m.is_window.end_ms)
        assert trade.loc["next_open", "net_return"] == ev.oos_return
        # a rerun replaces the day; top_k limits the designs
        stress_day(con, m, DAY, top_k=1, costs=NO_FEES)
        assert con.execute("select distinct design_id from fill_stress_results").fetchall() == [("d_trade",)]


def test_strict_fills_priced_on_the_warehouses_minutes_keep_an_edge_the_bar_range_erased():
    """With bars_1m, worst takes the fill bar's first minute and spread the signal bar's last minute: the
    hand-built trade (entry fills at bar 23, exit at bar 25) keeps its edge; a minute at the window's end is unused."""
    m = market()
    minutes = [(22 * HOUR + 59 * 60_000, 100.2, 99.8, 100.0), (23 * HOUR, 95.5, 94.8, 95.2),
               (24 * HOUR + 59 * 60_000, 98.3, 97.9, 98.0), (25 * HOUR, 108.4, 107.5, 108.0),
               (m.oos_window.end_ms, 1e9, 1e-9, 1.0)]
    s1, s3 = 0.1 * 0.4 / 100.0, 0.1 * 0.4 / 98.0
    hand = {"worst": 107.5 / 95.5 - 1, "spread": 108 * (1 - s3) / (95 * (1 + s1)) - 1}
    with duckdb.connect() as con:
        seed_day(con, m.is_window.end_ms)
        con.execute("create table bars_1m (symbol varchar, bar_at_ms bigint, high double, low double, close double)")
        con.executemany("insert into bars_1m values ('BTC-USDT', ?, ?, ?, ?)", [list(r) for r in minutes])
        summary = stress_day(con, m, DAY, top_k=1, costs=NO_FEES)
        got = con.execute("select fill_mode, net_return, has_edge, edge_survives from fill_stress_results "
                          "where design_id = 'd_trade'").df().set_index("fill_mode")
        assert summary["edge_lost"] == []
        for mode, ret in hand.items():
            assert got.loc[mode, "net_return"] == pytest.approx(ret, rel=1e-9) and got.loc[mode, "has_edge"]
        assert got.loc["next_open", "net_return"] == pytest.approx(HAND_RETURN["next_open"], rel=1e-12)
        assert got["edge_survives"].tolist() == [True] * 4


# Recorded books (feat_book): the book at the close of bar 22, the entry's signal bar, quotes 10 bps (half
# spread 5 bps against the range estimate's S1 = 800 bps); bar 24, the exit's signal bar, has no book.
BOOK_HALF = 10 / 2 / 1e4
BOOKS = [("1h", 22 * HOUR, 10.0), ("1h", 21 * HOUR, None), ("5m", 24 * HOUR, 50.0)]  # NULL: stale; 5m: another timeframe


def with_books(con: duckdb.DuckDBPyConnection, books: list[tuple]) -> None:
    """A feat_book table with the given (timeframe, bar_at_ms, spread_bps) rows of BTC-USDT."""
    con.execute("create or replace table feat_book (symbol varchar, timeframe varchar, bar_at_ms bigint, "
                "closes_at_ms bigint, spread_bps double)")
    for tf, ms, bps in books:
        con.execute("insert into feat_book values ('BTC-USDT', ?, ?, ?, ?)", [tf, ms, ms + HOUR, bps])


def stress(con: duckdb.DuckDBPyConnection, m: Market):
    """stress_day of d_trade alone; its rows by fill mode."""
    stress_day(con, m, DAY, top_k=1, costs=NO_FEES)
    return con.execute("select fill_mode, net_return, sharpe, trades, has_edge, edge_survives, book_spread_share "
                       "from fill_stress_results where design_id = 'd_trade'").df().set_index("fill_mode")


def test_the_spread_fill_takes_half_the_recorded_book_spread_at_the_signal_bars_close():
    """Entry signalled at bar 22 fills on bar 23 at open x (1 + half the book's spread at bar 22's close); the
    exit (signal bar 24, no book of this timeframe) keeps the range estimate: one of the two fills from a book."""
    m = market()
    bars = m.bars["BTC-USDT"]
    with duckdb.connect() as con:
        seed_day(con, m.is_window.end_ms)
        with_books(con, BOOKS)
        ex = stress_execution(con, m)["BTC-USDT"]
        buy, sell = fill_prices("spread", bars.open, bars.high, bars.low, bars.close, ex.spread)
        assert buy[23] == pytest.approx(95.0 * (1 + BOOK_HALF), rel=1e-12)
        assert sell[23] == pytest.approx(95.0 * (1 - BOOK_HALF), rel=1e-12)
        assert sell[25] == pytest.approx(108.0 * (1 - S3), rel=1e-12)  # no book: the estimate
        assert ex.from_book.nonzero()[0].tolist() == [23] and np.isnan(ex.worst_high).all()
        got = stress(con, m)
    assert got.loc["spread", "net_return"] == pytest.approx(108 * (1 - S3) / (95 * (1 + BOOK_HALF)) - 1, rel=1e-12)
    assert got.loc["spread", "book_spread_share"] == 0.5 and got.drop("spread")["book_spread_share"].isna().all()
    for mode in ("next_open", "signal_close", "worst"):
        assert got.loc[mode, "net_return"] == pytest.approx(HAND_RETURN[mode], rel=1e-12)


def test_a_book_recorded_after_the_signal_bars_close_never_prices_its_fill():
    """Truncation: the half spread of every fill bar t is the same from a feat_book holding only the books of
    bars closed by t's open; a book of bar 23 (after the entry's signal, 22, closed) prices bar 24's fill only."""
    m = market()
    ms = m.bars["BTC-USDT"].ms
    books = [("1h", 22 * HOUR, 10.0), ("1h", 23 * HOUR, 4000.0), ("1h", 25 * HOUR, 30.0)]
    with duckdb.connect() as con:
        seed_day(con, m.is_window.end_ms)
        with_books(con, books)
        full = stress_execution(con, m)["BTC-USDT"].spread
        assert full[23] == BOOK_HALF and full[24] == 4000 / 2e4 and full[26] == 30 / 2e4
        for t in range(len(ms)):
            with_books(con, [b for b in books if b[1] + HOUR <= ms[t]])
            part = stress_execution(con, m).get("BTC-USDT")
            s = part.spread[t] if part is not None else np.nan
            assert s == full[t] or (np.isnan(s) and np.isnan(full[t])), t
        with_books(con, books)
        got = stress(con, m)
    assert got.loc["spread", "net_return"] == pytest.approx(108 * (1 - S3) / (95 * (1 + BOOK_HALF)) - 1, rel=1e-12)


@pytest.mark.parametrize("books", [None, [], [("1h", 22 * HOUR, None), ("5m", 22 * HOUR, 10.0)]],
                         ids=["no feat_book", "empty feat_book", "no usable book of the timeframe"])
def test_a_warehouse_without_books_gives_the_old_results(books):
    """Exactly what the 1m execution horizon alone gives (the old path), spread rows saying 0 from books."""
    m = market()
    with duckdb.connect() as con:
        seed_day(con, m.is_window.end_ms)
        if books is not None:
            with_books(con, books)
        assert stress_execution(con, m) == minute_execution(con, m) == {}
        got = stress(con, m)
        old = [evaluate(replace(m, execution=minute_execution(con, m)), spec_from_dict(spec("d_trade", "sig_long > 0")),
                        {}, NO_FEES, oos_start_ms=m.is_window.end_ms, fill=mode) for mode in got.index]
    assert got["net_return"].tolist() == [ev.oos_return for ev in old]
    assert got["trades"].tolist() == [ev.oos_trades for ev in old]
    assert got.loc["spread", "net_return"] == pytest.approx(HAND_RETURN["spread"], rel=1e-12)
    assert got.loc["spread", "book_spread_share"] == 0.0 and got.drop("spread")["book_spread_share"].isna().all()


def test_a_fill_stress_table_made_before_book_spread_share_gets_the_column():
    m = market()
    with duckdb.connect() as con:
        con.execute("""create table fill_stress_results (run_date date not null, design_id varchar not null,
            design_key varchar not null, fill_mode varchar not null, rank integer not null, net_return double,
            sharpe double, trades integer not null, has_edge boolean not null, edge_survives boolean,
            spread_fraction double not null, created_at timestamptz not null, primary key (run_date, design_id, fill_mode))""")
        seed_day(con, m.is_window.end_ms)
        with_books(con, BOOKS)
        assert stress(con, m).loc["spread", "book_spread_share"] == 0.5
