"""The backtest ledger in the warehouse: runs, trades and equity curves, written by the engine only.

strategy_backtest_results (dbt) computes every metric from these three tables in SQL.
Writes are idempotent per backtest_id: its old rows are deleted in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from python_assets.backtest.engine import EXIT_REASONS, Costs, EngineResult

LEDGER_TABLES = ("backtest_runs", "backtest_trades", "backtest_equity")


@dataclass(frozen=True)
class RunMeta:
    """Who and what a backtest is: the ledger's backtest_runs row minus the derived columns."""

    run_id: str
    kind: str  # daily | cli | walk_forward
    strategy: str
    strategy_version: str
    strategy_id: str
    params: dict[str, Any]
    symbol: str
    timeframe: str
    bar_ms: int
    window_id: str
    window_kind: str  # full | in_sample | out_of_sample
    window_start_ms: int
    window_end_ms: int
    costs: Costs
    source: str
    partition_date: str | None = None
    periods_per_year: float | None = None  # annualisation factor; None: measured on the backtest's bars (periods.py)


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


def backtest_id(meta: RunMeta) -> str:
    """Stable per run x strategy instance x symbol x timeframe x window: a rerun replaces its rows."""
    key = json.dumps([meta.run_id, meta.strategy_id, meta.strategy_version, meta.symbol, meta.timeframe,
                      meta.window_id, meta.window_kind], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:20]


# The ledger's landing tables (dbt sources backtest_ledger.*), created here and, through the macro
# python_assets/warehouse/landing.py generates, before every dbt run. A column added later goes last in
# its create and gets an `add column if not exists` for warehouses made before it (periods_per_year:
# the bars per year that annualise a run's Sharpe/Sortino, NULL: the mart measures each backtest's bars).
LEDGER_DDL = (
    """create table if not exists backtest_runs (
    backtest_id varchar primary key, run_id varchar not null, kind varchar not null,
    created_at timestamptz not null, partition_date date, strategy varchar not null,
    strategy_version varchar not null, strategy_id varchar not null, params json not null,
    symbol varchar not null, timeframe varchar not null, bar_ms bigint not null,
    window_id varchar not null, window_kind varchar not null,
    window_start timestamptz not null, window_end timestamptz not null,
    taker_fee double not null, maker_fee double not null, slippage_bps double not null,
    initial_equity double not null, source varchar not null, code_version varchar not null,
    periods_per_year double
)""",
    """alter table backtest_runs add column if not exists periods_per_year double""",
    """create table if not exists backtest_trades (
    backtest_id varchar not null, trade_no integer not null, symbol varchar not null, side varchar not null,
    size double not null, entry_at timestamptz not null, entry_at_ms bigint not null, entry_price double not null,
    exit_at timestamptz not null, exit_at_ms bigint not null, exit_price double not null,
    entry_fee double not null, exit_fee double not null, funding double not null, gross_pnl double not null,
    pnl double not null, return_pct double not null, bars_held integer not null, exit_reason varchar not null,
    closed_at_end boolean not null, primary key (backtest_id, trade_no)
)""",
    """create table if not exists backtest_equity (
    backtest_id varchar not null, bar_at timestamptz not null, bar_at_ms bigint not null,
    open double not null, close double not null, equity double not null, position double not null,
    primary key (backtest_id, bar_at_ms)
)""",
)


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in LEDGER_DDL:
        con.execute(ddl)


def trades_frame(bid: str, symbol: str, bar_ms: np.ndarray, bar_len_ms: int, result: EngineResult) -> pd.DataFrame:
    """The engine's trades as ledger rows; fills at an open are stamped with that bar's open time,
    the end-of-data close with the last bar's close time."""
    reason = np.array(EXIT_REASONS, dtype=object)[result.reason.astype(int)]
    at_end = reason == "end_of_data"
    exit_ms = bar_ms[result.exit_index] + np.where(at_end, bar_len_ms, 0)
    gross = result.side * result.size * (result.exit_price - result.entry_price)
    return pd.DataFrame({
        "backtest_id": bid,
        "trade_no": np.arange(1, len(result.size) + 1, dtype=np.int32),
        "symbol": symbol,
        "side": np.where(result.side > 0, "long", "short"),
        "size": result.size,
        "entry_at_ms": bar_ms[result.entry_index],
        "entry_price": result.entry_price,
        "exit_at_ms": exit_ms,
        "exit_price": result.exit_price,
        "entry_fee": result.entry_fee,
        "exit_fee": result.exit_fee,
        "funding": result.funding,
        "gross_pnl": gross,
        "pnl": result.pnl,
        "return_pct": result.pnl / (result.size * result.entry_price),
        "bars_held": (result.exit_index - result.entry_index + 1).astype(np.int32),
        "exit_reason": reason,
        "closed_at_end": at_end,
    })


