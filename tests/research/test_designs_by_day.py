"""Designs belong to the day that proposed them: a day run after later days neither deletes nor
collides with their designs, and old warehouses are re-keyed once."""

from __future__ import annotations

import json
import random
from datetime import date
from types import SimpleNamespace

import duckdb

from python_assets.research.daily import DESIGNS_AS_OF, ResearchConfig, design_day, ensure_tables, market_sides
from python_assets.research.designer import ATOMS, SIDES, canonical, propose

DAY, LATER = date(2025, 3, 10), date(2025, 3, 11)
COLUMNS = frozenset({"open", "high", "low", "close", "volume", "rsi_14", "sma_20", "sma_50"})
CFG = ResearchConfig(new_designs_min=3, new_designs_max=3)


def designs(con: duckdb.DuckDBPyConnection, day: date) -> list[tuple]:
    return con.execute("select design_id, design_key, spec from strategy_designs where created_date = ? order by 1",
                       [day]).fetchall()


def test_a_day_backfilled_after_a_later_day_keeps_the_later_days_designs():
    with duckdb.connect() as con:
        later = design_day(con, COLUMNS, LATER, CFG)
        later_rows = designs(con, LATER)
        made = design_day(con, COLUMNS, DAY, CFG)  # the older day, run second
        assert designs(con, LATER) == later_rows and len(later_rows) == len(later)
        assert [r[0] for r in designs(con, DAY)] == sorted(made)
        shared = {d for d in made if d.startswith("c_")} & set(later)
        assert "c_sma_cross" in shared  # the catalog designs: proposed by both days, kept by both
        # as of the later day each design appears once, from the day that first proposed it
        first = con.execute(f"select design_id from {DESIGNS_AS_OF.format(op='<=')}", [LATER]).fetchall()
        assert sorted(r[0] for r in first) == sorted(set(made) | set(later))
        assert design_day(con, COLUMNS, DAY, CFG) == made and designs(con, LATER) == later_rows  # rerun


def test_a_warehouse_keyed_by_design_id_alone_is_rekeyed_with_its_rows():
    with duckdb.connect() as con:
        con.execute("""create table strategy_designs (design_id varchar primary key, design_key varchar not null,
            origin varchar not null, parents json not null, spec json not null, timeframe varchar not null,
            created_date date not null)""")
        con.execute("insert into strategy_designs values ('d1', 'long|a', 'random', '[]', ?, '1h', ?)",
                    [json.dumps({"x": 1}), DAY])
        ensure_tables(con)
        key = con.execute("select constraint_column_names from duckdb_constraints() where table_name = 'strategy_designs' "
                          "and constraint_type = 'PRIMARY KEY'").fetchall()[0][0]
        assert list(key) == ["created_date", "design_id"]
        assert designs(con, DAY) == [("d1", "long|a", json.dumps({"x": 1}))]
        con.execute("insert into strategy_designs values ('d1', 'long|a', 'random', '[]', '{}', '1h', ?)", [LATER])


def test_a_universe_of_spot_symbols_gets_long_designs_only():
    """A spot symbol is held long only (backtest/markets.py): on a universe of spot symbols a short design
    makes no trade and a both design repeats a long one's, so neither is proposed, from parents either."""
    with duckdb.connect() as con:
        made = design_day(con, COLUMNS, DAY, ResearchConfig(new_designs_min=12, new_designs_max=12), sides=("long",))
        keys = [r[1] for r in designs(con, DAY)]
        assert len(made) >= 12 and all(k.startswith(("long|", "catalog:")) for k in keys), keys
    parents = [canonical("short", ["rsi"], "random"), canonical("both", ["cci", "ema_trend"], "random")]
    proposed = propose(random.Random(3), sorted(ATOMS), parents, set(), 40, sides=("long",))
    assert len(proposed) == 40 and {d.side for d in proposed} == {"long"}
    every = propose(random.Random(3), sorted(ATOMS), parents, set(), 40)
    assert {d.side for d in every} == set(SIDES)


def test_the_sides_of_a_market_are_long_only_where_every_symbol_is_spot():
    spot = SimpleNamespace(bars={"A-USDT": None, "B-USDT": None}, markets={"A-USDT": "spot", "B-USDT": "spot"})
    assert market_sides(spot) == ("long",)
    assert market_sides(SimpleNamespace(bars=spot.bars, markets={"A-USDT": "spot"})) == SIDES  # B: a swap
    assert market_sides(SimpleNamespace(bars={}, markets={})) == SIDES
