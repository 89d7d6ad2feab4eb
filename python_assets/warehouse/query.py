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
from decimal import Decimal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TextIO, TypeVar

import duckdb

from python_assets.warehouse.query_values import (TIME_TYPES, as_text_in_duckdb, cell, csv_rows, is_nested, json_text,
                                                  json_value, visible)

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


class Shaped(NamedTuple):
    """The SQL write_query runs for a statement, its column names, and the JSON keys (unique)."""

    sql: str
    names: list[str]
    keys: list[str]
    infinite: tuple[int, ...]  # the TIMESTAMP and DATE columns, whose infinity flag follows the columns in each row
    nested: tuple[int, ...] = ()  # for JSON: the nested columns, which DuckDB wrote as JSON text (to_json)

    def rows(self, rows: list[tuple]) -> list[tuple]:
        """The columns of each row, an infinite timestamp or date as 'infinity' / '-infinity', a nested value
        DuckDB wrote as JSON read back (its decimals exact)."""
        if self.nested:
            rows = [tuple(json.loads(v, parse_float=Decimal) if i in self.nested and v is not None else v
                          for i, v in enumerate(r)) for r in rows]
        if not self.infinite:
            return rows
        n, out = len(self.names), []
        for r in rows:
            flags = r[n:]
            if any(f is not None for f in flags):
                values = list(r[:n])
                for i, f in zip(self.infinite, flags):
                    if f is not None:
                        values[i] = f
                out.append(tuple(values))
            else:
                out.append(r[:n])
        return out


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


def unterminated(sql: str) -> str:
    """sql without its closing semicolons (and what follows them: comments only): shape() wraps the query in a
    subquery, where `select 1;` is a syntax error (DuckDB's Statement.query keeps the terminator). The
    tokenizer's positions are UTF-8 byte offsets, so the cut is made in bytes."""
    text = sql.encode()
    tokens = [(pos, kind) for pos, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    while tokens and tokens[-1][1] == duckdb.token_type.operator and text[tokens[-1][0]:tokens[-1][0] + 1] == b";":
        text = text[:tokens.pop()[0]]
    return text.decode()


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


def shape(con: duckdb.DuckDBPyConnection, query: str, fmt: str) -> Shaped:
    """How `query` runs for `fmt`: bound (not run) to learn its columns, then wrapped so DuckDB writes the values
    Python would misrender (query_values.as_text_in_duckdb) and flags the infinite timestamps and dates. A name
    that repeats gets DuckDB's own name for it in a subquery as its JSON key (a, a_1): a JSON object keeps one
    value per key, and the second `a` was lost."""
    rel = con.sql(query)
    names, types = list(rel.columns), [str(t) for t in rel.types]
    inner = f"({query}\n)"  # the newline ends a trailing -- comment
    keys = names if len(set(names)) == len(names) else list(con.sql(f"select * from {inner}").columns)
    infinite = tuple(i for i, t in enumerate(types) if t in TIME_TYPES)
    text = [as_text_in_duckdb(t, fmt) for t in types]
    # JSON: nested values as DuckDB's to_json writes them (an infinite timestamp or an interval inside a list
    # read as Python's 9999-12-31 or '360 days, 0:00:00')
    nested = tuple(i for i, t in enumerate(types) if fmt == "json" and is_nested(t))
    if not infinite and not any(text) and not nested:
        return Shaped(query, names, keys, ())
    columns = [f"cast(to_json(#{i + 1}) as varchar)" if i in nested else f"cast(#{i + 1} as varchar)" if t
               else f"#{i + 1}" for i, t in enumerate(text)]
    flags = [f"case when not isfinite(#{i + 1}) then cast(#{i + 1} as varchar) end" for i in infinite]
    return Shaped(f"select {', '.join(columns + flags)} from {inner}", names, keys, infinite, nested)


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
        shaped = interruptible(con, lambda: shape(con, unterminated(statement.query), fmt))
        cur = interruptible(con, lambda: con.execute(shaped.sql))
        if fmt == "table":
            held = [r for batch in batches(cur, limit + 1) for r in batch]  # one more: was anything cut?
            write_chunks(out, render_table(shaped.names, shaped.rows(held[:limit]), cut=len(held) > limit) + "\n")
            return QueryOutput(min(len(held), limit), len(held) > limit)
        rows = 0
        if fmt == "csv":
            csv.writer(out).writerow(shaped.names)
        for batch in batches(cur, limit):
            write_rows(shaped.keys, shaped.rows(batch), fmt, out, first=rows == 0)
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
    """One batch as CSV lines, or as JSON objects continuing the list in json.dumps(indent=2)'s layout (names:
    the JSON keys, unique)."""
    if fmt == "csv":
        write_chunks(out, csv_rows(rows))  # flushed chunk by chunk: a reader gone shows as BrokenPipeError
        return
    keys = [f"\n    {encode_basestring_ascii(n)}: " for n in names]
    objects = ["{" + ",".join(k + json_text(json_value(v)) for k, v in zip(keys, r)) + "\n  }" if r else "{}"
               for r in rows]
    out.write(("[\n  " if first else ",\n  ") + ",\n  ".join(objects))


def render_table(names: list[str], rows: list[tuple], cut: bool = False) -> str:
    """Rows as an aligned text table with a row count (saying when `cut` left rows out); csv and json are
    written batch by batch (write_rows)."""
    numeric = [bool(rows) and all(isinstance(r[i], (int, float, Decimal)) and not isinstance(r[i], bool) or r[i] is None
                                  for r in rows) for i in range(len(names))]
    names = [visible(n) for n in names]
    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    line = lambda vals: "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric))  # noqa: E731
    count = (f"(the first {len(rows)} rows; more not shown: raise --limit, or use --format csv or json)" if cut
             else f"({len(rows)} rows)")
    return "\n".join([line(names), line(["-" * w for w in widths])] + [line(r) for r in cells] + [count])
