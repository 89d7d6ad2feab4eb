"""The research marts: on a fresh warehouse (no research step yet) they build empty; with landing
rows, strategy_overfitting pairs each ranking day with the PBO of the design's latest tuning on or
before it, and strategy_monte_carlo carries the Monte Carlo rows; the keys' data tests pass.
fill_sensitivity carries each spread row's book_spread_share, also on a warehouse whose landing table
was made before that column."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from conftest import broken_rules, run_dbt

from python_assets.backtest.fill_store import write_fill_stress
from python_assets.research import daily


def test_research_marts_build_empty_then_as_of_each_ranking_day(data_dir):
    run_dbt(data_dir, "build", "--select", "tag:research")
    with duckdb.connect(str(data_dir.warehouse)) as con:
        assert con.execute("select count(*) from strategy_overfitting").fetchall() == [(0,)]
        assert con.execute("select count(*) from strategy_monte_carlo").fetchall() == [(0,)]
        assert con.execute("select count(*) from search_overfitting").fetchall() == [(0,)]  # no search_pbo yet
        daily.ensure_tables(con)
        d1, d2, d3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)
        for day, design, dsr in ((d1, "dA", 0.4), (d2, "dA", 0.6), (d3, "dA", 0.7), (d2, "dB", 0.2)):
            con.execute("insert into ranking_history values (?, ?, 1, 2, ?, ?, 0.1, 0.05, 1.2, 0.01, 9, 24, 'active', null)",
                        [day, design, dsr, dsr])
        # dA tuned on d1 (PBO 0.25) and again on d3 (PBO 0.75); dB never: its PBO stays NULL
        con.execute("insert into tuning_pbo values (?, 'dA', 12, 31, 14, 3432, 0.25, 0.8), (?, 'dA', 12, 31, 14, 3432, 0.75, -0.3)",
                    [d1, d3])
        con.execute("insert into monte_carlo_runs values (?, 'dA', 1, 'trades', 1000, 9, null, 42, -0.2, -0.1, -0.12, "
                    "-0.05, 0.02, 0.01), (?, 'dA', 1, 'bars', 1000, 240, 24, 42, -0.3, -0.15, -0.16, -0.08, 0.01, 0.0), "
                    "(?, 'dB', 2, 'bars', 1000, 1, 24, 42, 0.0, 0.0, 0.0, 0.05, 0.05, 0.05)", [d3, d3, d3])
        con.execute("insert into search_pbo values (?, 1, 12, 31, 14, 3432, 0.25, 0.8), (?, 2, 30, 31, 14, 3432, 0.6, -0.2)",
                    [d1, d3])
    run_dbt(data_dir, "build", "--select", "tag:research")
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        got = con.execute("select run_date, design_id, tuned_date, pbo, deflated_sharpe, n_trials from strategy_overfitting "
                          "order by 1, 2").fetchall()
        search = con.execute("select run_date, n_trials, search_pbo, best_design_id, best_design_pbo, n_ranked, n_significant "
                             "from search_overfitting order by 1").fetchall()
        mc = con.execute("select design_id, method, max_drawdown_p05, final_return_p05 from strategy_monte_carlo "
                         "order by 1, 2").fetchall()
    assert got == [(d1, "dA", d1, 0.25, 0.4, 12), (d2, "dA", d1, 0.25, 0.6, 12), (d2, "dB", None, None, 0.2, None),
                   (d3, "dA", d3, 0.75, 0.7, 12)]
    # a trades row's drawdown (closed trades one after another: far milder than the strategy's) is left out, and
    # a single bar's quantiles (every path the same), also from landing rows written before montecarlo.py did so
    assert mc == [("dA", "bars", -0.3, -0.08), ("dA", "trades", None, -0.05), ("dB", "bars", None, None)]
    assert search == [(d1, 12, 0.25, "dA", 0.25, 1, 0), (d3, 30, 0.6, "dA", 0.75, 1, 0)]  # d2 searched nothing: no row


def test_fill_sensitivity_carries_the_book_spread_share_also_from_a_table_made_before_it(data_dir):
    with duckdb.connect(str(data_dir.warehouse)) as con:  # fill_stress_results as the first fill stress made it
        con.execute("""create table fill_stress_results (run_date date not null, design_id varchar not null,
            design_key varchar not null, fill_mode varchar not null, rank integer not null, net_return double,
            sharpe double, trades integer not null, has_edge boolean not null, edge_survives boolean,
            spread_fraction double not null, created_at timestamptz not null, primary key (run_date, design_id, fill_mode))""")
        con.execute("insert into fill_stress_results values (date '2025-03-01', 'dA', 'long|a', 'spread', 1, 0.1, 0.2, 3, "
                    "true, true, 0.1, now())")
    run_dbt(data_dir, "build", "--select", "fill_sensitivity")  # on-run-start adds the column
    day = date(2025, 3, 2)
    rows = [{"design_id": "dA", "design_key": "long|a", "fill_mode": m, "rank": 1, "net_return": 0.1, "sharpe": 0.2,
             "trades": 3, "has_edge": True, "edge_survives": True, "spread_fraction": 0.1,
             "book_spread_share": 0.25 if m == "spread" else None} for m in ("next_open", "spread")]
    with duckdb.connect(str(data_dir.warehouse)) as con:
        write_fill_stress(con, day, rows)
    run_dbt(data_dir, "build", "--select", "fill_sensitivity")
    with duckdb.connect(str(data_dir.warehouse)) as con:
        got = con.execute("select run_date, fill_mode, book_spread_share from fill_sensitivity order by 1, 2").fetchall()
        assert got == [(date(2025, 3, 1), "spread", None), (day, "next_open", None), (day, "spread", 0.25)]
        con.execute("update fill_stress_results set book_spread_share = 0.5 where fill_mode = 'next_open'")
    with pytest.raises(AssertionError, match="fill_sensitivity_row_rules"):  # a share on a row that charges no spread
        run_dbt(data_dir, "build", "--select", "fill_sensitivity")
    assert broken_rules(data_dir, data_dir.data_dir / "dbt_target", "fill_sensitivity_row_rules") == [
        (day, "book_spread_share_on_spread_rows_in_unit_interval")]
