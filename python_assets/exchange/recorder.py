"""The live trade recorder: polls the exchange's recent trades (BloFin keeps no deep trade history),
deduplicates on trade id, and flushes to hourly Parquet files that are merged into the daily trades
lake once their hour is over.

Files: `lake/live_trades/symbol=S/date=D/HH.parquet` while an hour is open (rewritten whole and
atomically on every flush), moved to `.../merged/HH.parquet` after its rows went into
`lake/trades/` (write_trades deduplicates on trade id, so a merge interrupted half-way is redone
safely; trades out of the lake's bounds, or whose id is stored with other values, go to the quarantine).
A restart reloads the ids of the last two hours, so a stop and restart within the exchange's
recent-trades window loses nothing and stores nothing twice; a poll that shares no trade with the
previous one is logged as a possible gap (more trades happened than one page holds).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import ccxt
import pandas as pd
import pyarrow as pa

from python_assets.config import Paths
from python_assets.exchange.client import ExchangeConfig, call_with_retries, lake_symbol, resolve_market
from python_assets.exchange.rec_lock import take_recorder_lock
from python_assets.ingest.trades import FUTURE_TOLERANCE_MS
from python_assets.exchange.rec_rest import contract_value
from python_assets.lake.atomic import write_table_atomic
from python_assets.lake.quarantine import write_quarantine
from python_assets.lake.store import read_partition, write_trades
from python_assets.platform.timeframes import HOUR_MS
from python_assets.lake.trade_rules import MIN_TS_MS, record_fault, value_faults

LIVE_SCHEMA = pa.schema([("trade_id", pa.string()), ("ts", pa.int64()), ("price", pa.float64()),
                         ("size", pa.float64()), ("side", pa.string())])
MERGE_GRACE_MS = 120_000  # an hour is merged two minutes after it ends: late polls may still add to it


@dataclass
class RecorderStats:
    """Counters of one recording session."""

    polls: int = 0
    fetched: int = 0
    new: int = 0
    flushes: int = 0
    merged_hours: int = 0
    quarantined: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)


def hour_file(paths: Paths, symbol: str, hour_ms: int) -> Path:
    """Where the trades of the hour starting at hour_ms are kept while the hour is open."""
    start = datetime.fromtimestamp(hour_ms / 1000, tz=timezone.utc)
    return paths.live_trades / f"symbol={symbol}" / f"date={start.date().isoformat()}" / f"{start.hour:02d}.parquet"


def merged_file(path: Path) -> Path:
    return path.parent / "merged" / path.name


def _read(path: Path) -> pd.DataFrame:
    return read_partition(path, LIVE_SCHEMA)


def _union(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows of both, one per trade id (the stored row wins), sorted by time then id."""
    both = pd.concat([old, new], ignore_index=True).drop_duplicates(subset="trade_id", keep="first")
    return both.sort_values(["ts", "trade_id"], kind="mergesort").reset_index(drop=True)


def poll_fault(t: object, now_ms: int) -> str | None:
    """Why a ccxt trade cannot be a lake row (quarantine reason: a missing or unreadable field, or a time
    before 2009 or more than FUTURE_TOLERANCE_MS past now_ms), or None."""
    if not isinstance(t, dict):
        return "malformed_trade"
    if why := record_fault(t, "id", (("timestamp", int), ("price", float), ("amount", float))):
        return why
    return None if MIN_TS_MS <= int(t["timestamp"]) <= now_ms + FUTURE_TOLERANCE_MS else "time_outside_window"


def trade_rows(trades: list, contract_size: float, now_ms: int) -> tuple[pd.DataFrame, list[tuple[object, str]]]:
    """ccxt trades -> lake rows (swap amounts are contracts, stored as base size x contract size), and the
    trades that cannot be rows with their reason (poll_fault)."""
    rows, bad = [], []
    for t in trades:
        if why := poll_fault(t, now_ms):
            bad.append((t, why))
        else:
            rows.append((str(t["id"]), int(t["timestamp"]), float(t["price"]), float(t["amount"]) * contract_size,
                         t.get("side")))
    return pd.DataFrame(rows, columns=LIVE_SCHEMA.names).astype({"ts": "int64"}), bad


