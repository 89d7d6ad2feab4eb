"""Read-only SQL on the warehouse: `blofin-stack query`.

Two walls, both DuckDB's own rather than pattern matching on the text. DuckDB's parser must find
exactly one statement of type SELECT (which covers FROM-first queries, WITH ... SELECT, VALUES,
TABLE, DESCRIBE, SHOW and SUMMARIZE); a WITH that ends in INSERT or DELETE parses as that write.
The statement then runs on a read-only connection with external access disabled and the
configuration locked, so COPY, ATTACH, INSTALL/LOAD, SET, EXPORT and every file reader
(read_text, read_csv, glob, parquet_scan, ...) fail inside DuckDB whatever the text looks like.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import duckdb

# Applied when the database opens. enable_external_access=false blocks every file system
# operation other than the database file itself: readers, writers, ATTACH, extension loading,
# secrets storage and the network. The rest make sure nothing is fetched or scanned by name, and
# that nothing is written at all: without a temp directory a query larger than memory fails with
# DuckDB's out-of-memory error instead of spilling to `<snapshot>.tmp` beside the snapshot.
READ_ONLY_CONFIG: dict[str, bool | str] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,  # no scans of the caller's Python variables by name
    "temp_directory": "",
}


class QueryRefused(ValueError):
    """The text is not exactly one read statement, or there is no warehouse to read."""


def check_read_only(sql: str) -> duckdb.Statement:
    """The single SELECT statement DuckDB's parser finds in `sql`, or QueryRefused saying why not."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(first_line(exc)) from None
    if not statements:
        raise QueryRefused("empty query")
    if len(statements) > 1:
        raise QueryRefused(f"one statement at a time ({len(statements)} found)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryRefused(f"the warehouse is read-only here: {kind.name} statements are not allowed "
                           "(use SELECT, FROM, WITH ... SELECT, DESCRIBE, SHOW or SUMMARIZE)")
    return statements[0]


def first_line(exc: BaseException) -> str:
    """DuckDB's message without its LINE/caret context and hints: one line for the terminal."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def open_read_only(database: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection in UTC that cannot reach files, the network, extensions or its settings."""
    con = duckdb.connect(str(database), read_only=True, config=READ_ONLY_CONFIG)
    try:
        # TimeZone needs ICU, which loads after the config is applied, so it is set here, then
        # the configuration is locked before any user SQL runs (no SET/RESET/PRAGMA can undo it).
        con.execute("set TimeZone = 'UTC'")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def run_query(warehouse: Path, sql: str, fmt: str = "table") -> str:
    """Run one SELECT on a locked read-only connection and render it as table, csv or json."""
    statement = check_read_only(sql)
    if not warehouse.exists():
        raise QueryRefused(f"no warehouse at {warehouse}: run `make run` first")
    with open_read_only(warehouse) as con:
        cur = con.execute(statement.query)
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    return render(names, rows, fmt)


def json_value(v: object) -> object:
    """A JSON-native value: DECIMAL as a number (int when whole), dates as ISO text, NaN/inf as null, lists and structs nested."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    return str(v)


def cell(v: object) -> str:
    """A value for the text table: floats to 6 decimals (trailing zeros dropped), tiny or huge ones to
    6 significant digits; NULL as an empty cell."""
    if v is None:
        return ""
    if isinstance(v, float):
        if not math.isfinite(v) or v == 0:
            return str(v) if v != 0 else "0"
        if 1e-3 <= abs(v) < 1e15:
            return f"{v:.6f}".rstrip("0").rstrip(".")
        return f"{v:.6g}"
    return str(v)


def render(names: list[str], rows: list[tuple], fmt: str = "table") -> str:
    """Rows as an aligned text table with a row count, as CSV, or as a JSON list of objects."""
    if fmt == "json":
        return json.dumps([{n: json_value(v) for n, v in zip(names, r)} for r in rows], indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(names)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    numeric = [bool(rows) and all(isinstance(r[i], (int, float, Decimal)) and not isinstance(r[i], bool) or r[i] is None
                                  for r in rows) for i in range(len(names))]
    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    line = lambda vals: "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric))  # noqa: E731
    return "\n".join([line(names), line(["-" * w for w in widths])] + [line(r) for r in cells] + [f"({len(rows)} rows)"])
