"""The portfolio's forward record: an account opened at a day's first bar over the designs the ranking
before the day made active, run on that day's bars only (out of sample for the members' choice, unlike the
day's own portfolio), checked by hand against the members' engine returns."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from python_assets.backtest import portfolio_store as store
from python_assets.backtest.engine import Costs
from python_assets.backtest.portfolio import PortfolioConfig, run_portfolio
from python_assets.backtest.portfolio_daily import PortfolioDayConfig, forward_day, member_runs, portfolio_day
from python_assets.research.tuner import Market

from test_portfolio_day import DAY, H, frame, warehouse

PRIOR = DAY - timedelta(days=1)
DAY_MS = 1_736_467_200_000  # 2025-01-10 00:00 UTC


def test_an_account_opened_at_a_later_bar_weighs_by_the_bars_before_and_pays_to_take_over_positions():
    """Two members, equal weights 0.5 x 1,000; opened before bar 1 it takes over member 0's open position
    (exposure 1 at bar 0's close): fee 0.0006 x 500 = 0.3. Then 500 x 1.02 + 500 x 0.99 - 0.3 = 1,004.7 and
    510 + 519.75 - 0.3 = 1,029.45; before the opening the equity is the initial."""
    r = np.array([[0.1, 0.0], [0.02, -0.01], [0.0, 0.05]])
    x = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    cfg = PortfolioConfig(rule="equal", max_weight=0.5, gross_leverage=1.0, initial_equity=1000.0)
    res = run_portfolio(r, x, np.zeros(3, bool), cfg, start=1)
    assert res.equity.tolist() == pytest.approx([1000.0, 1004.7, 1029.45], abs=1e-9)
    assert res.fees.tolist() == pytest.approx([0.0, 0.3, 0.0]) and res.weights[0].tolist() == [0.0, 0.0]
    assert res.weights[1].tolist() == [0.5, 0.5]


def test_the_opening_weights_see_only_the_bars_before_it():
    """inverse_vol at the opening: the returns from the opening bar on may change, the weights may not."""
    rng = np.random.default_rng(3)
    r = rng.normal(0, [0.01, 0.03], (60, 2))
    cfg = PortfolioConfig(rule="inverse_vol", lookback=40, min_history=10, max_weight=1.0)
    a = run_portfolio(r, np.zeros_like(r), np.zeros(60, bool), cfg, start=50)
    r2 = r.copy()
    r2[50:] = rng.normal(0, [0.05, 0.001], (10, 2))
    b = run_portfolio(r2, np.zeros_like(r), np.zeros(60, bool), cfg, start=50)
    assert a.weights[50].tolist() == b.weights[50].tolist() and a.weights[50][0] > 0.7


def two_rankings(today_active: str = "both"):
    """A warehouse where PRIOR's ranking made only the long design active, and DAY's `today_active`."""
    con = warehouse()
    ids = [r[0] for r in con.execute("select design_id from ranking_history order by rank").fetchall()]
    con.execute("update strategy_designs set created_date = ?", [PRIOR])
    con.execute("insert into strategy_tuning select * replace (?::date as run_date) from strategy_tuning "
                "where run_date = ?", [PRIOR, DAY])
    con.execute("insert into ranking_history select * replace (?::date as run_date, case when rank = 1 then 'active' "
                "else 'candidate' end as status) from ranking_history where run_date = ?", [PRIOR, DAY])
    if today_active == "short_only":
        con.execute("update ranking_history set status = case when design_id = ? then 'active' else 'candidate' end "
                    "where run_date = ?", [ids[1], DAY])
    return con, ids


def test_the_forward_day_holds_the_members_of_the_ranking_before_it_on_the_days_bars(monkeypatch):
    con, ids = two_rankings()
    market = Market.from_frame(frame(), "1h")
    out = portfolio_day(con, lambda: market, DAY)
    assert out["members"] == 4 and out["forward_members"] == 2  # today: both designs; forward: PRIOR's one
    fwd = con.execute("select rule, selected_on, members, bars, start_ms, end_ms, day_return, fees_paid "
                      "from portfolio_forward_days order by rule").fetchall()
    assert [f[0] for f in fwd] == ["equal", "inverse_vol", "risk_parity"]
    assert all(f[1] == PRIOR and f[2] == 2 and f[3] == 24 and f[4] == DAY_MS and f[5] == DAY_MS + 23 * H for f in fwd)
    # by hand from the long design's engine runs: each symbol 0.5 of 10,000, grown by its returns over the day's
    # bars, less the taker fee on the positions open at the close before the day
    members = member_runs(market, store.active_members(con, PRIOR), Costs())
    assert {m["design_id"] for m in members} == {ids[0]}
    e0, growth, fee = Costs().initial_equity, 0.0, 0.0
    for m in members:
        day = m["ms"] >= DAY_MS
        growth += 0.5 * e0 * np.prod(1 + m["returns"][day])
        fee += Costs().taker_fee * 0.5 * e0 * m["exposure"][~day][-1]
    equal = fwd[0]
    assert growth != e0 and equal[7] == pytest.approx(fee, abs=1e-9)  # the design traded that day
    assert equal[6] == pytest.approx((growth - fee) / e0 - 1, abs=1e-12)


def test_the_forward_day_does_not_read_the_days_own_ranking():
    a, _ = two_rankings("both")
    b, _ = two_rankings("short_only")
    market = Market.from_frame(frame(), "1h")
    portfolio_day(a, lambda: market, DAY)
    portfolio_day(b, lambda: market, DAY)
    q = "select * from portfolio_forward_days order by rule"
    assert a.execute(q).fetchall() == b.execute(q).fetchall() != []
    assert a.execute("select count(*) from portfolio_members").fetchone() != b.execute(
        "select count(*) from portfolio_members").fetchone()


def test_bars_after_the_day_stay_out_of_its_forward_record():
    con, _ = two_rankings()
    portfolio_day(con, lambda: Market.from_frame(frame(days=12), "1h"), DAY)
    assert con.execute("select min(bars), max(end_ms) from portfolio_forward_days").fetchone() == (24, DAY_MS + 23 * H)


def test_a_first_ranking_day_has_no_forward_record_and_a_rerun_replaces_the_day():
    con = warehouse()
    market = Market.from_frame(frame(), "1h")
    assert portfolio_day(con, lambda: market, DAY)["forward_members"] == 0
    assert con.execute("select count(*) from portfolio_forward_days").fetchone()[0] == 0
    con2, _ = two_rankings()
    portfolio_day(con2, lambda: market, DAY)
    before = con2.execute("select * from portfolio_forward_days order by all").fetchall()
    portfolio_day(con2, lambda: market, DAY, PortfolioDayConfig())
    assert con2.execute("select * from portfolio_forward_days order by all").fetchall() == before


def test_the_opening_trades_from_what_the_account_already_holds():
    """held 0.5 / 0.3 of equity, target 0.5 / 0.5, exposure 1 at the close before: 0.2 of equity traded, plus 0.1
    of positions closed: fee 0.0006 x 1,000 x 0.3 = 0.18 (from cash it would be 0.6 x 1,000 x 0.0006 = 0.36)."""
    r = np.array([[0.0, 0.0], [0.01, 0.02]])
    x = np.ones((2, 2))
    cfg = PortfolioConfig(rule="equal", max_weight=0.5, initial_equity=1000.0)
    res = run_portfolio(r, x, np.zeros(2, bool), cfg, start=1, held=np.array([0.5, 0.3]), closing=0.1)
    assert res.fees[1] == pytest.approx(0.18)
    assert res.equity[1] == pytest.approx(500 * 1.01 + 500 * 1.02 - 0.18)
    assert res.holdings.tolist() == pytest.approx([505 / res.equity[1], 510 / res.equity[1]])


def synthetic_members(day_ms: int) -> list[dict]:
    """Two members always in a position (exposure 1) over the day before and the day, hourly."""
    ms = day_ms - 24 * H + np.arange(48) * H
    rng = np.random.default_rng(5)
    return [{"member_id": mid, "params": {"n": 1}, "ms": ms, "returns": rng.normal(0, 0.002, 48), "exposure": np.ones(48)}
            for mid in ("a|BTC-USDT", "b|ETH-USDT")]


def test_a_forward_day_pays_for_the_change_of_its_holdings_and_closes_what_it_dropped():
    """Held a 0.45 (exposure 1) and c 0.2 (exposure 2, now dropped); equal weights 0.5 / 0.5: traded 0.05 + 0.5,
    closed 0.4: fee 0.0006 x 10,000 x 0.95 = 5.7 (from cash: 0.5 + 0.5 opened, 6)."""
    key = lambda m: json.dumps({"n": 1}, sort_keys=True)  # noqa: E731
    previous = {"equal": {("a|BTC-USDT", key(None)): (0.45, 1.0), ("c|SOL-USDT", key(None)): (0.2, 2.0)}}
    rows, holdings = forward_day(synthetic_members(DAY_MS), PRIOR, DAY, PortfolioDayConfig(), Costs(), previous)
    equal = next(r for r in rows if r["rule"] == "equal")
    assert equal["fees_paid"] == pytest.approx(5.7) and equal["bars"] == 24 and equal["start_ms"] == DAY_MS
    from_cash = next(r for r in forward_day(synthetic_members(DAY_MS), PRIOR, DAY, PortfolioDayConfig(), Costs(), {})[0]
                     if r["rule"] == "equal")
    assert from_cash["fees_paid"] == pytest.approx(6.0)
    held = {(h[0], h[1]): h for h in holdings}
    assert set(held) == {(rule, m) for rule in ("equal", "inverse_vol", "risk_parity") for m in ("a|BTC-USDT", "b|ETH-USDT")}
    assert all(h[4] == 1.0 and 0 < h[3] < 1 for h in holdings)


def test_a_day_with_nothing_active_is_a_cash_day_that_closes_what_the_account_held():
    previous = {"equal": {("a|BTC-USDT", "{}"): (0.5, 2.0)}}
    rows, holdings = forward_day([], PRIOR, DAY, PortfolioDayConfig(), Costs(), previous)
    equal = next(r for r in rows if r["rule"] == "equal")
    assert equal["bars"] == 0 and equal["start_ms"] is None and equal["fees_paid"] == pytest.approx(0.0006 * 10_000)
    assert equal["day_return"] == pytest.approx(-0.0006) and holdings == []
    other = next(r for r in rows if r["rule"] == "inverse_vol")
    assert other["day_return"] == 0.0 and other["fees_paid"] == 0.0
    con, _ = two_rankings()
    con.execute("update ranking_history set status = 'candidate' where run_date = ?", [PRIOR])
    portfolio_day(con, lambda: Market.from_frame(frame(), "1h"), DAY)
    assert con.execute("select count(*), max(bars), max(day_return) from portfolio_forward_days").fetchone() == (3, 0, 0.0)


def test_the_next_forward_day_reads_the_holdings_the_day_before_left(monkeypatch):
    con, _ = two_rankings()
    earlier = PRIOR - timedelta(days=1)
    con.execute("insert into ranking_history select * replace (?::date as run_date) from ranking_history "
                "where run_date = ?", [earlier, PRIOR])
    con.execute("insert into strategy_tuning select * replace (?::date as run_date) from strategy_tuning "
                "where run_date = ?", [earlier, PRIOR])
    con.execute("update strategy_designs set created_date = ?", [earlier])
    portfolio_day(con, lambda: Market.from_frame(frame(days=9), "1h"), PRIOR)
    held = store.forward_holdings(con, PRIOR)
    assert set(held) == {"equal", "inverse_vol", "risk_parity"} and len(held["equal"]) == 2
    seen, real = [], store.forward_holdings
    monkeypatch.setattr(store, "forward_holdings", lambda c, day: seen.append(day) or real(c, day))
    portfolio_day(con, lambda: Market.from_frame(frame(), "1h"), DAY)
    assert seen == [PRIOR]
    assert con.execute("select count(distinct run_date) from portfolio_forward_days").fetchone()[0] == 2


def test_a_held_member_without_bars_on_the_day_is_closed_at_the_opening_and_not_held():
    """b's bars ended the day before (its engine flat at its last bar); the record held a and b at 0.5 each.
    Max weight 1: a takes the account, trading 0.5 x exposure 1 (fee 0.0006 x 10,000 x 0.5 = 3), b's 0.5 is
    cash already (closed at no fee). It kept 1/2 idle in b (no fee, half the day's return) and held it on."""
    a, b = synthetic_members(DAY_MS)
    b = {**b, "ms": b["ms"][:24], "returns": b["returns"][:24], "exposure": np.r_[np.ones(23), 0.0]}
    previous = {"equal": {_held(a): (0.5, 1.0), _held(b): (0.5, 0.0)}}
    rows, holdings = forward_day([a, b], PRIOR, DAY, PortfolioDayConfig(max_weight=1.0), Costs(), previous)
    equal = next(r for r in rows if r["rule"] == "equal")
    assert equal["fees_paid"] == pytest.approx(3.0) and equal["bars"] == 24
    assert equal["day_return"] == pytest.approx(np.prod(1 + a["returns"][24:]) - 1 - 3.0 / 10_000, abs=1e-12)
    assert {h[1] for h in holdings} == {"a|BTC-USDT"}


def _held(member: dict) -> tuple[str, str]:
    """A member's key in the forward holdings."""
    return member["member_id"], json.dumps(member["params"], sort_keys=True)


@pytest.mark.parametrize("min_history, fallbacks", [(24, 0), (1_000, 1)])
def test_the_forward_day_counts_its_opening_as_a_rebalance_and_says_when_a_rule_fell_back(min_history, fallbacks):
    """The day's only weight decision is its opening (a daily rebalance falls on its last close: none): the
    members have 56 returns before the day, so min_history 24 lets the risk rules weigh them and 1,000 makes
    them fall back to equal shares (the equal rule never counts one)."""
    con, _ = two_rankings()
    portfolio_day(con, lambda: Market.from_frame(frame(), "1h"), DAY, PortfolioDayConfig(min_history=min_history))
    got = con.execute("select rule, min_history, rebalances, fallback_rebalances from portfolio_forward_days "
                      "order by rule").fetchall()
    assert got == [("equal", min_history, 1, 0), ("inverse_vol", min_history, 1, fallbacks),
                   ("risk_parity", min_history, 1, fallbacks)]