def quarantine_polled(paths: Paths, symbol: str, bad: list[tuple[object, str]]) -> None:
    """Keep polled trades that cannot be rows in the symbol's quarantine with their reason (one file per
    distinct trade, so a trade refused again on the next poll or run is kept once)."""
    for trade, reason in bad:
        raw = json.dumps(trade, default=str, sort_keys=True)
        tid = trade.get("id") if isinstance(trade, dict) else None
        try:
            ts = min(max(int(trade["timestamp"]), -2**63), 2**63 - 1)  # type: ignore[index]
        except (KeyError, TypeError, ValueError, OverflowError):
            ts = 0
        frame = pd.DataFrame({"source_file": [f"recorder:poll trade {tid}"], "source_row": [1], "reason": [reason],
                              "raw_record": [raw], "ts": [ts]})
        write_quarantine(paths, symbol, "poll-" + hashlib.sha256(raw.encode()).hexdigest()[:16], frame)


def _quarantine(paths: Paths, symbol: str, source: str, rows: pd.DataFrame, reasons: pd.Series) -> None:
    """Recorded trades the lake refused (out of its bounds, or an id stored with other values), with the reason."""
    bad = rows[reasons.notna()]
    if bad.empty:
        return
    frame = pd.DataFrame({
        "source_file": source,
        "source_row": bad.index.to_numpy(dtype="int64") + 1,
        "reason": reasons[bad.index].astype(str),
        "raw_record": [json.dumps(r, default=str) for r in bad.to_dict(orient="records")],
        "ts": bad["ts"].astype("int64"),
    })
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    write_quarantine(paths, symbol, key, frame.reset_index(drop=True))


