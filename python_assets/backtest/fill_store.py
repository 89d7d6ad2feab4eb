"""The fill-stress landing table: each top-ranked design's out-of-sample result under every fill mode
(backtest/fills.py), replaced per research day; dbt's fill_sensitivity mart reads it."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

FILL_STRESS_DDL = """create table if not exists fill_stress_results (run_date date not null, design_id varchar not null,
    design_key varchar not null, fill_mode varchar not null, rank integer not null, net_return double,
    sharpe double, trades integer not null, has_edge boolean not null, edge_survives boolean, spread_fraction double not null,
    created_at timestamptz not null, primary key (run_date, design_id, fill_mode))"""
COLUMNS = ("design_id", "design_key", "fill_mode", "rank", "net_return", "sharpe", "trades", "has_edge",
           "edge_survives", "spread_fraction")


def ensure_fill_stress(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(FILL_STRESS_DDL)


def write_fill_stress(con: duckdb.DuckDBPyConnection, day: date, rows: list[dict[str, Any]]) -> int:
    """Replace the day's rows in one transaction (a rerun is idempotent); returns the rows written."""
    ensure_fill_stress(con)
    con.execute("begin transaction")
    try:
        con.execute("delete from fill_stress_results where run_date = ?", [day])
        if rows:
            con.executemany(f"insert into fill_stress_results values (?, {', '.join('?' * len(COLUMNS))}, now())",
                            [[day, *(r[c] for c in COLUMNS)] for r in rows])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(rows)
