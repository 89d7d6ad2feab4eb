"""The portfolio day on a small warehouse: active designs read from the research tables, every rule
written to the landing tables (documented sources), a rerun replaces the day, inactive days write nothing."""

from __future__ import annotations

import json
import math
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.backtest import portfolio_store as store
from python_assets.backtest.engine import Costs
from python_assets.backtest.portfolio_daily import PortfolioDayConfig, member_runs, portfolio_day
from python_assets.backtest.spec import resolve_params, spec_from_dict
from python_assets.research import daily as research
from python_assets.research.designer import canonical, spec_dict
from python_assets.research.tuner import Market

DAY = date(2025, 1, 10)
H = 3_600_000


def frame(days: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    out = []
    for k, sym in enumerate(("BTC-USDT", "ETH-USDT")):
        close = 100 * (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.01, days * 24)))
        open_ = np.r_[close[0], close[:-1]]
        out.append(pd.DataFrame({"symbol": sym, "timeframe": "1h", "bar_at_ms": 1_735_689_600_000 + np.arange(len(close)) * H,
                                 "open": open_, "high": np.maximum(open_, close) * 1.003,
                                 "low": np.minimum(open_, close) * 0.997, "close": close, "volume": 1.0}))
    return pd.concat(out, ignore_index=True)


def warehouse(status: str = "active") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    research.ensure_tables(con)
    for rank, (side, atom) in enumerate((("long", "sma_cross"), ("short", "breakout")), start=1):
        d = canonical(side, [atom], "random")
        spec = spec_dict(d, "1h")
        params = resolve_params(spec_from_dict(spec), {})
        con.execute("insert into strategy_designs values (?, ?, 'random', '[]', ?, '1h', ?)",
                    [d.design_id, d.key, json.dumps(spec), DAY])
        con.execute("insert into strategy_tuning (run_date, design_id, best_params, is_sharpe, is_end_ms, n_trials) values (?, ?, ?, 0.1, ?, 3)",
                    [DAY, d.design_id, json.dumps(params), 1_735_689_600_000 + 5 * 24 * H])
        con.execute("insert into ranking_history values (?, ?, ?, 2, 0.5, 0.5, 0.1, 0.1, 1.0, 0.01, 10, 30, ?, null)",
                    [DAY, d.design_id, rank, status])
    return con


def rows(con, table: str) -> list[tuple]:
    return con.execute(f"select * from {table} order by all").fetchall()


def test_every_rule_is_written_and_a_rerun_replaces_the_day():
    con, market = warehouse(), Market.from_frame(frame(), "1h")
    cfg = PortfolioDayConfig(rebalance_ms=24 * H, lookback=48, min_history=12, max_weight=0.4, gross_leverage=1.0)
    out = portfolio_day(con, lambda: market, DAY, cfg)
    assert out["members"] == 4 and out["rules"] == 3
    runs = con.execute("select rule, members, bars, total_return, final_equity, start_ms from portfolio_runs "
                       "order by rule").fetchall()
    assert [r[0] for r in runs] == ["equal", "inverse_vol", "risk_parity"]
    assert all(r[1] == 4 for r in runs)
    # members start after their tuning window ended (day 5 of 10) and the market's out-of-sample cut
    assert all(r[5] >= max(1_735_689_600_000 + 5 * 24 * H, market.oos_window.start_ms) for r in runs)
    n_bars = runs[0][2]
    assert con.execute("select count(*) from portfolio_equity_bars").fetchone()[0] == 3 * n_bars
    last = con.execute("select rule, equity from portfolio_equity_bars qualify row_number() over "
                       "(partition by rule order by bar_at_ms desc) = 1 order by rule").fetchall()
    assert [e for _, e in last] == pytest.approx([r[4] for r in runs])
    w = con.execute("select sum(weight_equal), max(weight_equal), sum(weight_inverse_vol) from portfolio_members").fetchone()
    assert w[0] == pytest.approx(1.0) and w[1] == pytest.approx(0.25) and w[2] <= 1.0 + 1e-9
    corr = con.execute("select member_a, member_b, correlation from portfolio_correlations").fetchall()
    assert len(corr) == 16
    assert all(c is None or c == pytest.approx(1.0) for a, b, c in corr if a == b)
    before = {t: rows(con, t) for t in store.TABLES}
    portfolio_day(con, lambda: market, DAY, cfg)
    assert {t: rows(con, t) for t in store.TABLES} == before


def test_a_day_without_active_designs_writes_nothing_and_loads_no_market():
    con = warehouse(status="candidate")

    def no_market():
        raise AssertionError("the market is loaded only when a design is active")

    assert portfolio_day(con, no_market, DAY) == {"members": 0, "rules": 0, "forward_members": 0}
    assert all(rows(con, t) == [] for t in store.TABLES)


def test_a_warehouse_before_any_research_has_no_members():
    con = duckdb.connect()
    assert store.active_members(con, DAY) == []


MONDAY = 1_736_726_400_000  # 2025-01-13 00:00 UTC, 12 days into frame()


def four_weeks(weekdays_only: bool) -> pd.DataFrame:
    """Four weeks of frame()'s 1h bars from MONDAY, every hour or Monday to Friday only (closed at weekends)."""
    f = frame(days=40)
    days = (f["bar_at_ms"] - MONDAY) // (24 * H)
    return f[(days >= 0) & ((days % 7 < 5) | (not weekdays_only))].reset_index(drop=True)


def per_bar_sharpe(equity: np.ndarray, initial: float) -> float:
    ret = np.diff(np.r_[initial, equity]) / np.r_[initial, equity[:-1]]
    return float(ret.mean() / ret.std(ddof=1))


