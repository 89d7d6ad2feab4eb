"""`blofin-stack` data commands: ingest (a trades file), import (freqtrade / CSV files), and fetch-ohlcv,
fetch-funding, record-trades (BloFin through ccxt). The synthetic market's demo and generate: synthetic.py."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import datetime, timezone

from blofin_cli.common import positive, positive_int, print_source_hint, recording_refused
from blofin_cli.errors import EXIT_BAD_INPUT
from python_assets.platform.timeframes import TIMEFRAMES


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
    from python_assets.lake.sources import user_symbol
    from python_assets.platform.logs import log_event

    paths = writable_data_dir()  # an unwritable data directory: DataDirError, exit 2
    try:
        symbol = user_symbol(paths, args.symbol)  # BTCUSDT is BTC-USDT, but a lake's own BTCUSDT folder
        guard = file_market_guard(paths, args.file, "trades", symbol)
        r = ingest_file(paths, args.file, symbol, progress=True, guard=guard)
    except LakeWriteError as exc:
        raise _rerun_completes(exc) from exc  # a write that failed (full disk): exit 1 through fail_clearly
    except (IngestError, ValueError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log_event("ingested", file=str(args.file), **{k: v for k, v in vars(r).items() if k != "partitions"})
    print(
        f"{args.file}: {r.rows_read} rows read, {r.rows_added} added to {r.symbol}, "
        f"{r.duplicates} duplicates skipped{_twins_note(r.stored_with_id, r.stored_without_id)}, "
        f"{r.quarantined} quarantined"
    )
    _print_quarantine(r.reasons, r.quarantine_file)
    print_source_hint()
    return 0


def _twins_note(with_id: int, without_id: int) -> str:
    """' (N already stored with a trade id, M without one)' for the duplicates that are the same trades stored under
    the other kind of id (matched on time, price, size and side), or ''."""
    said = [f"{n} already stored {how}" for n, how in ((with_id, "with a trade id"), (without_id, "without a trade id"))
            if n]
    return f" ({', '.join(said)})" if said else ""


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
    except FetchError as exc:  # a market the lake refuses or the exchange lacks (UnknownMarket) is bad input, as an
        # import of it is; the rest failed calls
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, MarketRefused) else 1
    return 0


def cmd_record_trades(args: argparse.Namespace) -> int:
    """record-trades: poll live trades per --symbol until stopped (SIGTERM / Ctrl-C) or --duration."""
    from python_assets.exchange.client import FetchError, UnknownMarket
    from python_assets.exchange.recorder import TradeRecorder, run_recorders
    from python_assets.lake.health import writable_data_dir
    from python_assets.lake.symbol_names import split_joined
    from python_assets.platform.logs import log_event

    try:  # before any request: the lake's spelling of each swap's records (btc/usdt:usdt and BTCUSDT are BTC-USDT)
        names = [split_joined(s) for s in args.symbol]
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
        return EXIT_BAD_INPUT if isinstance(exc, UnknownMarket) else 1
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
        counts = (f"{r.duplicates} duplicates skipped{_twins_note(r.stored_with_id, r.stored_without_id)}, "
                  f"{r.quarantined} quarantined" if r.kind == "trades"
                  else f"{r.duplicates} already stored")
        if r.conflicts:
            counts += (f", {r.conflicts} differ from the stored row (the stored one kept; first at "
                       f"{_fmt(r.first_conflict_ms)})")
        if r.replaced:
            counts += f", {r.replaced} replace an unknown (NaN) rate stored for their settlement"
        if r.still_open:
            counts += f", {r.still_open} still open at import, left out (a later import adds them once closed)"
        if r.shadowed_days:
            counts += f", {r.shadowed_days} day(s) already have ticks or finer candles, which their bars use"
        print(f"{file}: {r.rows_read} {what} rows for {r.symbol}, {r.rows_added} new, {counts}"
              + (f" ({_fmt(r.first_ms)} .. {_fmt(r.last_ms)})" if r.first_ms is not None else ""))
        _print_quarantine(r.reasons, r.quarantine_file)
        landed = True
    if landed:
        print_source_hint()
    return status


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
        p.add_argument("--until", type=parse_time_ms, help="exclusive end (default: now; fetch-ohlcv never stores a candle "
                                                           "still open)")
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
    p.add_argument("files", nargs="+", help="data files (.feather, .parquet, .json[.gz], .jsonl[.gz], .csv)")
    p.add_argument("--kind", choices=["candles", "trades", "funding"], help="default: from the file name / columns")
    p.add_argument("--symbol", help="default: from a freqtrade file name (XRP_USDT_USDT-5m-futures.feather -> XRP-USDT)")
    p.add_argument("--timeframe", help="candles: default from the file name or the bar spacing")
    p.set_defaults(func=cmd_import)