@dataclass(frozen=True)
class LedgerRows:
    """One backtest's rows for the three ledger tables."""

    backtest_id: str
    runs: pd.DataFrame
    trades: pd.DataFrame
    equity: pd.DataFrame


def ledger_rows(meta: RunMeta, bar_ms: np.ndarray, open_: np.ndarray, close: np.ndarray, result: EngineResult,
                code_version: str) -> LedgerRows:
    """The run row, trades and equity curve of one backtest, ready to write."""
    bid = backtest_id(meta)
    runs = pd.DataFrame([{
        "backtest_id": bid, "run_id": meta.run_id, "kind": meta.kind, "partition_date": meta.partition_date,
        "strategy": meta.strategy, "strategy_version": meta.strategy_version, "strategy_id": meta.strategy_id,
        "params": json.dumps(meta.params, sort_keys=True), "symbol": meta.symbol, "timeframe": meta.timeframe,
        "bar_ms": meta.bar_ms, "window_id": meta.window_id, "window_kind": meta.window_kind,
        "window_start_ms": meta.window_start_ms, "window_end_ms": meta.window_end_ms,
        "taker_fee": meta.costs.taker_fee, "maker_fee": meta.costs.maker_fee,
        "slippage_bps": meta.costs.slippage_bps, "initial_equity": meta.costs.initial_equity,
        "source": meta.source, "code_version": code_version, "periods_per_year": meta.periods_per_year,
    }])
    trades = trades_frame(bid, meta.symbol, bar_ms, meta.bar_ms, result)
    equity = pd.DataFrame({"backtest_id": bid, "bar_at_ms": bar_ms, "open": open_, "close": close,
                           "equity": result.equity, "position": result.position})
    return LedgerRows(bid, runs, trades, equity)


def write(con: duckdb.DuckDBPyConnection, batch: list[LedgerRows]) -> list[str]:
    """Write many backtests in one transaction (each replaces any earlier rows with its backtest_id):
    one delete per table for the whole batch, not one per backtest (each delete scans the table)."""
    latest = {rows.backtest_id: rows for rows in batch}  # an id written twice in a batch: the last wins
    if not latest:
        return []
    frames = {"_ids": pd.DataFrame({"backtest_id": list(latest)}),
              "_runs": pd.concat([r.runs for r in latest.values()], ignore_index=True),
              "_trades": pd.concat([r.trades for r in latest.values()], ignore_index=True),
              "_equity": pd.concat([r.equity for r in latest.values()], ignore_index=True)}
    ensure_ledger(con)
    con.execute("begin transaction")
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        for table in LEDGER_TABLES:
            con.execute(f"delete from {table} where backtest_id in (select backtest_id from _ids)")
        con.execute("""insert into backtest_runs select backtest_id, run_id, kind, now(), cast(partition_date as date),
            strategy, strategy_version, strategy_id, cast(params as json), symbol, timeframe, bar_ms, window_id,
            window_kind, make_timestamptz(window_start_ms * 1000), make_timestamptz(window_end_ms * 1000),
            taker_fee, maker_fee, slippage_bps, initial_equity, source, code_version,
            cast(periods_per_year as double) from _runs""")
        con.execute("""insert into backtest_trades select backtest_id, trade_no, symbol, side, size,
            make_timestamptz(entry_at_ms * 1000), entry_at_ms, entry_price, make_timestamptz(exit_at_ms * 1000),
            exit_at_ms, exit_price, entry_fee, exit_fee, funding, gross_pnl, pnl, return_pct, bars_held,
            exit_reason, closed_at_end from _trades""")
        con.execute("""insert into backtest_equity select backtest_id, make_timestamptz(bar_at_ms * 1000), bar_at_ms,
            open, close, equity, position from _equity""")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for name in frames:
            con.unregister(name)
    return list(latest)


def delete_runs(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> int:
    """Remove whole backtests (all three tables) matching a condition on backtest_runs."""
    ensure_ledger(con)
    ids = [r[0] for r in con.execute(f"select backtest_id from backtest_runs where {where}", params).fetchall()]
    if ids:
        con.execute("begin transaction")
        for table in LEDGER_TABLES:
            con.execute(f"delete from {table} where backtest_id in (select unnest(?))", [ids])
        con.execute("commit")
    return len(ids)
