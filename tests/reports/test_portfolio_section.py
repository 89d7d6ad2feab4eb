"""The report's portfolio section: JSON from the portfolio marts (schema-valid, matrix in member order)
and self-contained HTML (the accounts beside the members, the equity chart, the correlation matrix)."""

from __future__ import annotations

from datetime import date

import duckdb
import jsonschema
import pytest

from python_assets.reports import portfolio_section
from python_assets.reports.schema import report_schema

DAY = date(2025, 1, 10)


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("""create table portfolio_backtest_results as select * from (values
        (date '2025-01-10', 'equal', 2, 0.01, 1.5, -0.02, 0.4, 0.9, 3.5, false, 10100.0, 48, 0.5, 1.0,
         timestamptz '2025-01-05 00:00:00+00', timestamptz '2025-01-10 23:00:00+00', 24, 5, 0),
        (date '2025-01-09', 'equal', 1, 0.5, 1.0, 0.0, 0.4, 0.9, 3.5, false, 10100.0, 48, 0.5, 1.0,
         timestamptz '2025-01-04 00:00:00+00', timestamptz '2025-01-09 23:00:00+00', 24, 4, 0))
        t(run_date, rule, members, total_return, sharpe, max_drawdown, gross_leverage_mean, gross_leverage_max,
          fees_paid, liquidated, final_equity, lookback, max_weight, gross_leverage_cap, window_start, window_end,
          min_history, rebalances, fallback_rebalances)""")
    c.execute("""create table portfolio_member_results as select * from (values
        (date '2025-01-10', 'd2|ETH-USDT', 'd2', 'ETH-USDT', -0.02, -1.0, -0.05, 3, 0.5, 0.6, 0.6),
        (date '2025-01-10', 'd1|BTC-USDT', 'd1', 'BTC-USDT', 0.04, 2.0, -0.03, 2, 0.5, 0.4, 0.4))
        t(run_date, member_id, design_id, symbol, total_return, sharpe, max_drawdown, trades, weight_equal,
          weight_inverse_vol, weight_risk_parity)""")
    c.execute("""create table portfolio_member_correlations as select * from (values
        (date '2025-01-10', 'd1|BTC-USDT', 'd1|BTC-USDT', 1.0), (date '2025-01-10', 'd1|BTC-USDT', 'd2|ETH-USDT', -0.25),
        (date '2025-01-10', 'd2|ETH-USDT', 'd1|BTC-USDT', -0.25), (date '2025-01-10', 'd2|ETH-USDT', 'd2|ETH-USDT', null))
        t(run_date, member_a, member_b, correlation)""")
    c.execute("""create table portfolio_equity as select * from (values
        (date '2025-01-10', 'equal', 1736035200000, 10000.0), (date '2025-01-10', 'equal', 1736038800000, 10100.0))
        t(run_date, rule, bar_at_ms, equity)""")
    yield c
    c.close()


def test_section_json_is_the_day_in_member_order_and_schema_valid(con):
    s = portfolio_section.load(con, DAY)
    jsonschema.validate(s, report_schema()["properties"]["portfolio"])
    assert [r["rule"] for r in s["results"]] == ["equal"] and s["results"][0]["window_start"] == "2025-01-05T00:00:00Z"
    assert s["correlation"] == {"members": ["d1|BTC-USDT", "d2|ETH-USDT"], "matrix": [[1.0, -0.25], [-0.25, None]]}


