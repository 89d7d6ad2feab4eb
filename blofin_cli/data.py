"""`blofin-stack` data commands: demo, generate (synthetic market), ingest (a trades file), import
(freqtrade / CSV files), and fetch-ohlcv, fetch-funding, record-trades (BloFin through ccxt)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import date, datetime, timedelta, timezone

from blofin_cli.common import (MAX_DAYS, as_writer, day_count, days_between, lake_symbols, non_negative_int, parse_date,
                               positive, positive_int, print_source_hint, recording_refused)
from blofin_cli.errors import EXIT_BAD_INPUT
from python_assets.config import DEFAULT_SEED, DEFAULT_SYMBOLS, export_data_dir
from python_assets.platform.timeframes import TIMEFRAMES


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
    paths = export_data_dir()
    if refusal := synthetic_source_refusal(paths):  # the demo's markets would join the real ones
        print(f"error: {refusal}", file=sys.stderr)
        return EXIT_BAD_INPUT

    def demo() -> int:
        """Generate (in a child process: the run below then does not carry the generator's ~120 MiB of arrays
        and imports beside its dbt and ML steps) and materialize, the writer lock held."""
        t0 = time.perf_counter()
        try:
            added = in_child(generate_market, paths, DEFAULT_SYMBOLS, days, args.seed)
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
        added = generate_market(paths, args.symbols, days_between(args.start, args.end), args.seed)
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
    has not closed yet (as import refuses open bars), or a day outside the generator's horizon."""
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


def _rerun_completes(exc: OSError) -> OSError:
    """The lake write error with what the user needs next: the days a large file wrote before it stay stored,
    and the same command once there is space adds only the rest."""
    from python_assets.lake.atomic import LakeWriteError

    return LakeWriteError(exc.errno, f"{exc.strerror or exc}; the days written before it are stored, and the same "
                                     "command run again once there is space adds only the rest")


