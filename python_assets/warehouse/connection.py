"""Opening the live DuckDB warehouse with failures said in one line: a missing warehouse, and a file
another process holds (DuckDB lets one process hold a database file read-write, or several read-only:
a DuckDB CLI, a notebook or a reader's open connection keeps every writer out), and the exchange of tables
with another engine as Parquet (dbt on Spark: export_tables / import_tables)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from python_assets.warehouse.query import first_line

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
        raise WarehouseMissing(missing_warehouse(path))


def missing_warehouse(path: Path) -> str:
    """The one line every command says when there is no warehouse at path yet."""
    return (f"there is no warehouse at {path} yet: build it with `blofin-stack demo` or "
            "`blofin-stack materialize --date YYYY-MM-DD` first")


def lake_search_path(database: Path) -> dict[str, str]:
    """DuckDB settings under which the views' relative lake paths (`lake/trades/...`) resolve beside
    `database`: a data dir can be copied or moved; dbt does the same (dbt_project/profiles.yml)."""
    return {"file_search_path": str(Path(database).resolve().parent)}


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the connection's catalog has a table or view called name (a landing table exists only once
    its writer ran, a model once dbt built it)."""
    return bool(con.execute("select count(*) from information_schema.tables where table_name = ?", [name]).fetchall()[0][0])


def with_columns(con: duckdb.DuckDBPyConnection, name: str, defaults: Mapping[str, str]) -> str:
    """`name`, or a subquery over it (aliased `name`) adding each column of defaults (column -> SQL value)
    it lacks: a view or table built before a column was added reads as before, the column as its default."""
    have = {r[0] for r in con.execute("select column_name from information_schema.columns where table_name = ?",
                                      [name]).fetchall()}
    missing = [f"{value} as {column}" for column, value in defaults.items() if column not in have]
    return f"(select *, {', '.join(missing)} from {name}) as {name}" if missing else name


def connect_utc(database: str = ":memory:", **kwargs: Any) -> duckdb.DuckDBPyConnection:
    """duckdb.connect in UTC: DuckDB takes the process's time zone (TZ) otherwise, and a timestamptz
    formatted or truncated by date then shifts with the machine (a report's 23:55Z bar read 19:55Z)."""
    con = duckdb.connect(database, **kwargs)
    try:
        con.execute("set TimeZone = 'UTC'")  # ICU loads after connect's config: set here, not in config
    except BaseException:
        con.close()
        raise
    return con


def connect_warehouse(path: Path, read_only: bool = False, must_exist: bool = False,
                      config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """duckdb.connect(path) in UTC with the lake resolved beside it, raising WarehouseBusy when another
    process holds the file and, with must_exist, WarehouseMissing instead of creating an empty warehouse."""
    if must_exist or read_only:
        require_warehouse(path)
    try:
        return connect_utc(str(path), read_only=read_only, config={**lake_search_path(path), **(config or {})})
    except duckdb.IOException as exc:
        if "could not set lock on file" in str(exc).lower():
            raise WarehouseBusy(busy_message(path, exc)) from None
        raise


def _quoted_files(files: list[Path]) -> str:
    """A SQL list literal of file paths."""
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def export_tables(con: duckdb.DuckDBPyConnection, names: list[str], root: Path) -> list[str]:
    """Each of `names` that is a table here, written whole to root/<name>/part-0.parquet (the folder replaced)
    for an engine that reads Parquet (dbt on Spark); JSON columns as text. Returns the names written."""
    present = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                         "where table_schema = 'main' and table_type = 'BASE TABLE'").fetchall()}
    written = []
    for name in sorted(set(names) & present):
        columns = con.execute("select column_name, data_type from information_schema.columns where table_schema = "
                              "'main' and table_name = ? order by ordinal_position", [name]).fetchall()
        quoted = [(c.replace('"', '""'), t) for c, t in columns]
        select = ", ".join(f'cast("{c}" as varchar) as "{c}"' if t == "JSON" else f'"{c}"' for c, t in quoted)
        folder, staged = root / name, root / f".{name}.partial"
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        target = str(staged / "part-0.parquet").replace("'", "''")
        con.execute(f"copy (select {select} from \"{name}\") to '{target}' (format parquet)")
        shutil.rmtree(folder, ignore_errors=True)
        staged.rename(folder)
        written.append(name)
    return written


def import_tables(con: duckdb.DuckDBPyConnection, root: Path) -> list[str]:
    """Every root/<name>/ folder of Parquet files (an engine's export) becomes table <name> here, replaced
    whole in one transaction; returns the names."""
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir() and any(p.glob("*.parquet"))) if Path(root).is_dir() else []
    con.execute("begin")
    try:
        for folder in folders:
            kind = con.execute("select table_type from information_schema.tables where table_schema = 'main' "
                               "and table_name = ?", [folder.name]).fetchall()
            if kind and kind[0][0] == "VIEW":
                con.execute(f'drop view "{folder.name}"')
            con.execute(f'create or replace table "{folder.name}" as select * from '
                        f"read_parquet({_quoted_files(sorted(folder.glob('*.parquet')))})")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return [f.name for f in folders]


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[list[Any]], columns: list[str] | None = None) -> None:
    """rows (lists of Python or NumPy values, None for NULL) into table by position, in one statement:
    executemany runs one insert a row (a portfolio day's 4,761 correlations took ~0.9 s). Each column goes
    through Arrow, whose types the insert casts to the table's as the bound values were."""
    if not rows:
        return
    import pyarrow as pa

    frame = pa.table({f"c{i}": pa.array([row[i] for row in rows]) for i in range(len(rows[0]))})
    target = f"{table} ({', '.join(columns)})" if columns else table
    con.register("_insert_rows", frame)
    try:
        con.execute(f"insert into {target} select * from _insert_rows")
    finally:
        con.unregister("_insert_rows")
