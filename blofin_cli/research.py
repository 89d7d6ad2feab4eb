"""`blofin-stack` research commands: backtest (a strategy on an OHLCV file or the warehouse; the run is
stored, charted and optionally exported)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blofin_cli import alerting
from blofin_cli.common import (as_writer, day_count, fee_rate, lake_symbol, lake_symbols, non_negative,
                               non_negative_int, output_problem, positive)
from blofin_cli.errors import EXIT_INTERRUPTED
from python_assets.backtest.defaults import MAKER_FEE, SLIPPAGE_BPS, TAKER_FEE
from python_assets.config import Paths, export_data_dir

if TYPE_CHECKING:
    from python_assets.backtest.engine import Costs
    from python_assets.backtest.runner import WalkForward

MAX_FOLD_DAYS = 3650  # a walk-forward fold's TRAIN or TEST: ten years of days


class MetricsFailed(RuntimeError):
    """The ledger models of the results dbt asset failed for a stored run: its message is the failed steps, one line each."""


class MetricsInterrupted(MetricsFailed):
    """The metrics run was interrupted (Ctrl-C, or a timeout's SIGTERM): its message is the one line saying so."""


def run_backtest(paths: Paths, strategy: str, params: dict[str, Any], costs: Costs, **options: Any) -> tuple[str, list[dict]]:
    """Store a backtest in the ledger, compute its metrics through the ledger models of the results dbt asset (Dagster, so
    strategy_backtest_results has one writer; its output goes to <data>/last_backtest.log) and read them back:
    (run_id, rows)."""
    from blofin_cli.errors import failed_step_lines, interrupted
    from dagster_defs.runner import materialize_new_backtests, output_to, persistent_instance
    from python_assets.backtest.service import read_results, store_backtest

    stored = store_backtest(paths, strategy, params, costs, **options)
    for note in stored.notes:  # e.g. a --data file's last candle, still forming when it was written
        print(f"note: {note}", flush=True)
    log = paths.data_dir / "last_backtest.log"
    with output_to(log):
        result = materialize_new_backtests(persistent_instance(paths))
    if not result.success:  # a CLI-tagged run, which run_failure_sensor leaves to the CLI: alert for it here
        failures = [e for e in result.all_events if e.is_step_failure]
        if interrupted(failures):  # as a materialize's: one line, exit 130, alerted unless a person pressed Ctrl-C
            run = (result.dagster_run.run_id, alerting.tags_partition(dict(result.dagster_run.tags)),
                   result.dagster_run.job_name)
            raise MetricsInterrupted("\n".join(alerting.interruption_lines(
                paths, failures, f"metrics of run {stored.run_id}", f"full log: {log}", run,
                "the next backtest or materialize computes them")))
        ending = f"metrics of run {stored.run_id} failed; full log: {log}"
        note = alerting.send(paths, alerting.run_alert(result.dagster_run, ending, failures))
        raise MetricsFailed("\n".join([*failed_step_lines(failures, ending), *([note] if note else [])]))
    return stored.run_id, read_results(paths, stored)


def parse_walk_forward(text: str) -> WalkForward:
    """'14:4' or '14:4:anchored' -> WalkForward; SpecError unless TRAIN and TEST are finite days > 0."""
    from python_assets.backtest.runner import WalkForward
    from python_assets.backtest.spec import SpecError

    parts = text.split(":")
    try:
        train, test = float(parts[0]), float(parts[1])
        if len(parts) > 3 or (len(parts) == 3 and parts[2] != "anchored"):
            raise ValueError
    except (ValueError, IndexError):
        train = test = math.nan
    if not (0 < train <= MAX_FOLD_DAYS and 0 < test <= MAX_FOLD_DAYS):
        raise SpecError(f"--walk-forward {text!r}: expected TRAIN:TEST[:anchored] in days (each > 0 and at most "
                        f"{MAX_FOLD_DAYS}), e.g. 14:4")
    return WalkForward(train, test, len(parts) == 3)


def cmd_backtest(args: argparse.Namespace) -> int:
    """backtest: run, store and read back under the writer lock; print the summary, chart and export it."""
    from python_assets.backtest.artifacts import export_run, load_run
    from python_assets.backtest.engine import Costs
    from python_assets.backtest.files import OhlcvFileError
    from python_assets.backtest.report import format_run
    from python_assets.backtest.service import parse_param_args
    from python_assets.backtest.spec import SpecError
    from python_assets.lake.sources import user_symbol
    from python_assets.lake.store import now_ms
    from python_assets.warehouse.connection import connect_warehouse
    from python_assets.warehouse.snapshot import refresh_snapshot

    paths = export_data_dir()
    costs = Costs(args.fees, args.maker_fee if args.maker_fee is not None else min(args.fees, MAKER_FEE),
                  args.slippage_bps, args.equity)
    symbols = list(dict.fromkeys(user_symbol(paths, s) for group in args.symbols for s in group)) if args.symbols else None
    now = now_ms()  # a --data file's bars that close after this are still forming: left out

    def backtest() -> tuple[str, list[dict], object]:
        """Store the run and read it back, under the writer lock (a run may start right after)."""
        run_id, rows = run_backtest(paths, args.strategy, parse_param_args(args.param), costs, data=args.data,
                                    symbols=symbols, days=args.days, walk_forward=wf, symbol=args.symbol,
                                    periods_per_year=args.periods_per_year, now=now)
        if not rows:
            return run_id, rows, None
        with connect_warehouse(paths.warehouse, read_only=True) as con:
            run = load_run(con, run_id)
        refresh_snapshot(paths)  # the query printed below answers at once through `blofin-stack query`
        return run_id, rows, run

    try:
        wf = parse_walk_forward(args.walk_forward) if args.walk_forward else None
        chart = None if args.no_html else args.html
        exports = (args.export_dir or (args.html and args.html.parent)) if args.export else None
        for path, folder in ((chart, False), (exports, True)):
            problem = path is not None and output_problem(path, folder)
            if problem:
                raise SpecError(problem)
        run_id, rows, run = as_writer(paths, "blofin-stack backtest", backtest)
    except (SpecError, OhlcvFileError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MetricsFailed as exc:
        print(exc, file=sys.stderr)
        return EXIT_INTERRUPTED if isinstance(exc, MetricsInterrupted) else 1
    if not rows:
        print("error: no backtests: no bars of the strategy's timeframe in the window", file=sys.stderr)
        return 1
    # per backtest: a warehouse run measures each symbol's (and window's) bars on their own
    how = {(r["symbol"], r["window_id"], r["window_kind"]): r["annualisation"] for r in rows}
    for r in run.results:
        r["annualisation"] = how.get((r["symbol"], r["window_id"], r["window_kind"]))
    print(format_run(run.results, run.trades, run.equity, args.trades))
    if args.data:  # a perpetual's file shows Funding 0.00: say why, and how to have it charged
        print("\nnote: a --data file carries no funding, so none is charged; to charge it, import the pair's funding\n"
              "      into the lake (blofin-stack import) and backtest the warehouse")
    print(f"\nstored as run {run_id}: select * from strategy_backtest_results where run_id = '{run_id}'")
    html = args.html or paths.data_dir / "backtests" / f"{run_id}.html"
    if not args.no_html:
        from python_assets.backtest.chart import write_chart
        from python_assets.backtest.indicators import chart_indicators

        indicators, overlays = chart_indicators(paths, args.strategy, parse_param_args(args.param), run, args.data,
                                               args.symbol, now)
        print(f"chart:  {write_chart(run, indicators, tuple(overlays), html)}")
    if args.export:
        for path in export_run(run, args.export_dir or html.parent, args.export):
            print(f"export: {path}")
    return 0


def add_backtest(sub: argparse._SubParsersAction) -> None:
    """Register `backtest`."""
    p = sub.add_parser("backtest", help="backtest a strategy on an OHLCV file or the warehouse; prints a summary, "
                       "exit reasons and trades, writes an HTML chart, stores the run")
    p.add_argument("--strategy", required=True, help="shipped strategy name (e.g. sma_cross) or a path to a YAML spec")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--data", type=Path, help="OHLCV file: CSV, Parquet, Feather or freqtrade JSON with a time column "
                                             "(or an unnamed first column of dates) and open/high/low/close/volume")
    p.add_argument("--symbol", type=lake_symbol,
                   help="symbol name for --data, any spelling as for --symbols (default: the pair of a freqtrade file "
                        "name, XRP_USDT_USDT-5m-futures.feather -> XRP-USDT, else the file name)")
    p.add_argument("--symbols", nargs="+", type=lake_symbols, metavar="SYMBOL",
                   help="symbols to test, space- or comma-separated, any spelling as for generate and record "
                        "(btc-usdt is BTC-USDT; default: all with bars)")
    p.add_argument("--days", type=day_count, help="warehouse runs: trailing days, 1..3650 (default: all bars)")
    p.add_argument("--fees", type=fee_rate, default=TAKER_FEE, help=f"taker fee per side (default BloFin {TAKER_FEE})")
    p.add_argument("--maker-fee", type=fee_rate,
                   help=f"maker fee per side for take-profit fills (default min(fees, {MAKER_FEE}))")
    p.add_argument("--slippage-bps", type=non_negative, default=SLIPPAGE_BPS,
                   help=f"slippage per market fill in basis points (default {SLIPPAGE_BPS:g}, as the daily run)")
    p.add_argument("--equity", type=positive, default=10_000.0, help="initial equity (quote currency)")
    p.add_argument("--walk-forward", metavar="TRAIN:TEST[:anchored]", help="walk-forward folds in days, e.g. 14:4")
    p.add_argument("--periods-per-year", type=positive, metavar="N",
                   help="bars per year annualising Sharpe/Sortino (default: measured from a --data file's calendar; "
                        "the same rule on each warehouse backtest's bars)")
    p.add_argument("--trades", type=non_negative_int, default=20, metavar="N",
                   help="list the first N trades of the full window (default 20; 0 hides the list)")
    p.add_argument("--html", type=Path, metavar="PATH",
                   help="write the interactive chart here (default: <data dir>/backtests/<run_id>.html)")
    p.add_argument("--no-html", action="store_true", help="do not write the chart")
    p.add_argument("--export", choices=["csv", "parquet", "json"],
                   help="also write the run's trades and equity as <run_id>_trades/_equity files")
    p.add_argument("--export-dir", type=Path, metavar="DIR", help="folder for --export files (default: beside the chart)")
    p.set_defaults(func=cmd_backtest)
