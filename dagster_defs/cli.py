"""`blofin-stack`: demo, generate, ingest, import, fetch from BloFin and materialize from the command line.

Exit codes: 0 done, 1 failed (a run, a fetch, anything unforeseen), 2 bad input (arguments, dates,
files, an unwritable data directory, no warehouse yet), 3 busy (another writer holds the data
directory, or another process the warehouse file). Every failure is one line on stderr."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

from dagster_defs.cli_data import add_data_commands
from dagster_defs.cli_errors import EXIT_BAD_INPUT, fail_clearly
from python_assets.config import DEFAULT_SEED, DEFAULT_SYMBOLS, Paths, export_data_dir

T = TypeVar("T")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def cmd_generate(args: argparse.Namespace) -> int:
    from python_assets.lake_health import writable_data_dir
    from python_assets.market import generate_market

    paths = writable_data_dir()
    t0 = time.perf_counter()
    added = generate_market(paths, args.symbols, _days(args.start, args.end), args.seed)
    print(f"generated {added:,} new ticks into {paths.trades} in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from python_assets.ingest import IngestError, ingest_file
    from python_assets.lake import LakeWriteError
    from python_assets.lake_health import writable_data_dir
    from python_assets.logs import log_event

    paths = writable_data_dir()
    try:
        r = ingest_file(paths, args.file, args.symbol, progress=True)
    except (IngestError, ValueError, LakeWriteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log_event("ingested", file=str(args.file), **{k: v for k, v in vars(r).items() if k != "partitions"})
    print(
        f"{args.file}: {r.rows_read} rows read, {r.rows_added} added to {r.symbol}, "
        f"{r.duplicates} duplicates skipped, {r.quarantined} quarantined"
    )
    for reason, n in r.reasons.items():
        print(f"  quarantined {n:>6}  {reason}")
    if r.quarantine_file:
        print(f"  quarantine file: {r.quarantine_file}")
    return 0


def as_writer(paths: Paths, what: str, body: Callable[[], T]) -> T:
    """body() under the data directory's writer lock, waiting BLOFIN_LOCK_WAIT_SECONDS (default 0:
    refuse at once, exit 3, naming the holder); an unwritable data directory exits 2."""
    from python_assets.lake_health import ensure_writable
    from python_assets.runlock import lock_wait_seconds, writer_lock

    ensure_writable(paths)
    with writer_lock(paths, what, lock_wait_seconds(0.0), on_wait=lambda m: print(m, file=sys.stderr, flush=True)):
        return body()


def _run_window(first: date, last: date, verbose: bool = False) -> int:
    """Materialize first..last under the writer lock (a second writer is refused, exit 3)."""
    from dagster_defs.cli_errors import window_problem
    from python_assets.config import partition_days

    problem = window_problem(first, last, partition_days())
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    paths = export_data_dir()
    return as_writer(paths, f"blofin-stack materialize {first}..{last}", lambda: _locked_run(paths, first, last, verbose))


def _locked_run(paths: Paths, first: date, last: date, verbose: bool) -> int:
    import traceback

    from dagster_defs.cli_errors import failed_step_lines, stopped_run_lines
    from dagster_defs.runner import (CLI_RUN_TAG, materialize_days, output_to, peak_memory, persistent_instance,
                                     recover_dead_cli_runs)
    from python_assets.reports.daily_report import report_path

    run_log = paths.data_dir / "last_run.log"
    run_log.unlink(missing_ok=True)
    print(f"materializing {first}..{last} (Dagster and dbt output: {'below' if verbose else run_log}) ...", flush=True)
    t0 = time.perf_counter()
    instance, recovered, result, stopped = None, [], None, None
    with contextlib.nullcontext() if verbose else output_to(run_log):
        try:
            instance = persistent_instance(paths)
            recovered = recover_dead_cli_runs(instance)
            result = materialize_days(first, last, instance=instance, raise_on_error=False,
                                      extra_tags={CLI_RUN_TAG: "cli"})
        except Exception as exc:  # Dagster itself failed (e.g. its storage on a full disk): the run did not end
            traceback.print_exc()  # into the run log
            stopped = exc
    for run_id in recovered:
        print(f"run {run_id} was killed before it ended: marked failed, its pool slots freed", flush=True)
    elapsed = time.perf_counter() - t0
    where = f"after {elapsed:.1f} s; full log: {run_log}"
    if stopped is not None or not result.success:
        lines = (stopped_run_lines(instance, stopped, f"{first}..{last}", where) if stopped is not None else
                 failed_step_lines([e for e in result.all_events if e.is_step_failure],
                                   f"materialization of {first}..{last} failed {where}"))
        print("\n".join(lines), file=sys.stderr)
        return 1
    mem = peak_memory()
    print(f"materialized {first}..{last} in {elapsed:.1f} s")
    print(f"peak memory: {mem.max_mib:.0f} MiB (python {mem.self_mib:.0f} MiB, largest child {mem.children_mib:.0f} MiB)")
    print(f"report: {report_path(paths, last)}\nhtml:   {report_path(paths, last).with_suffix('.html')}")
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    return _run_window(args.date, args.end or args.date, args.verbose)


def cmd_demo(args: argparse.Namespace) -> int:
    from dagster_defs.runner import last_reported_day
    from python_assets.market import generate_market
    from python_assets.synthetic import last_complete_days

    paths = export_data_dir()
    days = last_complete_days(args.days)

    def demo() -> int:
        t0 = time.perf_counter()
        added = generate_market(paths, DEFAULT_SYMBOLS, days, args.seed)
        print(f"demo data: {len(days)} days {days[0]}..{days[-1]}, {added:,} new ticks in {time.perf_counter() - t0:.1f} s")
        done = last_reported_day(paths)
        first = days[-1] if done is None or done >= days[-1] else max(done + timedelta(days=1), days[0])
        return _run_window(first, days[-1], args.verbose)

    return as_writer(paths, "blofin-stack demo", demo)


def cmd_features(args: argparse.Namespace) -> int:
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
    import duckdb

    from python_assets.query import QueryRefused, first_line, run_query
    from python_assets.snapshot import readable_warehouse

    paths = export_data_dir()
    try:
        print(run_query(args.database or readable_warehouse(paths), args.sql, args.format))
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
    return 0


def _symbol_list(text: str) -> list[str]:
    """'A,B' -> ['A', 'B'] (so --symbols A B and --symbols A,B read the same)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_backtest(args: argparse.Namespace) -> int:
    from python_assets.backtest.artifacts import export_run, load_run
    from python_assets.backtest.engine import Costs
    from python_assets.backtest.files import OhlcvFileError
    from python_assets.backtest.report import format_run
    from python_assets.backtest.runner import WalkForward
    from python_assets.backtest.service import parse_param_args, run_backtest
    from python_assets.backtest.spec import SpecError
    from python_assets.warehouse import connect_warehouse

    paths = export_data_dir()
    costs = Costs(args.fees, args.maker_fee if args.maker_fee is not None else min(args.fees, 0.0002),
                  args.slippage_bps, args.equity)
    symbols = [s for group in args.symbols for s in group] if args.symbols else None

    def backtest() -> tuple[str, list[dict], object]:
        """Store the run and read it back, under the writer lock (a run may start right after)."""
        run_id, rows = run_backtest(paths, args.strategy, parse_param_args(args.param), costs, data=args.data,
                                    symbols=symbols, days=args.days, walk_forward=wf, symbol=args.symbol,
                                    periods_per_year=args.periods_per_year)
        if not rows:
            return run_id, rows, None
        with connect_warehouse(paths.warehouse, read_only=True) as con:
            return run_id, rows, load_run(con, run_id)

    try:
        wf = None
        if args.walk_forward:
            parts = args.walk_forward.split(":")
            try:
                wf = WalkForward(float(parts[0]), float(parts[1]), len(parts) > 2 and parts[2] == "anchored")
            except (ValueError, IndexError):
                raise SpecError(f"--walk-forward {args.walk_forward!r}: expected TRAIN:TEST[:anchored] in days, e.g. 14:4") from None
        run_id, rows, run = as_writer(paths, "blofin-stack backtest", backtest)
    except (SpecError, OhlcvFileError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print("error: no backtests: no bars of the strategy's timeframe in the window", file=sys.stderr)
        return 1
    for r in run.results:
        r["annualisation"] = rows[0]["annualisation"]
    print(format_run(run.results, run.trades, run.equity, args.trades))
    print(f"\nstored as run {run_id}: select * from strategy_backtest_results where run_id = '{run_id}'")
    html = args.html or paths.data_dir / "backtests" / f"{run_id}.html"
    if not args.no_html:
        from python_assets.backtest.chart import write_chart
        from python_assets.backtest.indicators import chart_indicators

        indicators, overlays = chart_indicators(paths, args.strategy, parse_param_args(args.param), run, args.data, args.symbol)
        print(f"chart:  {write_chart(run, indicators, tuple(overlays), html)}")
    if args.export:
        for path in export_run(run, args.export_dir or html.parent, args.export):
            print(f"export: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import duckdb

    from python_assets.query import first_line
    from python_assets.warehouse import require_warehouse

    paths = export_data_dir()
    require_warehouse(paths.warehouse)  # before the slow imports below
    from python_assets.reports.daily_report import ReportError, produce_daily_report

    run = {"partition": args.date.isoformat(), "rebuilt_by": "cli"}
    try:
        path = as_writer(paths, f"blofin-stack report {args.date}", lambda: produce_daily_report(paths, args.date, run=run))
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except duckdb.CatalogException as exc:  # a warehouse no run has completed yet
        print(f"error: the warehouse {paths.warehouse} has no report tables yet ({first_line(exc)}): run "
              f"`blofin-stack materialize --date {args.date}` first", file=sys.stderr)
        return 2
    print(f"report: {path}\nhtml:   {path.with_suffix('.html')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from python_assets.version import code_version

    parser = argparse.ArgumentParser(prog="blofin-stack", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {code_version()}",
                        help="print the package version (and git commit in a checkout) and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="generate the synthetic demo (last N days) and materialize the latest day")
    p.add_argument("--days", type=int, default=30, help="days of synthetic data ending yesterday (UTC; default 30)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed of the synthetic market (default {DEFAULT_SEED})")
    p.add_argument("--verbose", action="store_true", help="show Dagster and dbt output instead of logging it")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("generate", help="write synthetic ticks and funding for a date range into the lake")
    p.add_argument("--start", type=_date, required=True, help="first day (YYYY-MM-DD, UTC)")
    p.add_argument("--end", type=_date, required=True, help="last day, inclusive (YYYY-MM-DD, UTC)")
    p.add_argument("--symbols", type=lambda s: s.split(","), default=list(DEFAULT_SYMBOLS),
                   help=f"comma-separated symbols (default {','.join(DEFAULT_SYMBOLS)})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("ingest", help="ingest a trades file (CSV, Parquet, JSON Lines) into the lake")
    p.add_argument("file", help="the trades file to ingest")
    p.add_argument("--symbol", required=True, help="symbol the trades belong to (e.g. BTC-USDT)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("backfill", help="materialize every day from --start to --end in one run (idempotent)")
    p.add_argument("--start", type=_date, required=True, help="first day (YYYY-MM-DD, UTC)")
    p.add_argument("--end", type=_date, required=True, help="last day, inclusive (YYYY-MM-DD, UTC)")
    p.add_argument("--verbose", action="store_true", help="show Dagster and dbt output instead of logging it")
    p.set_defaults(func=lambda a: _run_window(a.start, a.end, a.verbose))

    p = sub.add_parser("features", help="list the feature registry (name, group, warm-up, TA-Lib reference)")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("query", help="one read-only SELECT on the warehouse (no file access, nothing written)")
    p.add_argument("sql", help="one SELECT (or FROM, WITH ... SELECT, DESCRIBE, SHOW, SUMMARIZE)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format (default table)")
    p.add_argument("--database", type=Path, help="DuckDB file (default: the snapshot of the last run, else the warehouse)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("backtest", help="backtest a strategy on an OHLCV file or the warehouse; prints a summary, "
                       "exit reasons and trades, writes an HTML chart, stores the run")
    p.add_argument("--strategy", required=True, help="shipped strategy name (e.g. sma_cross) or a path to a YAML spec")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--data", type=Path, help="CSV/Parquet with a time column and Open/High/Low/Close/Volume")
    p.add_argument("--symbol", help="symbol name for --data (default: the file name)")
    p.add_argument("--symbols", nargs="+", type=_symbol_list, metavar="SYMBOL",
                   help="symbols to test, space- or comma-separated (default: all with bars)")
    p.add_argument("--days", type=int, help="warehouse runs: trailing days (default: all bars)")
    p.add_argument("--fees", type=float, default=0.0006, help="taker fee per side (default BloFin 0.0006)")
    p.add_argument("--maker-fee", type=float, help="maker fee per side for take-profit fills (default min(fees, 0.0002))")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="slippage per fill in basis points (default 0)")
    p.add_argument("--equity", type=float, default=10_000.0, help="initial equity (quote currency)")
    p.add_argument("--walk-forward", metavar="TRAIN:TEST[:anchored]", help="walk-forward folds in days, e.g. 14:4")
    p.add_argument("--periods-per-year", type=float, metavar="N",
                   help="bars per year annualising Sharpe/Sortino (default: measured from a --data file's calendar; "
                        "365 days of bars for the 24/7 warehouse)")
    p.add_argument("--trades", type=int, default=20, metavar="N",
                   help="list the first N trades of the full window (default 20; 0 hides the list)")
    p.add_argument("--html", type=Path, metavar="PATH",
                   help="write the interactive chart here (default: <data dir>/backtests/<run_id>.html)")
    p.add_argument("--no-html", action="store_true", help="do not write the chart")
    p.add_argument("--export", choices=["csv", "parquet", "json"],
                   help="also write the run's trades and equity as <run_id>_trades/_equity files")
    p.add_argument("--export-dir", type=Path, metavar="DIR", help="folder for --export files (default: beside the chart)")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("report", help="rebuild one day's report (JSON + HTML + daily_reports row) from the warehouse")
    p.add_argument("--date", type=_date, required=True, help="the report's day (YYYY-MM-DD, UTC)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("materialize", help="run the whole asset graph for a day (or --end for a range)")
    p.add_argument("--date", type=_date, required=True, help="the day to materialize (YYYY-MM-DD, UTC)")
    p.add_argument("--end", type=_date, help="last day of a range starting at --date, inclusive")
    p.add_argument("--verbose", action="store_true", help="show Dagster and dbt output instead of logging it")
    p.set_defaults(func=cmd_materialize)
    add_data_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and a non-zero exit (see fail_clearly)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        return fail_clearly(exc)


def entry() -> None:
    """The `blofin-stack` command: main(), then exit without the interpreter's teardown, which spends
    ~1.5 s finalising torch, numba and Dagster modules after a run. Every file and connection is
    closed by then (context managers); the streams and log handlers are flushed here."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
