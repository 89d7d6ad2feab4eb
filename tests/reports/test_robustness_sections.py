"""The overfitting and Monte Carlo report sections: read from the marts for the day only, ordered
by rank, each explained in one sentence, and rendered as HTML tables with percentages."""

from __future__ import annotations

import json
from datetime import date
from html import escape

import duckdb

from python_assets.reports import html, robustness
from python_assets.research import daily
from python_assets.research.ranker import RankConfig

DAY = date(2025, 3, 2)


def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    daily.ensure_tables(con)
    for did in ("dA", "dB"):
        con.execute("insert into strategy_designs values (?, ?, 'random', '[]', '{}', '1h', ?)",
                    [did, f"long|{did.lower()}_atom", date(2025, 3, 1)])
    con.execute("""create table strategy_overfitting as select * from (values
        (date '2025-03-02', 'dA', 2, 0.75, 12, 3432, 0.31, 'archived', 'probability of backtest overfitting 0.75 > 0.50 over 12 trials'),
        (date '2025-03-02', 'dB', 1, 0.125, 12, 3432, 0.92, 'active', null),
        (date '2025-03-01', 'dB', 1, 0.125, 12, 3432, 0.5, 'active', null))
        t(run_date, design_id, rank, pbo, n_trials, n_combinations, deflated_sharpe, status, status_reason)""")
    con.execute("""create table strategy_monte_carlo as select * from (values
        (date '2025-03-02', 'dB', 1, 'trades', 1000, 9, -0.2, -0.1, -0.05, 0.02),
        (date '2025-03-02', 'dB', 1, 'bars', 1000, 240, -0.3, -0.15, -0.08, 0.01),
        (date '2025-03-01', 'dB', 1, 'bars', 1000, 240, -0.9, -0.9, -0.9, -0.9))
        t(run_date, design_id, rank, method, n_paths, n_steps, max_drawdown_p05, max_drawdown_p50,
          final_return_p05, final_return_p50)""")
    con.execute("""create table search_overfitting as select * from (values
        (date '2025-03-02', 40, 480, 3432, 0.625, -0.3, 'dB', 0.125, 0.92, 2, 0),
        (date '2025-03-01', 10, 120, 3432, 0.1, 1.2, 'dB', 0.125, 0.5, 1, 0))
        t(run_date, n_designs, n_trials, n_combinations, search_pbo, logit_median, best_design_id, best_design_pbo,
          best_deflated_sharpe, n_ranked, n_significant)""")
    return con


def test_sections_read_the_day_from_the_marts_in_rank_order():
    got = robustness.load(warehouse(), DAY)
    designs = got["overfitting"]["designs"]
    assert [(d["rank"], d["design_key"], d["pbo"], d["deflated_sharpe"]) for d in designs] == [
        (1, "long|db_atom", 0.125, 0.92), (2, "long|da_atom", 0.75, 0.31)]
    assert set(got["overfitting"]["explained"]) == {"pbo", "search_pbo", "deflated_sharpe", "monte_carlo"}
    search = got["overfitting"]["search"]  # the day's row only
    assert (search["search_pbo"], search["n_trials"], search["n_designs"], search["n_significant"]) == (0.625, 480, 40, 0)
    assert [(m["method"], m["max_drawdown_p05"], m["final_return_p05"]) for m in got["monte_carlo"]] == [
        ("bars", -0.3, -0.08), ("trades", None, -0.05)]  # a trades row's drawdown is not shown (next test)
    json.dumps(got)  # JSON-ready


def test_the_drawdown_shown_is_the_bars_one_and_a_row_without_spread_says_so():
    """The trade bootstrap's drawdown (closed trades one after another) read up to ~15x milder than the
    strategy's own: left out even where an older mart holds one, the column headed as the bars'. A single
    trade (or bar) gave p05 = p50 = its return: no quantiles, and a note with the count."""
    con = warehouse()
    con.execute("insert into strategy_monte_carlo values (date '2025-03-02', 'dA', 2, 'trades', 1000, 1, 0.0, 0.0, 0.05, 0.05), "
                "(date '2025-03-02', 'dA', 2, 'bars', 1000, 24, -0.4, -0.2, 0.1, 0.2)")  # DECIMAL(2, 1) columns
    got = robustness.load(con, DAY)["monte_carlo"]
    assert [(m["method"], m["max_drawdown_p05"], m["max_drawdown_p50"], m["final_return_p05"]) for m in got] == [
        ("bars", -0.3, -0.15, -0.08), ("trades", None, None, -0.05), ("bars", -0.4, -0.2, 0.1), ("trades", None, None, None)]
    assert [robustness.monte_carlo_note(m) for m in got] == [None, None, None, "1 trade: no spread to resample"]
    assert robustness.monte_carlo_note({"method": "bars", "n_steps": 5, "final_return_p05": None}) == (
        "5 bars, all the same return: no spread to resample")
    page = robustness.render(robustness.load(con, DAY), html.table)
    assert "<th>max drawdown 5 % (bars)</th>" in page and "1 trade: no spread to resample" in page
    assert "drawdown is the bars method's only" in robustness.EXPLAINED["monte_carlo"]


def test_sections_are_empty_without_the_marts_and_render_as_html():
    assert robustness.load(duckdb.connect(), DAY) == robustness.empty()
    page = robustness.render(robustness.load(warehouse(), DAY), html.table)
    assert "<h2>Overfitting</h2>" in page and "<h2>Monte Carlo of the top strategies</h2>" in page
    assert escape(robustness.EXPLAINED["pbo"]) in page and escape(robustness.EXPLAINED["deflated_sharpe"]) in page
    assert "<td>-30.00%</td>" in page and "<td>-8.00%</td>" in page  # 5 % quantiles as percentages
    assert ("Search PBO of the day: 0.62 (high: what the search liked best in sample is no better than a coin toss "
            "out of sample) over 480 trials of 40 designs; 0 of 2 ranked designs significant") in page
    low = robustness.load(warehouse(), date(2025, 3, 1))
    assert "Search PBO of the day: 0.10 (low) over 120 trials of 10 designs" in robustness.render(low, html.table)
    con = warehouse()
    con.execute("update search_overfitting set search_pbo = 0.3")
    assert "Search PBO of the day: 0.30 (moderate) over 480" in robustness.render(robustness.load(con, DAY), html.table)
    assert "Search PBO of the day" not in robustness.render(robustness.empty(), html.table)
    assert "<em>none</em>" in robustness.render(robustness.empty(), html.table)


def test_the_pbo_sentence_says_when_the_ranker_archives_and_what_is_split():
    # it said "above 0.5 ... such designs are archived", though the ranker archives only over at least
    # min_pbo_trials trials, "every split of the tuning window's days" (the split is of S blocks) and
    # "ranks in the lower half" (the count is of logits <= 0: at or below the median)
    sentence = robustness.EXPLAINED["pbo"]
    assert f"over at least {RankConfig().min_pbo_trials} trials is archived" in sentence
    assert f"above {RankConfig().max_pbo:.2f}" in sentence and "at or below the median" in sentence
    assert "16 equal blocks" in sentence and "split of those blocks" in sentence
    other = robustness.pbo_explained(RankConfig(max_pbo=0.6, min_pbo_trials=12))
    assert "above 0.60" in other and "at least 12 trials" in other
