"""`blofin-stack record`: the WebSocket recorder (python_assets/exchange/ws_recorder.py) in the foreground,
with a status line on stderr; SIGTERM / Ctrl-C flush and exit."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from urllib.parse import urlsplit

from blofin_cli.common import lake_symbols, positive, positive_int, recording_refusals_of, recording_refused
from blofin_cli.errors import EXIT_BAD_INPUT

DEFAULT_WS_URL = "wss://openapi.blofin.com/ws/public"  # = ws_recorder.DEFAULT_WS_URL (imported lazily: a fast --help)


def url_of(*schemes: str):
    """An argparse type: a URL with one of the schemes and a host."""
    def parse(text: str) -> str:
        """text, or an argparse error naming the schemes it may have."""
        parts = urlsplit(text)
        if parts.scheme not in schemes or not parts.hostname:
            raise argparse.ArgumentTypeError(f"not a {' or '.join(s + '://' for s in schemes)} URL: {text!r}")
        return text
    return parse


def settings_from(args: argparse.Namespace):
    """The recorder's settings (a RecorderSettings) from the command line."""
    from python_assets.exchange.ws_recorder import RecorderSettings
    from python_assets.lake.symbol_names import split_joined  # BloFin's BTC-USDT: a BTCUSDT folder is no swap's

    return RecorderSettings(
        symbols=tuple(dict.fromkeys(split_joined(s) for group in args.symbols for s in group)), ws_url=args.ws_url, rest_url=args.rest_url, depth=args.depth,
        sample_ms=args.sample_ms, flush_ms=args.flush_ms, merge_ms=args.merge_ms, mark_poll_ms=args.mark_poll_ms,
        ping_s=args.ping_s, stall_s=args.stall_s, queue_size=args.queue_size, status_s=args.status_s,
        rest_trades_limit=args.rest_trades_limit, duration_s=args.duration)


def cmd_record(args: argparse.Namespace) -> int:
    """record: run the recorder until SIGTERM / Ctrl-C or --duration; --dry-run only says what it would do."""
    from python_assets.exchange.ws_recorder import subscriptions

    settings = settings_from(args)
    if args.dry_run:  # writes nothing: what a real run would refuse is said, not refused
        ids = list(settings.symbols)  # the lake's spelling, BloFin's instId
        for line in recording_refusals_of(ids).values():
            print(f"a real run would refuse: {line}")
        print(f"would connect to {settings.ws_url} and subscribe to:")
        for arg in subscriptions(ids):
            print(f"  {arg['channel']:<13} {arg['instId']}")
        print(f"and poll REST {settings.rest_url or 'https://openapi.blofin.com'} for mark-price every "
              f"{settings.mark_poll_ms} ms, trades on holes, instruments daily; books top {settings.depth} "
              f"every {settings.sample_ms} ms")
        return 0
    if recording_refused(list(settings.symbols)):
        return EXIT_BAD_INPUT
    from python_assets.exchange.ws_recorder import Recorder
    from python_assets.lake.health import writable_data_dir

    paths = writable_data_dir()
    rec = Recorder(paths, settings)
    try:
        rec.setup()
    except Exception as exc:  # noqa: BLE001 - unreachable REST / unknown symbol: one line, no traceback
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 1

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(rec.run())
        await asyncio.sleep(0)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, rec.stop)
        await task

    print(f"recording {' '.join(r.symbol for r in rec.symbols.values())} from {settings.ws_url} into {paths.lake} "
          f"(session {rec.session_id}; stop with Ctrl-C or SIGTERM)", flush=True)
    asyncio.run(main())
    for r in rec.symbols.values():
        print(f"{r.symbol}: {r.counts['trades']} trades live + {r.counts['backfilled']} back-filled, "
              f"{r.counts['quarantined']} quarantined, {r.counts['duplicates']} repeats dropped, "
              f"{r.counts['books']} book messages, {r.counts['gaps']} gaps recorded", flush=True)
    return 0


def add_record(sub: argparse._SubParsersAction) -> None:
    """Register `record`."""
    p = sub.add_parser("record", help="record trades, books, funding and mark prices over BloFin's WebSocket")
    p.add_argument("--symbols", nargs="+", type=lake_symbols, required=True,
                   help="e.g. BTC-USDT ETH-USDT (space- or comma-separated; BTC/USDT:USDT is BTC-USDT)")
    p.add_argument("--ws-url", type=url_of("ws", "wss"), default=DEFAULT_WS_URL,
                   help=f"public WebSocket (default {DEFAULT_WS_URL})")
    p.add_argument("--rest-url", type=url_of("http", "https"), help="REST base URL (default BloFin's)")
    p.add_argument("--depth", type=positive_int, default=20, help="book levels stored per side (default 20)")
    p.add_argument("--sample-ms", type=positive_int, default=1000, help="book sample interval (default 1000)")
    p.add_argument("--flush-ms", type=positive_int, default=1000, help="buffer flush interval (default 1000)")
    p.add_argument("--merge-ms", type=positive_int, default=10_000,
                   help="how often finished hours are merged (default 10000)")
    p.add_argument("--mark-poll-ms", type=positive_int, default=5000, help="mark/index price poll interval (default 5000)")
    p.add_argument("--ping-s", type=positive, default=20.0, help="keep-alive ping interval (default 20)")
    p.add_argument("--stall-s", type=positive, default=30.0, help="silence that counts as a stall (default 30)")
    p.add_argument("--queue-size", type=positive_int, default=1000,
                   help="frames buffered between reader and writer (default 1000)")
    p.add_argument("--rest-trades-limit", type=positive_int, default=100, help="trades asked from REST per hole (default 100)")
    p.add_argument("--status-s", type=positive, default=5.0, help="status line interval (default 5)")
    p.add_argument("--duration", type=positive, help="stop after this many seconds (default: until stopped)")
    p.add_argument("--dry-run", action="store_true", help="print what would be subscribed to and exit")
    p.set_defaults(func=cmd_record)
