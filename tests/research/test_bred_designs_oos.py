"""A design bred from ranked designs (a mutation or crossover) is out of sample only from the day that
proposed it: its parents were chosen for their out-of-sample results on the days before, so scoring the
offspring on those days again would score it on the data that selected it."""

from __future__ import annotations

from datetime import date, timedelta

import json

import duckdb
import pandas as pd

from python_assets.platform.timeframes import DAY_MS
from python_assets.research.daily import ResearchConfig, oos_start_ms, run_day
from python_assets.research.fill_stress import top_designs
from python_assets.backtest.portfolio_store import active_members
from python_assets.backtest.engine import Costs
from python_assets.research.design_specs import design_strategy
from python_assets.research.tuner import Market, evaluate
from tests.research.test_research import hourly_frame

DAYS = [date(2025, 1, 23), date(2025, 1, 24)]
CFG = ResearchConfig(include_catalog=False, trials_per_design=4, new_designs_min=12, new_designs_max=12)


def day_ms(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_MS


def test_the_start_is_the_tuning_end_or_for_offspring_the_day_they_were_proposed():
    day = date(2025, 1, 24)
    assert oos_start_ms(1_000, [], day) == 1_000
    assert oos_start_ms(1_000, ["d1"], day) == day_ms(day) == 1_737_676_800_000
    assert oos_start_ms(day_ms(day) + 5, ["d1"], day) == day_ms(day) + 5  # a later tuning end stays


def test_offspring_are_scored_only_on_days_after_their_parents_were_chosen(monkeypatch):
    frame = hourly_frame(0.8, monkeypatch, days=24)  # 2025-01-01 .. 2025-01-24, two symbols
    con = duckdb.connect()
    markets = {}
    for day in DAYS:  # each day's market ends with the day, as the daily asset's does
        markets[day] = Market.from_frame(frame[frame["bar_at_ms"] < day_ms(day + timedelta(days=1))], "1h")
        run_day(con, markets[day], day, CFG)
    rows = con.execute("""select d.design_id, d.design_key, d.origin, d.spec, t.best_params, t.is_end_ms, t.oos_start_ms,
                                 json_array_length(d.parents) > 0 as bred
                          from strategy_designs d join strategy_tuning t on t.design_id = d.design_id and t.run_date = d.created_date
                          where d.created_date = ?""", [DAYS[1]]).df()
    bred = rows[rows["bred"]]
    assert len(bred) > 0 and len(rows) > len(bred)  # the day bred offspring of day 1's active designs, and others
    day_start = day_ms(DAYS[1])
    assert (rows["is_end_ms"] < day_start).all()  # the tuning window ends days before: 2/3 into the history
    assert (bred["oos_start_ms"] == day_start).all()
    assert (rows.loc[~rows["bred"], "oos_start_ms"] == rows.loc[~rows["bred"], "is_end_ms"]).all()

    ranked = con.execute("select design_id, oos_sharpe, oos_trades from ranking_history where run_date = ?",
                         [DAYS[1]]).df().set_index("design_id")
    moved = 0
    for r in bred.itertuples():
        spec = design_strategy(r.design_key, r.origin, json.loads(r.spec))
        params = json.loads(r.best_params)
        own = evaluate(markets[DAYS[1]], spec, params, Costs(), oos_start_ms=day_start)
        assert ranked.loc[r.design_id, "oos_trades"] == own.oos_trades
        assert (own.oos_bar_ms >= day_start).all()
        wide = evaluate(markets[DAYS[1]], spec, params, Costs(), oos_start_ms=int(r.is_end_ms))
        moved += wide.oos_trades != own.oos_trades
    assert moved > 0  # scored from the tuning end, some offspring would count trades of the selecting days
    # the portfolio and the fill stress read the same start
    starts = dict(zip(rows["design_id"], rows["oos_start_ms"]))
    for d in top_designs(con, DAYS[1], 50) + active_members(con, DAYS[1]):
        if d["design_id"] in starts:
            assert d["oos_start_ms"] == starts[d["design_id"]]


def test_rows_stored_before_the_column_start_at_the_tuning_end():
    con = duckdb.connect()
    con.execute("""create table strategy_tuning (run_date date not null, design_id varchar not null,
        best_params json not null, is_sharpe double, is_end_ms bigint not null, n_trials integer not null,
        primary key (run_date, design_id))""")
    con.execute("insert into strategy_tuning values ('2025-01-02', 'd1', '{}', 0.1, 123, 3)")
    from python_assets.research.daily import OOS_START, ensure_tables

    ensure_tables(con)
    assert con.execute(f"select {OOS_START} from strategy_tuning").fetchall() == [(123,)]
    assert pd.isna(con.execute("select oos_start_ms from strategy_tuning").fetchall()[0][0])


def test_the_portfolio_and_the_fill_stress_read_a_tuning_table_made_before_the_column():
    """Both run after the research step, but a step run on its own (the fill stress re-run for a past day) may
    meet strategy_tuning as a warehouse made before oos_start_ms left it: they referred to the column and
    failed (Binder Error); they start at the tuning end there, as a row stored before the column does."""
    con = duckdb.connect()
    con.execute("""create table strategy_tuning (run_date date not null, design_id varchar not null,
        best_params json not null, is_sharpe double, is_end_ms bigint not null, n_trials integer not null,
        primary key (run_date, design_id))""")
    from python_assets.research.daily import DDL, DESIGNS_DDL

    con.execute(DESIGNS_DDL.format(name="strategy_designs"))
    con.execute(next(ddl for ddl in DDL if "ranking_history" in ddl))
    day = DAYS[0]
    con.execute("insert into strategy_designs values ('d1', 'catalog:sma_cross', 'catalog', '[]', "
                "'{\"catalog\": \"sma_cross\"}', '1h', ?)", [day])
    con.execute("insert into strategy_tuning values (?, 'd1', '{}', 0.1, 123, 3)", [day])
    con.execute("insert into ranking_history values (?, 'd1', 1, 1, 0.5, 0.5, 0.1, 0.1, 1.0, 0.01, 10, 30, "
                "'active', null)", [day])
    assert [d["oos_start_ms"] for d in top_designs(con, day, 5)] == [123]
    assert [d["oos_start_ms"] for d in active_members(con, day)] == [123]


def test_offspring_stored_before_the_column_start_at_the_day_that_proposed_them():
    """A warehouse made before oos_start_ms holds mutations with NULL there: read as is_end_ms, the portfolio
    traded (and the ranking scored) them from their tuning end, 11-20, on the days that chose their parents.
    The research DDL (ensure_tables, the dbt hook) fills them once, as oos_start_ms() would have."""
    from python_assets.research.daily import DESIGNS_DDL, ensure_tables

    con = duckdb.connect()
    con.execute("""create table strategy_tuning (run_date date not null, design_id varchar not null,
        best_params json not null, is_sharpe double, is_end_ms bigint not null, n_trials integer not null,
        primary key (run_date, design_id))""")
    con.execute(DESIGNS_DDL.format(name="strategy_designs"))
    born, is_end = date(2025, 12, 5), day_ms(date(2025, 11, 20))
    spec = '{"catalog": "sma_cross"}'
    con.execute("insert into strategy_designs values ('m1', 'catalog:sma_cross', 'catalog', '[\"p1\"]', ?, '1h', ?), "
                "('p1', 'catalog:sma_cross', 'catalog', '[]', ?, '1h', ?), "
                "('m2', 'catalog:sma_cross', 'catalog', '[\"p1\"]', ?, '1h', ?)",
                [spec, born, spec, born, spec, born])
    late = day_ms(born) + 7  # a tuning end after the day began stays
    con.execute("insert into strategy_tuning values (?, 'm1', '{}', 0.1, ?, 3), (?, 'p1', '{}', 0.1, ?, 3), "
                "(?, 'm2', '{}', 0.1, ?, 3)", [born, is_end, born, is_end, born, late])
    for _ in range(2):  # once: a second pass changes nothing
        ensure_tables(con)
        got = dict(con.execute("select design_id, oos_start_ms from strategy_tuning").fetchall())
        assert got == {"m1": oos_start_ms(is_end, ["p1"], born), "p1": None, "m2": late}
    assert got["m1"] == day_ms(born)
    con.execute("insert into ranking_history values (?, 'm1', 1, 2, 0.5, 0.5, 0.1, 0.1, 1.0, 0.01, 10, 30, "
                "'active', null), (?, 'p1', 2, 2, 0.5, 0.5, 0.1, 0.1, 1.0, 0.01, 10, 30, 'active', null)", [born, born])
    assert {d["design_id"]: d["oos_start_ms"] for d in active_members(con, born)} == {"m1": day_ms(born), "p1": is_end}
    assert {d["design_id"]: d["oos_start_ms"] for d in top_designs(con, born, 5)} == {"m1": day_ms(born), "p1": is_end}