@pytest.mark.parametrize("weekdays_only, bars_per_year", [
    # weeks 3 and 4 out of sample, Monday 00:00 to Friday 24:00: 240 bars over 12 days cover 5/6 of their span
    # (not > 13/14), so 240 x 365 / 12 = 7,300 bars a year (24/7's 8,760 before); a 24/7 market keeps 8,760
    (True, 240 * 365 / 12), (False, 365 * 24)])
def test_sharpes_are_annualised_by_the_bars_they_are_of(weekdays_only, bars_per_year):
    con, market = warehouse(), Market.from_frame(four_weeks(weekdays_only), "1h", split=0.5)
    out = portfolio_day(con, lambda: market, DAY)
    assert out["members"] == 4
    bars, initial = con.execute("select max(bars), max(initial_equity) from portfolio_runs").fetchone()
    assert bars == (240 if weekdays_only else 336)
    for rule, sharpe in con.execute("select rule, sharpe from portfolio_runs order by rule").fetchall():
        equity = np.array([e for (e,) in con.execute("select equity from portfolio_equity_bars where rule = ? "
                                                     "order by bar_at_ms", [rule]).fetchall()])
        assert sharpe == pytest.approx(per_bar_sharpe(equity, initial) * math.sqrt(bars_per_year), rel=1e-9)
    members = member_runs(market, store.active_members(con, DAY), Costs())
    moving = [m for m in members if not math.isnan(m["sharpe"])]
    assert len(moving) >= 2 and all(len(m["ms"]) == bars for m in moving)
    for m in moving:
        r = m["returns"]
        assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(bars_per_year), rel=1e-9)


def test_a_symbol_that_stops_trading_leaves_the_portfolio_at_the_next_rebalance():
    """ETH's bars stop at noon of day 9 of 10 (a delisting): its members got 1/4 each under equal to the end
    (BTC's too), the dead one's cash idle in the account; now its engine closed them at its last bar and the
    day's rebalance after it hands their share to BTC's members (max_weight 0.5)."""
    f = frame()
    f = f[(f["symbol"] != "ETH-USDT") | (f["bar_at_ms"] < f["bar_at_ms"].min() + (8 * 24 + 12) * H)]
    con, market = warehouse(), Market.from_frame(f.reset_index(drop=True), "1h")
    assert portfolio_day(con, lambda: market, DAY)["members"] == 4
    weights = con.execute("select symbol, sum(weight_equal), sum(weight_inverse_vol), sum(weight_risk_parity) "
                          "from portfolio_members group by 1 order by 1").fetchall()
    assert weights[1] == ("ETH-USDT", 0.0, 0.0, 0.0)
    assert weights[0][1] == pytest.approx(1.0) and all(w == pytest.approx(1.0) for w in weights[0][1:])


@pytest.mark.parametrize("min_history, fallbacks", [(8, 0), (12, 1), (1_000, 3)])
def test_the_landing_rows_count_the_rebalances_where_a_risk_rule_fell_back_to_equal_weights(min_history, fallbacks):
    """The window opens at 16:00 (hour 160): the first of its 3 rebalances (bar 7) has 8 own returns per
    member. min_history 8: every rebalance weighed by the rule; 12: the first fell back to equal shares; 1,000
    (a short window): all did, and the risk rules' accounts are the equal rule's (a 2-day lake's three
    identical accounts, nothing said why). The equal rule never counts one."""
    con, market = warehouse(), Market.from_frame(frame(), "1h")
    portfolio_day(con, lambda: market, DAY, PortfolioDayConfig(lookback=48, min_history=min_history, max_weight=0.4))
    runs = con.execute("select rule, min_history, rebalances, fallback_rebalances, final_equity from portfolio_runs "
                       "order by rule").fetchall()
    assert [r[:4] for r in runs] == [("equal", min_history, 3, 0), ("inverse_vol", min_history, 3, fallbacks),
                                     ("risk_parity", min_history, 3, fallbacks)]
    assert (runs[1][4] == runs[0][4] == runs[2][4]) is (fallbacks == 3)


def test_drawdowns_land_at_most_0_and_a_warehouse_holding_the_old_sign_is_converted_once():
    """The landing rows store max_drawdown <= 0 (account and members); a warehouse whose older days hold the
    old sign (>= 0) gets those rows flipped by the store's DDL, once: running it again, or a day written
    after it, changes nothing, so no mart mixes the two signs."""
    con, market = warehouse(), Market.from_frame(frame(), "1h")
    portfolio_day(con, lambda: market, DAY, PortfolioDayConfig(lookback=48, min_history=12, max_weight=0.4))
    now = {t: rows(con, t) for t in ("portfolio_runs", "portfolio_members")}
    dds = [d for (d,) in con.execute("select max_drawdown from portfolio_runs union all "
                                     "select max_drawdown from portfolio_members").fetchall()]
    assert all(-1 <= d <= 0 for d in dds) and any(d < 0 for d in dds)
    for t in ("portfolio_runs", "portfolio_members"):  # as code before the flip wrote them
        con.execute(f"update {t} set max_drawdown = -max_drawdown")
    store.ensure_tables(con)
    assert {t: rows(con, t) for t in now} == now
    store.ensure_tables(con)
    assert {t: rows(con, t) for t in now} == now


@pytest.mark.parametrize("hours", [0, -24])
def test_a_rebalance_period_that_is_no_period_is_one_clear_error(hours):
    """rebalance_hours=0 never rebalanced (every rule kept its opening shares, reading as equal weight) and
    a negative one rebalanced at every bar: both are refused with one line naming the setting."""
    with pytest.raises(ValueError, match=r"rebalance period must be > 0 \(rebalance_hours >= 1\), got -?\d+ h"):
        PortfolioDayConfig(rebalance_ms=hours * H)
    assert PortfolioDayConfig(rebalance_ms=4 * H).rebalance_ms == 4 * H
