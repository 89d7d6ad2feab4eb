"""`blofin-stack` synthetic-market commands: demo (generate the last N days, then materialize) and generate
(synthetic ticks and funding for a date range)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta, timezone

from blofin_cli.common import MAX_DAYS, as_writer, day_count, days_between, lake_symbols, non_negative_int, parse_date
from blofin_cli.errors import EXIT_BAD_INPUT
from python_assets.config import DEFAULT_SEED, DEFAULT_SYMBOLS, export_data_dir, market_seed, market_symbols


def cmd_demo(args: argparse.Namespace) -> int:
    """demo: the synthetic market for the last --days days, then materialize the days not reported yet."""
    from blofin_cli.pipeline import run_window
    from dagster_defs.runner import last_reported_day
    from python_assets.exchange.errors import MarketRefused
    from python_assets.ingest.market import generate_market, synthetic_source_refusal
    from python_assets.ingest.synthetic import last_complete_days
    from python_assets.platform.fanout import in_child

    if problem := synthetic_options_problem():
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    days = last_complete_days(args.days)
    problem = synthetic_days_problem(days[0], days[-1], utc_today())
    if problem:
        print(f"error: --days {args.days}: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    symbols, seed = market_symbols().split(","), market_seed() if args.seed is None else args.seed  # the run's own
    paths = export_data_dir()
    if refusal := synthetic_source_refusal(paths):  # the demo's markets would join the real ones
        print(f"error: {refusal}", file=sys.stderr)
        return EXIT_BAD_INPUT

    def demo() -> int:
        """Generate (in a child process: the run below then does not carry the generator's ~120 MiB of arrays
        and imports beside its dbt and ML steps) and materialize, the writer lock held."""
        t0 = time.perf_counter()
        try:
            added = in_child(generate_market, paths, symbols, days, seed)
        except MarketRefused as exc:  # bad input, as `generate` says it (exit 2)
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"demo data: {len(days)} days {days[0]}..{days[-1]}, {added:,} new ticks in {time.perf_counter() - t0:.1f} s")
        done = last_reported_day(paths)
        first = days[-1] if done is None or done >= days[-1] else max(done + timedelta(days=1), days[0])
        return run_window(first, days[-1], args.verbose)

    return as_writer(paths, "blofin-stack demo", demo)


def cmd_generate(args: argparse.Namespace) -> int:
    """generate: synthetic ticks and funding for --start..--end into the lake."""
    from python_assets.exchange.errors import MarketRefused
    from python_assets.lake.health import writable_data_dir
    from python_assets.ingest.market import GENERATE_HINT, generate_market, synthetic_source_refusal
    from python_assets.lake.sources import user_symbol

    problem = synthetic_options_problem() or synthetic_days_problem(args.start, args.end, utc_today())
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    paths = writable_data_dir()
    if refusal := synthetic_source_refusal(paths, GENERATE_HINT):  # any symbol: a lake is read as one market
        print(f"error: {refusal}", file=sys.stderr)
        return EXIT_BAD_INPUT
    t0 = time.perf_counter()
    try:
        named = list(dict.fromkeys(user_symbol(paths, s) for s in args.symbols)) if args.symbols else None
        added = generate_market(paths, named or market_symbols().split(","), days_between(args.start, args.end),
                                market_seed() if args.seed is None else args.seed)
    except MarketRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"generated {added:,} new ticks into {paths.trades} in {time.perf_counter() - t0:.1f} s")
    return 0


def utc_today() -> date:
    """Today's UTC date (the day that has not closed yet)."""
    return datetime.now(timezone.utc).date()


def synthetic_options_problem() -> str | None:
    """Why the generator options in the environment are not valid, or None: checked before anything runs,
    as over days already in the lake nothing is generated and nothing would read them."""
    from python_assets.config import synthetic_edge, synthetic_market

    try:
        synthetic_market()
        synthetic_edge()
    except ValueError as exc:
        return str(exc)
    return None


def synthetic_days_problem(first: date, last: date, today: date) -> str | None:
    """Why the synthetic market cannot be generated for first..last, or None: a reversed range, a day that
    has not closed yet (as import leaves out bars still open), or a day outside the generator's horizon."""
    from python_assets.ingest.synthetic import day_index

    if first > last:
        return f"--start {first} is after --end {last}"
    if last >= today:
        return f"{last} is not a complete UTC day yet: the newest day to generate is {today - timedelta(days=1)}"
    try:
        day_index(first)
        day_index(last)
    except ValueError as exc:
        return str(exc)
    return None


def add_demo(sub: argparse._SubParsersAction) -> None:
    """Register `demo`."""
    p = sub.add_parser("demo", help="generate the synthetic demo (last N days) and materialize the days not reported yet "
                                           "(the latest on a fresh data dir)")
    p.add_argument("--days", type=day_count, default=30,
                   help=f"days of synthetic data ending yesterday (UTC; 1..{MAX_DAYS}, default 30)")
    p.add_argument("--seed", type=non_negative_int, help=f"random seed of the synthetic market (default: BLOFIN_SEED, "
                                                         f"else {DEFAULT_SEED}); the symbols are BLOFIN_SYMBOLS' (the run's)")
    p.add_argument("--verbose", action="store_true", help="show Dagster and dbt output instead of logging it")
    p.set_defaults(func=cmd_demo)


def add_generate(sub: argparse._SubParsersAction) -> None:
    """Register `generate`."""
    p = sub.add_parser("generate", help="write synthetic ticks and funding for a date range into the lake")
    p.add_argument("--start", type=parse_date, required=True, help="first day (YYYY-MM-DD, UTC)")
    p.add_argument("--end", type=parse_date, required=True, help="last day, inclusive (YYYY-MM-DD, UTC)")
    p.add_argument("--symbols", type=lake_symbols,
                   help=f"comma-separated symbols, any spelling (btc/usdt is BTC-USDT; default: BLOFIN_SYMBOLS, else "
                        f"{','.join(DEFAULT_SYMBOLS)})")
    p.add_argument("--seed", type=non_negative_int, help=f"random seed (default: BLOFIN_SEED, else {DEFAULT_SEED})")
    p.set_defaults(func=cmd_generate)