def cmd_ingest(args: argparse.Namespace) -> int:
    """ingest: one trades file into the lake; counts, quarantine reasons and file."""
    from python_assets.ingest.importers import file_market_guard
    from python_assets.ingest.trades import IngestError, ingest_file
    from python_assets.lake.atomic import LakeWriteError
    from python_assets.lake.health import writable_data_dir
    from python_assets.platform.logs import log_event

    paths = writable_data_dir()  # an unwritable data directory: DataDirError, exit 2
    try:
        guard = file_market_guard(paths, args.file, "trades", args.symbol)
        r = ingest_file(paths, args.file, args.symbol, progress=True, guard=guard)
    except LakeWriteError as exc:
        raise _rerun_completes(exc) from exc  # a write that failed (full disk): exit 1 through fail_clearly
    except (IngestError, ValueError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log_event("ingested", file=str(args.file), **{k: v for k, v in vars(r).items() if k != "partitions"})
    print(
        f"{args.file}: {r.rows_read} rows read, {r.rows_added} added to {r.symbol}, "
        f"{r.duplicates} duplicates skipped, {r.quarantined} quarantined"
    )
    _print_quarantine(r.reasons, r.quarantine_file)
    print_source_hint()
    return 0


def _print_quarantine(reasons: dict[str, int], quarantine_file: str | None) -> None:
    """The quarantined rows per reason and the quarantine file, under a file's counts line."""
    for reason, n in reasons.items():
        print(f"  quarantined {n:>6}  {reason}")
    if quarantine_file:
        print(f"  quarantine file: {quarantine_file}")


def parse_time_ms(text: str) -> int:
    """'2024-01-01', '2024-01-01T12:00Z' (naive = UTC) or epoch ms -> epoch ms, from 2009-01-01 up to now."""
    import pandas as pd

    from python_assets.lake.store import now_ms
    from python_assets.lake.trade_rules import MIN_TS_MS

    bad = f"not a date/time (YYYY-MM-DD[THH:MM], UTC) or epoch ms: {text!r}"
    if text.strip().isdigit():
        ms = int(text)
    elif not text.strip()[:4].isdigit():  # pandas also reads 'now' and 'today', in the local zone
        raise argparse.ArgumentTypeError(bad)
    else:
        try:
            ts = pd.Timestamp(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(bad) from None
        if pd.isna(ts):
            raise argparse.ArgumentTypeError(bad)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        ms = int(ts.value // 1_000_000)
    if ms < MIN_TS_MS:
        hint = " (epoch milliseconds, not seconds?)" if text.strip().isdigit() else ""
        raise argparse.ArgumentTypeError(f"{text!r} is before 2009-01-01, older than any crypto market{hint}")
    if ms > now_ms():
        raise argparse.ArgumentTypeError(f"{text!r} is in the future")
    return ms


def _exchange(args: argparse.Namespace):
    """(ExchangeConfig, ccxt exchange) from the environment and the --exchange / --rate-limit-ms arguments."""
    from python_assets.exchange.client import ExchangeConfig, make_exchange

    cfg = ExchangeConfig.from_env(exchange_id=args.exchange, rate_limit_ms=args.rate_limit_ms)
    return cfg, make_exchange(cfg)


def exchange_or_exit(args: argparse.Namespace) -> tuple | int:
    """_exchange(args), or the exit code after one line: 2 for an unknown exchange id, 1 for another failure."""
    from python_assets.exchange.client import FetchError, UnknownExchange

    try:
        return _exchange(args)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, UnknownExchange) else 1


def _fmt(ms: int | None) -> str:
    """Epoch ms -> ISO UTC time to the second ('-' for None)."""
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def cmd_fetch(args: argparse.Namespace) -> int:
    """fetch-ohlcv and fetch-funding: one history fetch per --symbol, a summary line each."""
    from python_assets.exchange.client import FetchError, MarketRefused
    from python_assets.exchange.history import fetch_funding_history, fetch_ohlcv_history, timeframe_ms
    from python_assets.lake.health import writable_data_dir
    from python_assets.platform.logs import log_event

    try:
        if args.until is not None and args.until <= args.since:
            raise ValueError(f"--until {_fmt(args.until)} is not after --since {_fmt(args.since)}: the range "
                             "[--since, --until) is empty")
        if args.command == "fetch-ohlcv":
            timeframe_ms(args.timeframe)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    made = exchange_or_exit(args)
    if isinstance(made, int):
        return made
    cfg, ex = made
    paths = writable_data_dir()
    progress = (lambda m: print(m, flush=True)) if args.verbose else None
    candles = args.command == "fetch-ohlcv"
    what = f"{args.timeframe} candles" if candles else "funding rates"
    try:
        for symbol in args.symbol:
            if candles:
                st = fetch_ohlcv_history(ex, paths, symbol, args.timeframe, args.since, args.until, cfg,
                                         progress=progress, bar=True, refetch_holes=args.refetch_holes)
            else:
                st = fetch_funding_history(ex, paths, symbol, args.since, args.until, cfg, progress=progress, bar=True,
                                           refetch_holes=args.refetch_holes)
            log_event("fetched", command=args.command, exchange=cfg.exchange_id, **vars(st))
            print(f"{st.symbol}: {st.added} new {what} ({st.received} received, {st.requests} requests) "
                  f"from {_fmt(st.start_ms)} to {_fmt(st.end_ms)}")
            if st.bad:
                print(f"{st.symbol}: {st.bad} bad {what} from the exchange not stored (asked again by the next fetch "
                      f"of their time; first: {'; '.join(st.bad_notes)})")
    except FetchError as exc:  # a market the lake refuses is bad input, as an import of it is; the rest failed calls
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, MarketRefused) else 1
    return 0


def cmd_record_trades(args: argparse.Namespace) -> int:
    """record-trades: poll live trades per --symbol until stopped (SIGTERM / Ctrl-C) or --duration."""
    from python_assets.exchange.client import FetchError
    from python_assets.exchange.recorder import TradeRecorder, run_recorders
    from python_assets.lake.health import writable_data_dir
    from python_assets.lake.store import normalize_symbol
    from python_assets.platform.logs import log_event

    try:  # before any request: the lake's spelling of each symbol (btc/usdt:usdt is BTC-USDT)
        names = [normalize_symbol(s) for s in args.symbol]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if recording_refused(names):
        return EXIT_BAD_INPUT
    made = exchange_or_exit(args)
    if isinstance(made, int):
        return made
    cfg, ex = made
    paths = writable_data_dir()
    stop = {"now": False}

    def ask_stop(signum, frame) -> None:  # SIGTERM / Ctrl-C: finish the poll, flush, exit
        stop["now"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    try:
        recorders = [TradeRecorder(ex, paths, s, cfg, log=log_event) for s in args.symbol]
        print(f"recording {', '.join(r.symbol for r in recorders)} every {args.poll_seconds} s into {paths.live_trades}"
              " (stop with Ctrl-C or SIGTERM)", flush=True)
        run_recorders(recorders, args.poll_seconds, args.flush_seconds, args.duration, lambda: stop["now"])
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in recorders:
        print(f"{r.symbol}: {r.stats.new} trades recorded in {r.stats.polls} polls, {len(r.stats.gaps)} possible gaps, "
              f"{r.stats.quarantined} unusable trades quarantined, {r.stats.merged_hours} finished hours merged into {paths.trades}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """import: freqtrade / CSV files into the lake, one line each (exit 2 if any file was refused; a failed
    write, e.g. a full disk, stops the import with exit 1)."""
    from python_assets.ingest.importers import ImportFileError, import_file
    from python_assets.ingest.trades import IngestError
    from python_assets.lake.atomic import LakeWriteError
    from python_assets.lake.health import writable_data_dir
    from python_assets.platform.logs import log_event

    paths = writable_data_dir()
    status, landed = 0, False
    for file in args.files:
        try:
            r = import_file(paths, file, args.kind, args.symbol, args.timeframe, progress=True)
        except LakeWriteError as exc:  # not the file's fault: exit 1 through fail_clearly (the files after it would fail too)
            raise _rerun_completes(exc) from exc
        except (ImportFileError, IngestError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        log_event("imported", **vars(r))
        what = f"{r.kind} {r.timeframe}" if r.timeframe else r.kind
        counts = (f"{r.duplicates} duplicates skipped, {r.quarantined} quarantined" if r.kind == "trades"
                  else f"{r.duplicates} already stored")
        if r.conflicts:
            counts += (f", {r.conflicts} differ from the stored row (the stored one kept; first at "
                       f"{_fmt(r.first_conflict_ms)})")
        if r.shadowed_days:
            counts += f", {r.shadowed_days} day(s) already have ticks or finer candles, which their bars use"
        print(f"{file}: {r.rows_read} {what} rows for {r.symbol}, {r.rows_added} new, {counts}"
              + (f" ({_fmt(r.first_ms)} .. {_fmt(r.last_ms)})" if r.first_ms is not None else ""))
        _print_quarantine(r.reasons, r.quarantine_file)
        landed = True
    if landed:
        print_source_hint()
    return status


def add_demo(sub: argparse._SubParsersAction) -> None:
    """Register `demo`."""
    p = sub.add_parser("demo", help="generate the synthetic demo (last N days) and materialize the latest day")
    p.add_argument("--days", type=day_count, default=30,
                   help=f"days of synthetic data ending yesterday (UTC; 1..{MAX_DAYS}, default 30)")
    p.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED, help=f"random seed of the synthetic market (default {DEFAULT_SEED})")
    p.add_argument("--verbose", action="store_true", help="show Dagster and dbt output instead of logging it")
    p.set_defaults(func=cmd_demo)


def add_generate(sub: argparse._SubParsersAction) -> None:
    """Register `generate`."""
    p = sub.add_parser("generate", help="write synthetic ticks and funding for a date range into the lake")
    p.add_argument("--start", type=parse_date, required=True, help="first day (YYYY-MM-DD, UTC)")
    p.add_argument("--end", type=parse_date, required=True, help="last day, inclusive (YYYY-MM-DD, UTC)")
    p.add_argument("--symbols", type=lake_symbols, default=list(DEFAULT_SYMBOLS),
                   help=f"comma-separated symbols, any spelling (btc/usdt is BTC-USDT; default {','.join(DEFAULT_SYMBOLS)})")
    p.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.set_defaults(func=cmd_generate)


def add_ingest(sub: argparse._SubParsersAction) -> None:
    """Register `ingest`."""
    p = sub.add_parser("ingest", help="ingest a trades file (CSV, Parquet, Feather, JSON or JSON Lines; "
                                           "text formats gzipped too) into the lake")
    p.add_argument("file", help="the trades file to ingest")
    p.add_argument("--symbol", required=True, help="symbol the trades belong to (e.g. BTC-USDT)")
    p.set_defaults(func=cmd_ingest)


def add_market_data_commands(sub: argparse._SubParsersAction) -> None:
    """Register fetch-ohlcv, fetch-funding, record-trades and import."""
    def exchange_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--symbol", action="append", required=True,
                       help="ccxt symbol (BTC/USDT:USDT) or BloFin id (BTC-USDT); repeatable")
        p.add_argument("--exchange", help="ccxt exchange id (default $BLOFIN_EXCHANGE or blofin)")
        p.add_argument("--rate-limit-ms", type=positive_int, help="least gap between requests (default: ccxt's, or $BLOFIN_RATE_LIMIT_MS)")

    def history_args(p: argparse.ArgumentParser) -> None:
        exchange_args(p)
        p.add_argument("--since", type=parse_time_ms, required=True, help="UTC date/time or epoch ms")
        p.add_argument("--until", type=parse_time_ms, help="exclusive end (default: now; candles still open are never stored)")
        p.add_argument("--verbose", action="store_true", help="print progress per page")
        p.add_argument("--refetch-holes", action="store_true",
                       help="ask again for the stretches an earlier fetch found the exchange has no data in")
        p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("fetch-ohlcv", help="fetch candle history into the lake (paginated, rate-limited, resumable)")
    history_args(p)
    p.add_argument("--timeframe", default="1m", help=f"candle length, one the bars read: {', '.join(TIMEFRAMES)} (default 1m)")

    p = sub.add_parser("fetch-funding", help="fetch funding-rate history into the lake (resumable)")
    history_args(p)

    p = sub.add_parser("record-trades", help="record live trades into hourly Parquet files (long-running)")
    exchange_args(p)
    p.add_argument("--poll-seconds", type=positive, default=2.0, help="seconds between trade polls (default 2)")
    p.add_argument("--flush-seconds", type=positive, default=10.0,
                   help="seconds between writes of the buffered trades to the hour's file (default 10)")
    p.add_argument("--duration", type=positive, help="stop after this many seconds (default: until stopped)")
    p.set_defaults(func=cmd_record_trades)

    p = sub.add_parser("import", help="import freqtrade data files (candles, trades, funding) or CSV candles")
    p.add_argument("files", nargs="+", help="data files (.feather, .parquet, .json[.gz], .csv)")
    p.add_argument("--kind", choices=["candles", "trades", "funding"], help="default: from the file name / columns")
    p.add_argument("--symbol", help="default: from a freqtrade file name (XRP_USDT_USDT-5m-futures.feather -> XRP-USDT)")
    p.add_argument("--timeframe", help="candles: default from the file name or the bar spacing")
    p.set_defaults(func=cmd_import)
