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
import threading
from json.encoder import encode_basestring_ascii  # json.dumps's own (C) string encoder
from datetime import date, datetime, time
from decimal import Decimal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TextIO, TypeVar

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


BATCH_ROWS = 10_000  # rows fetched at a time for csv and json
TABLE_ROWS = 10_000  # the text table's default --limit
TABLE_CHUNK_CHARS = 1 << 16  # the text table is written and flushed this much at a time
INTERRUPT_WAIT_S = 5.0  # how long Ctrl-C waits for DuckDB to stop the query before giving up on it

T = TypeVar("T")


class QueryOutput(NamedTuple):
    """What write_query wrote: rows, and whether the limit left rows out."""

    rows: int
    cut: bool


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
    """Run one SELECT on a locked read-only connection and render it as table, csv or json (in memory:
    the CLI streams with write_query)."""
    out = io.StringIO()
    write_query(warehouse, sql, fmt, out)
    return out.getvalue().rstrip("\n")


def open_database(database: Path) -> duckdb.DuckDBPyConnection:
    """open_read_only, or QueryRefused naming the path when it is no DuckDB file (a folder, another file)."""
    if not database.exists():
        from python_assets.warehouse.connection import missing_warehouse  # it imports this module

        raise QueryRefused(missing_warehouse(database))
    if not database.is_file():
        raise QueryRefused(f"{database} is not a DuckDB database file (a folder or a device)")
    try:
        return open_read_only(database)
    except duckdb.IOException as exc:
        if "not a valid duckdb database" in str(exc).lower():
            raise QueryRefused(f"{database} is not a DuckDB database file") from None
        raise


def interruptible(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """work() (a DuckDB call on `con`) in a worker thread, so that Ctrl-C reaches the main thread at once
    and interrupts the query (con.interrupt()) before KeyboardInterrupt goes on. Run in the main thread,
    DuckDB looks at signals only between its tasks: a large join ignored Ctrl-C for minutes."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="duckdb-query", daemon=True).start()
    try:
        done.wait()  # not Thread.join: on 3.11 a join that Ctrl-C interrupts marks the thread stopped
    except KeyboardInterrupt:
        con.interrupt()
        done.wait(INTERRUPT_WAIT_S)  # closing the connection while the query runs fails
        raise
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def batches(cur: duckdb.DuckDBPyConnection, limit: int | None) -> Iterator[list[tuple]]:
    """The result's rows BATCH_ROWS at a time, at most `limit` in all (None: every row)."""
    left = math.inf if limit is None else limit
    while left > 0:
        size = int(min(BATCH_ROWS, left))
        rows = interruptible(cur, lambda: cur.fetchmany(size))
        if not rows:
            return
        left -= len(rows)
        yield rows


def write_query(warehouse: Path, sql: str, fmt: str, out: TextIO, limit: int | None = None) -> QueryOutput:
    """Run one SELECT on a locked read-only connection and write it to `out`: csv or json batch by batch
    (memory stays flat however many rows), or a text table of at most `limit` rows (TABLE_ROWS by
    default: it is aligned over all its rows, so they are held). `limit` caps every format."""
    statement = check_read_only(sql)
    limit = TABLE_ROWS if fmt == "table" and limit is None else limit
    with open_database(warehouse) as con:
        cur = interruptible(con, lambda: con.execute(statement.query))
        names = [d[0] for d in cur.description]
        if fmt == "table":
            held = [r for batch in batches(cur, limit + 1) for r in batch]  # one more: was anything cut?
            write_chunks(out, render_table(names, held[:limit], cut=len(held) > limit) + "\n")
            return QueryOutput(min(len(held), limit), len(held) > limit)
        rows = 0
        if fmt == "csv":
            csv.writer(out).writerow(names)
        for batch in batches(cur, limit):
            write_rows(names, batch, fmt, out, first=rows == 0)
            rows += len(batch)
        if fmt == "json":
            out.write("\n]\n" if rows else "[]\n")
        return QueryOutput(rows, limit is not None and rows == limit and interruptible(cur, cur.fetchone) is not None)


def write_chunks(out: TextIO, text: str) -> None:
    """`text` written and flushed TABLE_CHUNK_CHARS at a time: one big write to a pipe its reader has closed
    can end without an error, so `query | head` would exit 0; a chunk's flush raises BrokenPipeError."""
    for start in range(0, len(text), TABLE_CHUNK_CHARS):
        out.write(text[start:start + TABLE_CHUNK_CHARS])
        out.flush()


def write_rows(names: list[str], rows: list[tuple], fmt: str, out: TextIO, first: bool) -> None:
    """One batch as CSV lines, or as JSON objects continuing the list in json.dumps(indent=2)'s layout."""
    if fmt == "csv":
        csv.writer(out).writerows(rows)
        return
    if len(set(names)) == len(names) > 0:  # the common case, ~5x faster: each value through the C encoders
        keys = [f"\n    {encode_basestring_ascii(n)}: " for n in names]
        objects = ["{" + ",".join(k + json_text(json_value(v)) for k, v in zip(keys, r)) + "\n  }" for r in rows]
    else:  # repeated column names: json.dumps's dict keeps one key per name
        objects = [json.dumps({n: json_value(v) for n, v in zip(names, r)}, indent=2).replace("\n", "\n  ")
                   for r in rows]
    out.write(("[\n  " if first else ",\n  ") + ",\n  ".join(objects))


def json_text(v: object) -> str:
    """json.dumps(v, indent=2) of a json_value as it reads inside a row's object of the list."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if type(v) is int:
        return int.__repr__(v)
    if type(v) is float:
        return float.__repr__(v)  # json_value left only finite floats
    if type(v) is str:
        return encode_basestring_ascii(v)
    return json.dumps(v, indent=2).replace("\n", "\n    ")


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


def render_table(names: list[str], rows: list[tuple], cut: bool = False) -> str:
    """Rows as an aligned text table with a row count (saying when `cut` left rows out); csv and json are
    written batch by batch (write_rows)."""
    numeric = [bool(rows) and all(isinstance(r[i], (int, float, Decimal)) and not isinstance(r[i], bool) or r[i] is None
                                  for r in rows) for i in range(len(names))]
    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    line = lambda vals: "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric))  # noqa: E731
    count = (f"(the first {len(rows)} rows; more not shown: raise --limit, or use --format csv or json)" if cut
             else f"({len(rows)} rows)")
    return "\n".join([line(names), line(["-" * w for w in widths])] + [line(r) for r in cells] + [count])
