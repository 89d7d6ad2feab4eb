"""The research marts: on a fresh warehouse (no research step yet) they build empty; with landing
rows, strategy_overfitting pairs each ranking day with the PBO of the design's latest tuning on or
before it, and strategy_monte_carlo carries the Monte Carlo rows; the keys' data tests pass."""

from __future__ import annotations

from datetime import date

import duckdb
from conftest import run_dbt

from python_assets.research import daily


def test_research_marts_build_empty_then_as_of_each_ranking_day(data_dir):
    run_dbt(data_dir, "build", "--select", "tag:research")
    with duckdb.connect(str(data_dir.warehouse)) as con:
        assert con.execute("select count(*) from strategy_overfitting").fetchall() == [(0,)]
        assert con.execute("select count(*) from strategy_monte_carlo").fetchall() == [(0,)]
        daily.ensure_tables(con)
        d1, d2, d3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)
        for day, design, dsr in ((d1, "dA", 0.4), (d2, "dA", 0.6), (d3, "dA", 0.7), (d2, "dB", 0.2)):
            con.execute("insert into ranking_history values (?, ?, 1, 2, ?, ?, 0.1, 0.05, 1.2, 0.01, 9, 24, 'active', null)",
                        [day, design, dsr, dsr])
        # dA tuned on d1 (PBO 0.25) and again on d3 (PBO 0.75); dB never: its PBO stays NULL
        con.execute("insert into tuning_pbo values (?, 'dA', 12, 31, 14, 3432, 0.25, 0.8), (?, 'dA', 12, 31, 14, 3432, 0.75, -0.3)",
                    [d1, d3])
        con.execute("insert into monte_carlo_runs values (?, 'dA', 1, 'trades', 1000, 9, null, 42, -0.2, -0.1, -0.12, "
                    "-0.05, 0.02, 0.01), (?, 'dA', 1, 'bars', 1000, 240, 24, 42, -0.3, -0.15, -0.16, -0.08, 0.01, 0.0)",
                    [d3, d3])
    run_dbt(data_dir, "build", "--select", "tag:research")
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        got = con.execute("select run_date, design_id, tuned_date, pbo, deflated_sharpe, n_trials from strategy_overfitting "
                          "order by 1, 2").fetchall()
        mc = con.execute("select method, max_drawdown_p05, final_return_p05 from strategy_monte_carlo order by 1").fetchall()
    assert got == [(d1, "dA", d1, 0.25, 0.4, 12), (d2, "dA", d1, 0.25, 0.6, 12), (d2, "dB", None, None, 0.2, None),
                   (d3, "dA", d3, 0.75, 0.7, 12)]
    assert mc == [("bars", -0.3, -0.08), ("trades", -0.2, -0.05)]
