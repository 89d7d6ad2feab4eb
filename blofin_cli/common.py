"""Helpers the topic modules share: date and number arguments and the data directory's writer lock."""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

from python_assets.config import Paths, iso_day

T = TypeVar("T")
MAX_DAYS = 3650  # a --days count: ten years (the synthetic market starts 2020-01-01)


def parse_date(text: str) -> date:
    """'YYYY-MM-DD' -> date, or an argparse error naming the text."""
    day = iso_day(text)
    if day is None:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}")
    return day


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def fee_rate(text: str) -> float:
    """A fee as a fraction of the notional: finite, >= 0 and < 1 (a negative one divided by zero in sizing)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"a fee is a fraction of the notional in [0, 1): {text!r}")
    return value


def non_negative(text: str) -> float:
    """A finite number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def positive(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _int_in(text: str, low: int, high: int | None, what: str) -> int:
    """text as an integer in low..high (high None: no upper bound), else argparse's error naming what."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"{what}: {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (a random seed)."""
    return _int_in(text, 0, None, "must be >= 0")


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int_in(text, 1, None, "must be >= 1")


def day_count(text: str) -> int:
    """A number of days: an integer in 1..MAX_DAYS."""
    return _int_in(text, 1, MAX_DAYS, f"a number of days in 1..{MAX_DAYS}")


def lake_symbols(text: str) -> list[str]:
    """'btc/usdt:usdt,ETH-USDT-SWAP' -> ['BTC-USDT', 'ETH-USDT']: the lake's spelling, each once (an
    argparse error for an unsafe name or an empty list); BTCUSDT is left for the command to read against its lake
    (lake/sources.user_symbol) or exchange (symbol_names.split_joined)."""
    from python_assets.lake.store import normalize_symbol

    try:
        names = [normalize_symbol(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not names:
        raise argparse.ArgumentTypeError(f"no symbol in {text!r}")
    return list(dict.fromkeys(names))


def lake_symbol(text: str) -> str:
    """One symbol read as lake_symbols reads each ('xrp/usdt' -> 'XRP-USDT'), a joined quote split (BTCUSDT ->
    BTC-USDT: `backtest --symbol` labels a --data file, no lake folder to keep): an argparse error for an unsafe
    name (control characters, '../x') or for more or fewer than one."""
    from python_assets.lake.symbol_names import split_joined

    names = lake_symbols(text)
    if len(names) != 1:
        raise argparse.ArgumentTypeError(f"one symbol, not {len(names)}: {text!r}")
    return split_joined(names[0])


def days_between(first: date, last: date) -> list[date]:
    """Every day from first to last, inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def output_problem(path: Path, folder: bool) -> str | None:
    """Why path cannot take an output file (folder=False) or files in it (folder=True), or None: tried by
    creating its missing folders and a probe file, all removed again (as root, os.access says yes to /proc)."""
    where = path if folder else path.parent
    if path.exists() and path.is_dir() != folder:
        return f"{path} is {'not a folder' if folder else 'a folder'}"
    missing = [p for p in (where, *where.parents) if not p.exists()]
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=where)
        os.close(fd)
        os.unlink(probe)
        if not folder and path.exists() and not os.access(path, os.W_OK):
            return f"cannot write {path}: permission denied"
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    finally:
        for p in missing:  # deepest first
            try:
                p.rmdir()
            except OSError:
                pass
    return None


def as_writer(paths: Paths, what: str, body: Callable[[], T]) -> T:
    """body() under the data directory's writer lock, waiting BLOFIN_LOCK_WAIT_SECONDS (default 0:
    refuse at once, exit 3, naming the holder); an unwritable data directory exits 2."""
    from python_assets.lake.health import ensure_writable
    from python_assets.platform.runlock import lock_wait_seconds, writer_lock

    ensure_writable(paths)
    with writer_lock(paths, what, lock_wait_seconds(0.0), on_wait=lambda m: print(m, file=sys.stderr, flush=True)):
        return body()


def recording_refusals_of(symbols: list[str]) -> dict[str, str]:
    """{symbol: why the recorders may not record it into this data dir} (importers.recording_refusals)."""
    from python_assets.config import paths
    from python_assets.ingest.importers import recording_refusals

    return recording_refusals(paths(), symbols)


def recording_refused(symbols: list[str]) -> bool:
    """For the recorders (they record BloFin's perpetual swaps), before they connect: one error line per symbol
    (the lake's spelling) that holds spot or synthetic data, or that a lake holding synthetic data would take
    (recording_refusals); True when any does."""
    refused = recording_refusals_of(symbols)
    for line in refused.values():
        print(f"error: {line}", file=sys.stderr)
    return bool(refused)


def print_source_hint() -> None:
    """After real data landed (import, ingest): one line saying a run reads it only with BLOFIN_SOURCE=lake, when
    the source is synthetic (the default, which refuses a lake holding real data)."""
    from python_assets.config import market_source_kind

    if market_source_kind() == "synthetic":
        print("note: BLOFIN_SOURCE is synthetic (the default), which refuses a lake holding real data: materialize "
              "these files with BLOFIN_SOURCE=lake (e.g. `BLOFIN_SOURCE=lake blofin-stack materialize --date D`)")
