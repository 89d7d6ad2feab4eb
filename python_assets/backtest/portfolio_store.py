"""The portfolio backtest's warehouse side: the active ranked members it reads and the landing tables it
writes (portfolio_runs, portfolio_equity_bars, portfolio_members, portfolio_correlations; declared as dbt
sources, DDL in PORTFOLIO_DDL), a day's rows replaced in one transaction."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb

from python_assets.research.daily import DESIGNS_AS_OF, oos_start_sql
from python_assets.warehouse.connection import insert_rows, table_exists

TABLES = ("portfolio_runs", "portfolio_equity_bars", "portfolio_members", "portfolio_correlations",
          "portfolio_forward_days", "portfolio_forward_holdings")


# The portfolio's landing tables (dbt sources portfolio_outputs.*), created here and before every dbt run
# (the macro python_assets/warehouse/landing.py generates). A column added later goes last in its create and
# gets an `add column if not exists` for warehouses made before it (min_history, rebalances and
# fallback_rebalances: NULL on days written before them). max_drawdown was stored >= 0 (1 - equity / peak)
# before it became <= 0 like every other drawdown: the sign flip of the rows still > 0 converts a warehouse's
# older days once (no drawdown written since is > 0, so running it again changes nothing).
PORTFOLIO_DDL = (
    """create table if not exists portfolio_runs (
    run_date date not null, rule varchar not null, timeframe varchar not null, members integer not null,
    start_ms bigint not null, end_ms bigint not null, bars integer not null, rebalance_ms bigint not null,
    lookback integer not null, max_weight double not null, gross_leverage_cap double not null,
    taker_fee double not null, initial_equity double not null, final_equity double not null,
    total_return double not null, sharpe double, max_drawdown double not null, gross_leverage_mean double not null,
    gross_leverage_max double not null, fees_paid double not null, liquidated_at_ms bigint,
    min_history integer, rebalances integer, fallback_rebalances integer,
    primary key (run_date, rule)
)""",
    """alter table portfolio_runs add column if not exists min_history integer""",
    """alter table portfolio_runs add column if not exists rebalances integer""",
    """alter table portfolio_runs add column if not exists fallback_rebalances integer""",
    """update portfolio_runs set max_drawdown = -max_drawdown where max_drawdown > 0""",
    """create table if not exists portfolio_equity_bars (
    run_date date not null, rule varchar not null, bar_at_ms bigint not null, equity double not null,
    gross_leverage double not null, fees double not null, primary key (run_date, rule, bar_at_ms)
)""",
    """create table if not exists portfolio_members (
    run_date date not null, member_id varchar not null, design_id varchar not null, symbol varchar not null,
    params json not null, total_return double not null, sharpe double, max_drawdown double not null,
    trades integer not null, weight_equal double, weight_inverse_vol double, weight_risk_parity double,
    primary key (run_date, member_id)
)""",
    """update portfolio_members set max_drawdown = -max_drawdown where max_drawdown > 0""",
    """create table if not exists portfolio_correlations (
    run_date date not null, member_a varchar not null, member_b varchar not null, correlation double,
    primary key (run_date, member_a, member_b)
)""",
    """create table if not exists portfolio_forward_days (
    run_date date not null, rule varchar not null, selected_on date not null, members integer not null,
    bars integer not null, start_ms bigint, end_ms bigint, initial_equity double not null, day_return double not null,
    fees_paid double not null, gross_leverage_max double not null, liquidated_at_ms bigint,
    min_history integer, rebalances integer, fallback_rebalances integer,
    primary key (run_date, rule)
)""",
    """alter table portfolio_forward_days add column if not exists min_history integer""",
    """alter table portfolio_forward_days add column if not exists rebalances integer""",
    """alter table portfolio_forward_days add column if not exists fallback_rebalances integer""",
    """create table if not exists portfolio_forward_holdings (
    run_date date not null, rule varchar not null, member_id varchar not null, params json not null,
    holding double not null, exposure double not null, primary key (run_date, rule, member_id)
)""",
)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in PORTFOLIO_DDL:
        con.execute(ddl)


def _research_tables(con: duckdb.DuckDBPyConnection) -> bool:
    return all(table_exists(con, t) for t in ("ranking_history", "strategy_tuning", "strategy_designs"))


def prior_ranking_day(con: duckdb.DuckDBPyConnection, day: date) -> date | None:
    """The latest ranking day before `day` (the forward record's members come from it); None before any."""
    if not _research_tables(con):
        return None
    return con.execute("select max(run_date) from ranking_history where run_date < ?", [day]).fetchone()[0]


def active_members(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """The designs active after `day`'s ranking, best rank first, with their spec row, newest tuned
    parameters up to that day and where their out-of-sample evaluation starts (empty before any ranking)."""
    if not _research_tables(con):
        return []
    start = oos_start_sql(con)
    out = con.execute(f"""
        with tuned as (select design_id, arg_max(best_params, run_date) as params, arg_max({start}, run_date) as oos_start_ms
                       from strategy_tuning where run_date <= ? group by design_id)
        select h.design_id, d.design_key, d.origin, d.spec, t.params, t.oos_start_ms
        from ranking_history h join {DESIGNS_AS_OF.format(op='<=')} d using (design_id) join tuned t using (design_id)
        where h.run_date = ? and h.status = 'active' order by h.rank, h.design_id""", [day, day, day]).fetchall()
    return [{"design_id": r[0], "key": r[1], "origin": r[2], "spec": json.loads(r[3]), "params": json.loads(r[4]),
             "oos_start_ms": int(r[5])} for r in out]


def forward_holdings(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, dict[tuple[str, str], tuple[float, float]]]:
    """The forward account's holdings at `day`'s last close per rule: {(member_id, params JSON): (allocation /
    equity, exposure)}; empty when the record has no such day (the next day then opens from cash)."""
    if not table_exists(con, "portfolio_forward_holdings"):
        return {}
    out: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
    for rule, member, params, holding, exposure in con.execute(
            "select rule, member_id, params, holding, exposure from portfolio_forward_holdings where run_date = ?",
            [day]).fetchall():
        out.setdefault(rule, {})[(member, params)] = (holding, exposure)
    return out


def write_day(con: duckdb.DuckDBPyConnection, day: date, runs: list[dict[str, Any]], equity: list[tuple],
              members: list[dict[str, Any]], correlations: list[tuple], forward: list[dict[str, Any]] = (),
              holdings: list[tuple] = ()) -> None:
    """Replace `day`'s rows of every portfolio table (a rerun is idempotent)."""
    ensure_tables(con)
    con.execute("begin transaction")
    try:
        for t in TABLES:
            con.execute(f"delete from {t} where run_date = ?", [day])
        cols = ("rule", "timeframe", "members", "start_ms", "end_ms", "bars", "rebalance_ms", "lookback", "max_weight",
                "gross_leverage_cap", "taker_fee", "initial_equity", "final_equity", "total_return", "sharpe",
                "max_drawdown", "gross_leverage_mean", "gross_leverage_max", "fees_paid", "liquidated_at_ms",
                "min_history", "rebalances", "fallback_rebalances")
        insert_rows(con, "portfolio_runs", [[day, *(_num(r[c]) for c in cols)] for r in runs], ["run_date", *cols])
        insert_rows(con, "portfolio_equity_bars", [[day, *e] for e in equity])
        insert_rows(con, "portfolio_members", [
            [day, m["member_id"], m["design_id"], m["symbol"], json.dumps(m["params"], sort_keys=True),
             m["total_return"], _num(m["sharpe"]), m["max_drawdown"], m["trades"], _num(m.get("weight_equal")),
             _num(m.get("weight_inverse_vol")), _num(m.get("weight_risk_parity"))] for m in members])
        insert_rows(con, "portfolio_correlations", [[day, a, b, _num(c)] for a, b, c in correlations])
        fcols = ("rule", "selected_on", "members", "bars", "start_ms", "end_ms", "initial_equity", "day_return",
                 "fees_paid", "gross_leverage_max", "liquidated_at_ms", "min_history", "rebalances",
                 "fallback_rebalances")
        insert_rows(con, "portfolio_forward_days", [[day, *(f[c] for c in fcols)] for f in forward], ["run_date", *fcols])
        insert_rows(con, "portfolio_forward_holdings", [[day, *h] for h in holdings])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _num(v: Any) -> Any:
    """NaN -> NULL; everything else as is."""
    return None if isinstance(v, float) and v != v else v
