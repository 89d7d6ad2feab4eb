"""Read-only SQL on the warehouse: `blofin-stack query`. Writes are refused before DuckDB sees them."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb

WRITE_KEYWORDS = (
    "insert", "update", "delete", "create", "drop", "alter", "attach", "detach", "copy", "export", "import",
    "install", "load", "pragma", "set", "checkpoint", "vacuum", "truncate", "merge", "replace", "call",
)


class QueryRefused(ValueError):
    """The statement would write, or is not a single read statement."""


def _strip_comments_and_strings(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def check_read_only(sql: str) -> None:
    """Accept one SELECT / WITH / DESCRIBE / SHOW / EXPLAIN statement that names no write keyword."""
    bare = _strip_comments_and_strings(sql).strip().rstrip(";").strip()
    if not bare:
        raise QueryRefused("empty query")
    if ";" in bare:
        raise QueryRefused("one statement at a time")
    words = set(re.findall(r"[a-z_]+", bare.lower()))
    bad = sorted(words & set(WRITE_KEYWORDS))
    first = bare.split(None, 1)[0].lower()
    if first not in ("select", "with", "describe", "show", "explain", "from", "summarize", "values", "table") or bad:
        what = ", ".join(w.upper() for w in bad) or first.upper()
        raise QueryRefused(f"the warehouse is read-only here: {what} is not allowed (use SELECT)")


def run_query(warehouse: Path, sql: str, fmt: str = "table") -> str:
    """Run a read statement on a read-only connection and render it as table, csv or json."""
    check_read_only(sql)
    if not warehouse.exists():
        raise QueryRefused(f"no warehouse at {warehouse}: run `make run` first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    if fmt == "json":
        return json.dumps([dict(zip(names, r)) for r in rows], default=str, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(names)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    cells = [[str(v) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(names), line(["-" * w for w in widths])] + [line(r) for r in cells] + [f"({len(rows)} rows)"])
