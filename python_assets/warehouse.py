"""Opening the warehouse so that a data dir can be copied or moved: the lake views (dbt's staging
sources) name their files relative to the data dir (`lake/trades/...`), and every connection
resolves them against the directory holding the database file, through DuckDB's file_search_path.
dbt does the same (dbt_project/profiles.yml); nothing stored in the warehouse names where it lives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def lake_search_path(database: Path) -> dict[str, str]:
    """DuckDB settings under which the relative lake paths of the views resolve beside `database`."""
    return {"file_search_path": str(Path(database).resolve().parent)}


def connect_warehouse(database: Path, read_only: bool = False, config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse (or its snapshot) whose lake views read the lake of its own data dir."""
    return duckdb.connect(str(database), read_only=read_only, config={**lake_search_path(database), **(config or {})})