def merge_closed_hours(paths: Paths, symbol: str, now: int) -> int:
    """Move every finished hour file into the daily trades lake; returns hours merged (idempotent)."""
    from python_assets.exchange.errors import MarketRefused
    from python_assets.ingest.importers import perp_guard

    merged = 0
    guard = perp_guard(paths, symbol, "trades recorded from the exchange's swap",
                       "the recorder's trades (kept in live_trades, not merged)", MarketRefused)
    root = paths.live_trades / f"symbol={symbol}"
    for path in sorted(root.glob("date=*/[0-9][0-9].parquet")):
        day = path.parent.name.removeprefix("date=")
        hour_start = int(pd.Timestamp(f"{day}T{path.stem}:00:00", tz="UTC").value // 1_000_000)
        if hour_start + HOUR_MS + MERGE_GRACE_MS > now:
            continue
        rows = _read(path)
        faults = value_faults(rows["ts"], rows["price"], rows["size"], rows["side"])
        stats = write_trades(paths, symbol, rows[faults.isna()], guard=guard)
        reasons = faults.where(faults.notna() | ~rows["trade_id"].isin(stats.conflicts), "conflicting_trade_id")
        _quarantine(paths, symbol, f"recorder:{path.parent.name}/{path.name}", rows, reasons)
        target = merged_file(path)
        done = _read(target)
        if not rows["trade_id"].isin(done["trade_id"]).all():  # else a merge killed before the unlink wrote it
            write_table_atomic(pa.Table.from_pandas(_union(done, rows), schema=LIVE_SCHEMA, preserve_index=False), target)
        path.unlink()
        merged += 1
    return merged


class TradeRecorder:
    """Polls one symbol's recent trades and keeps every trade once; see the module docstring."""

    def __init__(self, ex: ccxt.Exchange, paths: Paths, symbol: str, cfg: ExchangeConfig,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 log: Callable[..., None] | None = None) -> None:
        self.ex, self.paths, self.cfg, self.clock, self.sleep = ex, paths, cfg, clock, sleep
        self.market = resolve_market(ex, symbol, cfg)
        self.symbol = lake_symbol(self.market)
        self.contract_size = contract_value(self.market)
        self.lock = take_recorder_lock(paths, self.symbol)  # a second recorder of the symbol: RecorderBusy
        self.log = log or (lambda event, **fields: None)
        self.buffer: list[pd.DataFrame] = []
        self.stats = RecorderStats()
        self.seen: set[str] = set()
        self.refused: set[str] = set()  # polled trades already quarantined this session (as JSON)
        self.last_ts: int | None = None
        self._load_recent()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _load_recent(self) -> None:
        """Ids and newest time of the trades already stored for this hour and the one before."""
        hour = self.now_ms() // HOUR_MS * HOUR_MS
        for h in (hour - HOUR_MS, hour):
            for path in (hour_file(self.paths, self.symbol, h), merged_file(hour_file(self.paths, self.symbol, h))):
                rows = _read(path)
                self.seen.update(rows["trade_id"])
                if len(rows):
                    self.last_ts = max(self.last_ts or 0, int(rows["ts"].max()))

    def poll(self) -> int:
        """One request for the newest trades; new ones go to the buffer. Returns how many were new."""
        trades = call_with_retries(self.ex, lambda: self.ex.fetch_trades(self.market["symbol"], limit=100),
                                   self.cfg, f"fetch_trades {self.market['symbol']}", sleep=self.sleep)
        self.stats.polls += 1
        self.stats.fetched += len(trades)
        if not trades:
            return 0
        rows, bad = trade_rows(trades, self.contract_size, self.now_ms())
        self._refuse(bad)
        if rows.empty:
            return 0
        fresh = rows[~rows["trade_id"].isin(self.seen)].drop_duplicates("trade_id")
        if self.last_ts is not None and len(fresh) == len(rows) and int(rows["ts"].min()) > self.last_ts:
            gap = (self.last_ts, int(rows["ts"].min()))
            self.stats.gaps.append(gap)
            self.log("recorder_possible_gap", symbol=self.symbol, after_ms=gap[0], before_ms=gap[1],
                     hint="no overlap with the previous poll: poll more often")
        if len(fresh):
            self.buffer.append(fresh)
            self.seen.update(fresh["trade_id"])
            self.last_ts = max(self.last_ts or 0, int(fresh["ts"].max()))
            self.stats.new += len(fresh)
        return len(fresh)

    def _refuse(self, bad: list[tuple[object, str]]) -> None:
        """Quarantine the polled trades that cannot be rows, each once a session (then remembered), and log
        each; recording goes on."""
        keys = [json.dumps(t, default=str, sort_keys=True) for t, _ in bad]
        bad = [b for b, key in zip(bad, keys) if key not in self.refused]
        if not bad:
            return
        quarantine_polled(self.paths, self.symbol, bad)
        self.refused.update(keys)
        for t, why in bad:
            self.log("recorder_trade_quarantined", symbol=self.symbol, reason=why,
                     trade_id=t.get("id") if isinstance(t, dict) else None)
        self.stats.quarantined += len(bad)

    def flush(self) -> int:
        """Write buffered trades into their hour files (atomic rewrite, dedup on id); returns rows written."""
        if not self.buffer:
            return 0
        rows = pd.concat(self.buffer, ignore_index=True)
        hours = rows["ts"] // HOUR_MS * HOUR_MS
        for hour, part in rows.groupby(hours):
            path = hour_file(self.paths, self.symbol, int(hour))
            table = pa.Table.from_pandas(_union(_read(path), part), schema=LIVE_SCHEMA, preserve_index=False)
            write_table_atomic(table, path)
        self.buffer.clear()
        self.stats.flushes += 1
        return len(rows)


def run_recorders(recorders: list[TradeRecorder], poll_s: float = 2.0, flush_s: float = 10.0,
                  duration_s: float | None = None, should_stop: Callable[[], bool] = lambda: False,
                  clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
    """Poll each recorder in turn until duration_s passes or should_stop(); flush every flush_s (merging
    finished hours) and always on the way out, also when a poll fails for good."""
    start = last_flush = clock()
    for r in recorders:
        r.stats.merged_hours += merge_closed_hours(r.paths, r.symbol, r.now_ms())
    try:
        while not should_stop() and (duration_s is None or clock() - start < duration_s):
            for r in recorders:
                r.poll()
            if clock() - last_flush >= flush_s:
                for r in recorders:
                    r.flush()
                    r.stats.merged_hours += merge_closed_hours(r.paths, r.symbol, r.now_ms())
                last_flush = clock()
            if not should_stop():
                sleep(poll_s)
    finally:
        _stop_all(recorders)


def _stop_all(recorders: list[TradeRecorder]) -> None:
    """The last flush of every recorder, each lock let go whatever another's flush did; the first flush error
    is raised after all of them (and logged with the others)."""
    errors = []
    for r in recorders:
        try:
            r.flush()
        except Exception as exc:  # noqa: BLE001 - the other symbols still flush; re-raised below
            r.log("recorder_flush_failed", symbol=r.symbol, error=f"{type(exc).__name__}: {exc}")
            errors.append(exc)
        finally:
            r.lock.close()
        r.log("recorder_stopped", symbol=r.symbol, polls=r.stats.polls, new=r.stats.new,
              gaps=len(r.stats.gaps), merged_hours=r.stats.merged_hours, quarantined=r.stats.quarantined)
    if errors:
        raise errors[0]
