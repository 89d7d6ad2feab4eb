"""`blofin-stack` read-only commands: query (one SELECT on the warehouse) and features (the registry)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blofin_cli.common import positive_int
from python_assets.config import export_data_dir


def cmd_features(args: argparse.Namespace) -> int:
    """features: the feature registry from the dbt manifest, as a table or JSON."""
    import json

    from python_assets.config import DBT_PROJECT_DIR
    from python_assets.features.registry import load_registry

    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not manifest.exists():
        print(f"error: {manifest} is missing: run `make manifest` (dbt parse) first", file=sys.stderr)
        return 2
    features = load_registry(manifest)
    if args.format == "json":
        print(json.dumps([f.as_dict() for f in features], indent=2))
        return 0
    print(f"{'feature':<24} {'group':<11} {'warmup':>6}  {'TA-Lib':<16} description")
    for f in features:
        print(f"{f.name:<24} {f.group:<11} {f.warmup_bars:>6}  {f.talib or '-':<16} {f.description}")
    print(f"{len(features)} features ({sum(f.model != 'feat_recursive' for f in features)} plain SQL)")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """query: one read-only statement on the last snapshot (else the warehouse), streamed in --format.
    Writes no file, not even last_error.log: a failure is one line here."""
    import duckdb

    from blofin_cli.errors import describe
    from python_assets.warehouse.query import QueryRefused, first_line, write_query
    from python_assets.warehouse.snapshot import readable_warehouse

    try:
        database = args.database or readable_warehouse(export_data_dir())
        written = write_query(database, args.sql, args.format, sys.stdout, args.limit)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
    except BrokenPipeError:
        raise  # the reader closed the pipe: main() stops quietly with 141, as for every command
    except QueryRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        if "could not set lock on file" in str(exc).lower():  # no snapshot yet, the first run still writes the live file
            print(f"error: the warehouse is being written by a run and no snapshot has been published yet; "
                  f"query again when the run ends (DuckDB: {first_line(exc)})", file=sys.stderr)
            return 1
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, and no traceback file: query writes nothing
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 1
    if written.cut and args.format != "table":  # the table says so in its last line
        print(f"note: the first {written.rows} rows; more not shown (--limit {args.limit})", file=sys.stderr)
    return 0


def add_features(sub: argparse._SubParsersAction) -> None:
    """Register `features`."""
    p = sub.add_parser("features", help="list the feature registry (name, group, warm-up, TA-Lib reference)")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    p.set_defaults(func=cmd_features)


def add_query(sub: argparse._SubParsersAction) -> None:
    """Register `query`."""
    p = sub.add_parser("query", help="one read-only SELECT on the warehouse (no file access, nothing written)")
    p.add_argument("sql", help="one SELECT (or FROM, WITH ... SELECT, DESCRIBE, SHOW, SUMMARIZE)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format (default table)")
    p.add_argument("--database", type=Path, help="DuckDB file (default: the snapshot of the last run, else the warehouse)")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="print at most N rows (default: every row for csv and json, which stream in batches; "
                        "10000 for the table, which is aligned over its rows); a cut is said")
    p.set_defaults(func=cmd_query)
