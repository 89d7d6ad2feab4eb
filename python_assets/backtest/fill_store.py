"""The fill-stress landing table: each top-ranked design's out-of-sample result under every fill mode
(backtest/fills.py), replaced per research day; dbt's fill_sensitivity mart reads it."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

# A column added later goes last in the create and gets an `add column if not exists` for warehouses made
# before it (book_spread_share: the share of a spread row's fills priced from a recorded order book).
FILL_STRESS_DDL = ("""create table if not exists fill_stress_results (run_date date not null, design_id varchar not null,
    design_key varchar not null, fill_mode varchar not null, rank integer not null, net_return double,
    sharpe double, trades integer not null, has_edge boolean not null, edge_survives boolean, spread_fraction double not null,
    created_at timestamptz not null, book_spread_share double, primary key (run_date, design_id, fill_mode))""",
                   """alter table fill_stress_results add column if not exists book_spread_share double""")
COLUMNS = ("design_id", "design_key", "fill_mode", "rank", "net_return", "sharpe", "trades", "has_edge",
           "edge_survives", "spread_fraction", "book_spread_share")


def ensure_fill_stress(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in FILL_STRESS_DDL:
        con.execute(ddl)


def write_fill_stress(con: duckdb.DuckDBPyConnection, day: date, rows: list[dict[str, Any]]) -> int:
    """Replace the day's rows in one transaction (a rerun is idempotent); returns the rows written."""
    ensure_fill_stress(con)
    con.execute("begin transaction")
    try:
        con.execute("delete from fill_stress_results where run_date = ?", [day])
        if rows:
            con.executemany(f"insert into fill_stress_results (run_date, {', '.join(COLUMNS)}, created_at) "
                            f"values (?, {', '.join('?' * len(COLUMNS))}, now())",
                            [[day, *(r[c] for c in COLUMNS)] for r in rows])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(rows)
