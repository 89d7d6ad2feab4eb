"""`blofin-stack report`: a day's report rebuilt from the warehouse, under the data directory's writer lock."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blofin_cli.common import as_writer, parse_date
from blofin_cli.errors import window_problem
from python_assets.config import export_data_dir, partition_days


def cmd_report(args: argparse.Namespace) -> int:
    """report: rebuild the report of a day a run computed from the warehouse, under the writer lock."""
    import duckdb

    from python_assets.warehouse.query import first_line
    from python_assets.warehouse.connection import require_warehouse

    paths = export_data_dir()
    require_warehouse(paths.warehouse)  # before the slow imports below
    unrunnable = window_problem(args.date, args.date, partition_days())  # a materialize of it would be refused
    from python_assets.reports.daily_report import ReportError, produce_daily_report, rebuild_run_facts, require_computed
    from python_assets.warehouse.snapshot import refresh_snapshot

    try:
        def rebuild() -> Path:
            """The report (keeping the run facts and failed checks its stored version had: a rebuild from the
            warehouse cannot know them), then the snapshot readers query (its daily_reports row) refreshed."""
            require_computed(paths, args.date, unrunnable)
            run, failed = rebuild_run_facts(paths, args.date, "cli")
            written = produce_daily_report(paths, args.date, run=run, failed_checks=failed)
            refresh_snapshot(paths)
            return written

        path = as_writer(paths, f"blofin-stack report {args.date}", rebuild)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except duckdb.CatalogException as exc:  # a warehouse no run has completed yet
        todo = f"no run can compute it: {unrunnable}" if unrunnable else \
            f"run `blofin-stack materialize --date {args.date}` first"
        print(f"error: the warehouse {paths.warehouse} has no report tables yet ({first_line(exc)}): {todo}", file=sys.stderr)
        return 2
    print(f"report: {path}\nhtml:   {path.with_suffix('.html')}")
    return 0


def add_report(sub: argparse._SubParsersAction) -> None:
    """Register `report`."""
    p = sub.add_parser("report", help="rebuild one day's report (JSON + HTML + daily_reports row) from the warehouse")
    p.add_argument("--date", type=parse_date, required=True, help="the report's day (YYYY-MM-DD, UTC)")
    p.set_defaults(func=cmd_report)