def test_max_drawdown_is_a_fraction_at_most_0_as_the_strategies_and_reads_as_a_loss(con):
    """The strategies' max_drawdown is <= 0 (backtesting.py's sign), the portfolio's was >= 0: one report's JSON
    held both under the one key with opposite signs. The schema now bounds the portfolio's as the strategies';
    the page shows the account's and the members' falls as the losses the strategies' table shows."""
    s = portfolio_section.load(con, DAY)
    assert [r["max_drawdown"] for r in s["results"]] == [-0.02]
    assert [m["max_drawdown"] for m in s["members"]] == [-0.03, -0.05]
    schema = report_schema()["properties"]["portfolio"]
    for part in ("results", "members"):
        positive = {**s, part: [{**s[part][0], "max_drawdown": 0.02}]}
        with pytest.raises(jsonschema.ValidationError, match="maximum of 0"):
            jsonschema.validate(positive, schema)
    page = portfolio_section.render(s, con, DAY.isoformat())
    assert all(f"<td>{v}</td>" in page for v in ("-2.00%", "-3.00%", "-5.00%")) and "<td>+2.00%</td>" not in page


def test_html_shows_accounts_beside_members_the_equity_and_the_matrix(con):
    page = portfolio_section.render(portfolio_section.load(con, DAY), con, DAY.isoformat())
    assert page.index("portfolio: equal") < page.index("d1|BTC-USDT")
    assert "<svg" in page and "Correlation" in page and "rgb(" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_the_html_says_the_accounts_are_in_sample_for_the_choice_of_members(con):
    """The day's ranking picked the members on the same window the account runs on (a review: zero-edge
    members kept for a positive Sharpe there made a portfolio Sharpe of ~21): said beside the figures."""
    page = portfolio_section.render(portfolio_section.load(con, DAY), con, DAY.isoformat())
    assert "in-sample for that choice" in page and "upper bound rather than a forecast" in page


def test_before_any_portfolio_the_section_is_empty_and_says_so():
    with duckdb.connect() as c:
        s = portfolio_section.load(c, DAY)
        assert s == portfolio_section.empty()
        assert "no active strategies" in portfolio_section.render(s, c, DAY.isoformat())


def _corr(n: int) -> dict:
    """n members; the correlation of members i and j is (i - j) / n for i > j (symmetric), 1 on the diagonal."""
    ids = [f"d{k:02d}|X-USDT" for k in range(n)]
    return {"members": ids, "matrix": [[1.0 if i == j else abs(i - j) / n * (1 if (i + j) % 2 else -1)
                                        for j in range(n)] for i in range(n)]}


def test_a_few_members_get_the_matrix_and_a_summary_of_their_pairs(con):
    page = portfolio_section.render(portfolio_section.load(con, DAY), con, DAY.isoformat())
    # one pair (d1, d2) at -0.25: its mean, the most and the least correlated all at once
    assert "2 members, 1 pairs with a correlation: mean -0.25" in page
    assert page.count("<th>1</th>") == 1 and page.count("<th>2</th>") == 1  # the 2 x 2 matrix


def test_many_members_get_the_summary_and_the_extreme_pairs_not_a_wall_of_numbers():
    corr = _corr(40)
    page = portfolio_section._matrix(corr)
    pairs = [(corr["matrix"][i][j], i, j) for i in range(40) for j in range(i + 1, 40)]
    mean = sum(c for c, _, _ in pairs) / len(pairs)
    assert f"40 members, {len(pairs):,} pairs with a correlation: mean {portfolio_section.fmt.number(mean, 2)}" in page
    # the most correlated pair: |i - j| = 39 with i + j odd -> (0, 39), +0.975; the most opposed: |i - j| = 38, i + j even
    assert "most correlated d00|X-USDT ~ d39|X-USDT 0.97" in page  # 0.975 to 2 significant decimals
    assert "most opposed d00|X-USDT ~ d38|X-USDT -0.95" in page
    assert page.count("<tr>") == 1 + 2 * portfolio_section.EXTREME_PAIRS and "<th>40</th>" not in page
    assert len(page) < 5_000  # the 40 x 40 matrix was ~60 KB of cells


