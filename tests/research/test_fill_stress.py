"""Fill stress of the day's top designs: the edge flag, and a hand-built market (the bars of
tests/backtest/test_fill_modes.py inside the out-of-sample window) where only next open profits."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.backtest.engine import Costs
from python_assets.backtest.spec import spec_from_dict
from python_assets.research import daily
from python_assets.research.fill_stress import edge_survives, has_edge, stress_day
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
