"""Opening the live DuckDB warehouse with failures said in one line: a missing warehouse, and a file
another process holds (DuckDB lets one process hold a database file read-write, or several read-only:
a DuckDB CLI, a notebook or a reader's open connection keeps every writer out)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from python_assets.query import first_line

_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")


class WarehouseBusy(RuntimeError):
    """Another process has the warehouse file open; the message names the file and the holder DuckDB reports."""


class WarehouseMissing(RuntimeError):
    """There is no warehouse yet (no run has built it)."""


def busy_message(path: Path, exc: BaseException) -> str:
    """One line: which file, which process DuckDB says holds it, and what to do."""
    found = _HOLDER.search(str(exc))
    holder = f"process {found['pid']} ({found['exe']})" if found else "another process"
    return (f"the warehouse {path} is open in {holder}, e.g. a DuckDB CLI, a notebook or a reader keeping a "
            f"connection: close it and retry (DuckDB: {first_line(exc).split('. However')[0]})")


def require_warehouse(path: Path) -> None:
    """WarehouseMissing unless the warehouse file exists."""
    if not Path(path).exists():
        raise WarehouseMissing(f"there is no warehouse at {path} yet: build it with `blofin-stack demo` or "
                               "`blofin-stack materialize --date YYYY-MM-DD` first")


def lake_search_path(database: Path) -> dict[str, str]:
    """DuckDB settings under which the views' relative lake paths (`lake/trades/...`) resolve beside
    `database`: a data dir can be copied or moved; dbt does the same (dbt_project/profiles.yml)."""
    return {"file_search_path": str(Path(database).resolve().parent)}


def connect_warehouse(path: Path, read_only: bool = False, must_exist: bool = False,
                      config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """duckdb.connect(path) with the lake resolved beside it, raising WarehouseBusy when another
    process holds the file and, with must_exist, WarehouseMissing instead of creating an empty warehouse."""
    if must_exist or read_only:
        require_warehouse(path)
    try:
        return duckdb.connect(str(path), read_only=read_only, config={**lake_search_path(path), **(config or {})})
    except duckdb.IOException as exc:
        if "could not set lock on file" in str(exc).lower():
            raise WarehouseBusy(busy_message(path, exc)) from None
        raise