def test_the_forward_record_is_in_the_json_and_the_page_and_said_to_be_missing_before_its_first_day(con):
    before = portfolio_section.load(con, DAY)
    assert before["forward"] == []
    assert "No forward day for this day" in portfolio_section.render(before, con, DAY.isoformat())
    con.execute("""create table portfolio_forward as select * from (values
        (date '2025-01-10', 'equal', date '2025-01-09', 2, 24, -0.0125, 3.0, 0.0003, false, 2, 0.0237, 1.5, 24, 1, 0),
        (date '2025-01-09', 'equal', date '2025-01-08', 2, 24, 0.0367, 3.0, 0.0003, false, 1, 0.0367, null, 24, 1, 0))
        t(run_date, rule, selected_on, members, bars, day_return, fees_paid, fee_drag, liquidated, days_recorded,
          cumulative_return, sharpe_daily, min_history, rebalances, fallback_rebalances)""")
    s = portfolio_section.load(con, DAY)
    jsonschema.validate(s, report_schema()["properties"]["portfolio"])
    assert s["forward"] == [{"rule": "equal", "selected_on": "2025-01-09", "members": 2, "bars": 24, "day_return": -0.0125,
                             "fees_paid": 3.0, "fee_drag": 0.0003, "liquidated": False, "days_recorded": 2, "cumulative_return": 0.0237,
                             "sharpe_daily": 1.5, "min_history": 24, "rebalances": 1, "fallback_rebalances": 0}]
    page = portfolio_section.render(s, con, DAY.isoformat())
    assert "Forward record" in page and "2025-01-09" in page and "2.37%" in page and "0.03%" in page and "No forward day" not in page


def test_a_rule_that_fell_back_to_equal_weights_is_said_in_one_line_naming_min_history(con):
    """A short window: inverse_vol fell back at all 5 rebalances, risk_parity at 2 of 5 (no member had
    min_history own returns that moved); three identical accounts read as three rules compared. The equal
    rule and a rule that weighed every rebalance are not named; with no fallback there is no line."""
    assert "Fell back to equal weights" not in portfolio_section.render(portfolio_section.load(con, DAY), con,
                                                                       DAY.isoformat())
    con.execute("""insert into portfolio_backtest_results by name select rule, date '2025-01-10' as run_date,
        2 as members, 0.01 as total_return, -0.02 as max_drawdown, 24 as min_history, 5 as rebalances,
        fallback_rebalances from (values ('inverse_vol', 5), ('risk_parity', 2)) t(rule, fallback_rebalances)""")
    s = portfolio_section.load(con, DAY)
    jsonschema.validate(s, report_schema()["properties"]["portfolio"])
    assert [(r["rule"], r["rebalances"], r["fallback_rebalances"]) for r in s["results"]] == [
        ("equal", 5, 0), ("inverse_vol", 5, 5), ("risk_parity", 5, 2)]
    page = portfolio_section.render(s, con, DAY.isoformat())
    line = page[page.index("Fell back to equal weights"):].split("</p>")[0]
    assert "inverse_vol at all 5 rebalances, risk_parity at 2 of its 5 rebalances." in line
    assert "min_history (24) own returns" in line and "equal at" not in line


def test_risk_rules_that_never_rebalanced_after_their_opening_are_said_to_hold_equal_weights(con):
    """A 3-day demo: the opening reads no returns (equal shares under every rule) and no scheduled rebalance
    followed, so the three accounts were one; rebalances 0 and fallbacks 0 left the line out."""
    con.execute("""insert into portfolio_backtest_results by name select rule, date '2025-01-10' as run_date,
        2 as members, 0.01 as total_return, -0.02 as max_drawdown, 24 as min_history, 0 as rebalances,
        0 as fallback_rebalances from (values ('inverse_vol'), ('risk_parity')) t(rule)""")
    con.execute("update portfolio_backtest_results set rebalances = 0 where rule = 'equal'")
    page = portfolio_section.render(portfolio_section.load(con, DAY), con, DAY.isoformat())
    line = page[page.index("Fell back to equal weights"):].split("</p>")[0]
    assert "inverse_vol throughout (no rebalance after its opening), risk_parity throughout" in line
    assert "equal throughout" not in line
