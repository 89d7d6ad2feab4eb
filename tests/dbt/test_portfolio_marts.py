"""The portfolio marts built by dbt from the landing tables the portfolio asset writes (a real day of the
portfolio on a small synthetic market), with their key and value tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import run_dbt, undocumented_relations

from python_assets.backtest.portfolio_store import TABLES
from python_assets.backtest.portfolio_daily import PortfolioDayConfig, portfolio_day
from python_assets.config import DBT_PROJECT_DIR, Paths
from python_assets.research.tuner import Market

sys.path.insert(0, str(Path(__file__).parents[1] / "backtest"))
from test_portfolio_day import DAY, frame, warehouse  # noqa: E402


def landed(paths: Paths, *edits: str) -> Paths:
    """A real portfolio day's landing tables in paths' warehouse, after the SQL edits (on schema wh)."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    mem, market = warehouse(), Market.from_frame(frame(), "1h")
    portfolio_day(mem, lambda: market, DAY, PortfolioDayConfig(lookback=48, min_history=12, max_weight=0.4))
    mem.execute(f"attach '{paths.warehouse}' as wh")
    for t in TABLES:
        mem.execute(f"create table wh.{t} as select * from {t}")
    for sql in edits:
        mem.execute(sql)
    mem.execute("detach wh")
    return paths


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Paths:
    paths = landed(Paths(tmp_path_factory.mktemp("portfolio") / "data"))
    run_dbt(paths, "build", "--select", "tag:portfolio")
    return paths


def test_marts_hold_every_rule_beside_the_members(built):
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        res = con.execute("select rule, members, total_return, member_return_mean, liquidated from "
                          "portfolio_backtest_results order by rule").fetchall()
        assert [r[0] for r in res] == ["equal", "inverse_vol", "risk_parity"]
        assert all(r[1] == 4 and r[3] is not None and r[4] is False for r in res)
        eq = con.execute("select rule, count(*), min(drawdown), min(bar_at) = min(to_timestamp(bar_at_ms / 1000)) "
                         "from portfolio_equity group by rule order by rule").fetchall()
        assert len({n for _, n, _, _ in eq}) == 1 and all(-1 < d <= 0 and ok for _, _, d, ok in eq)
        assert con.execute("select count(*) from portfolio_member_correlations").fetchone()[0] == 16
        assert con.execute("select count(*) from portfolio_member_results").fetchone()[0] == 4


def test_the_results_mart_says_at_how_many_rebalances_a_risk_rule_fell_back_to_equal_weights(built):
    """min_history 12, a window opening at 16:00: the first of the 3 rebalances has 8 own returns per member,
    so the risk rules gave equal shares there (the report names them from these columns)."""
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        got = con.execute("select rule, min_history, rebalances, fallback_rebalances from portfolio_backtest_results "
                          "order by rule").fetchall()
    assert got == [("equal", 12, 3, 0), ("inverse_vol", 12, 3, 1), ("risk_parity", 12, 3, 1)]


def test_the_equity_marts_deepest_drawdown_is_the_runs_max_drawdown(built):
    """The mart's running peak starts at the initial equity, as the run's max_drawdown does (a curve 99, 98,
    100 from 100 fell 2 %; the mart said 1 %). Both <= 0, as the strategies' (bt_equity_stats)."""
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        pairs = con.execute("select r.rule, r.max_drawdown, min(e.drawdown) from portfolio_backtest_results r "
                            "join portfolio_equity e using (run_date, rule) group by r.rule, r.max_drawdown").fetchall()
    assert len(pairs) == 3 and all(abs(run - mart) < 1e-12 and run <= 0 for _, run, mart in pairs), pairs
    assert any(run < 0 for _, run, _ in pairs), pairs


def test_an_equity_curve_that_starts_falling_draws_down_from_the_initial_equity(tmp_path):
    """99, 98, 100 from 100: drawdowns -1 %, -2 %, 0 % (the first bar's own equity is no peak above 100)."""
    paths = landed(Paths(tmp_path / "data"), "update wh.portfolio_runs set initial_equity = 100",
                   "delete from wh.portfolio_equity_bars",
                   "insert into wh.portfolio_equity_bars select run_date, rule, bar_at_ms, equity, 0, 0 from (select "
                   "distinct run_date, rule from wh.portfolio_runs) cross join (values (1000, 99.0), (2000, 98.0), "
                   "(3000, 100.0)) v(bar_at_ms, equity)")
    run_dbt(paths, "run", "--select", "portfolio_equity")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        got = con.execute("select drawdown from portfolio_equity where rule = 'equal' order by bar_at_ms").fetchall()
    assert [round(d, 12) for (d,) in got] == [-0.01, -0.02, 0.0]


def test_a_warehouse_holding_drawdowns_of_the_old_sign_has_them_converted_before_dbt_reads_them(tmp_path):
    """Days landed by code before max_drawdown became <= 0 hold it >= 0 and are rewritten only when rerun:
    the landing DDL dbt runs first (on-run-start) flips them, so the marts never mix the two signs."""
    flip = "update wh.{t} set max_drawdown = -max_drawdown"
    paths = landed(Paths(tmp_path / "data"), flip.format(t="portfolio_runs"), flip.format(t="portfolio_members"))
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        assert con.execute("select min(max_drawdown) from portfolio_runs").fetchone()[0] >= 0
    run_dbt(paths, "run", "--select", "portfolio_backtest_results", "portfolio_member_results")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        got = [d for (d,) in con.execute("select max_drawdown from portfolio_backtest_results union all "
                                         "select max_drawdown from portfolio_member_results").fetchall()]
    assert len(got) == 7 and all(d <= 0 for d in got) and any(d < 0 for d in got), got


def test_every_portfolio_table_and_mart_column_is_documented(built):
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        names = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        assert {"portfolio_backtest_results", "portfolio_equity", "portfolio_member_results",
                "portfolio_member_correlations", *TABLES} <= names
        assert undocumented_relations(manifest, con) == []


def test_the_members_means_are_the_same_bits_whatever_order_the_members_are_stored_in(tmp_path):
    """A plain DOUBLE avg adds rows in table order: 50 members stored forward or reversed gave means that
    differed in the last bits (duckdb 2.x); ordered_agg adds them in member_id order."""
    values = ", ".join(repr((-1) ** i * (i + 1) * 10.0 ** (i % 7 - 3) / 3) for i in range(50))
    got = {}
    for order in ("asc", "desc"):
        paths = landed(Paths(tmp_path / order / "data"),
                       "create temp table one as select * from wh.portfolio_members limit 1",
                       "delete from wh.portfolio_members",
                       "insert into wh.portfolio_members select o.run_date, 'm' || lpad(cast(v.i as varchar), 2, '0'), "
                       "o.design_id, o.symbol, o.params, v.x, v.x / 7, o.max_drawdown, o.trades, null, null, null "
                       f"from one o, (select unnest(range(50)) as i, unnest([{values}]::double[]) as x) v "
                       f"order by v.i {order}")
        run_dbt(paths, "run", "--select", "portfolio_backtest_results")
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            got[order] = con.execute("select rule, member_return_mean, member_sharpe_mean from "
                                     "portfolio_backtest_results order by rule").fetchall()
    assert len(got["asc"]) == 3 and got["asc"] == got["desc"]
