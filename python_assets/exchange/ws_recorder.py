"""The live recorder service: one process, one BloFin public WebSocket for many symbols (trades, books,
funding-rate), REST for mark/index prices, hole back-fill and the daily instruments snapshot.

Why raw `websockets` and not ccxt.pro's watch_*: ccxt.pro's BloFin order book handler ignores prevSeqId
(a lost update goes unnoticed and the book silently diverges), and its trade cache is a fixed-size ring
(tradesLimit, 1000) that drops trades when a burst outruns the consumer; neither tells the caller that a
reconnect happened. Recording needs all three, so the WebSocket side speaks BloFin's protocol directly
(the message shapes are those ccxt.pro parses) and ccxt's REST client does the rest.

Flow: a reader task puts raw frames into a bounded asyncio.Queue (full queue -> the reader waits, so TCP
pushes back: memory stays bounded); one consumer applies them in order. Connection ends are queued too, so
gaps are booked in stream order. Reconnects back off exponentially with jitter; a text 'ping' keeps the
connection alive and silence longer than stall_s is a stall (the connection is dropped and re-opened).
SIGTERM / duration: stop reading, drain the queue, flush everything, close the segments.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import websockets

from python_assets.config import Paths
from python_assets.exchange import rec_rest as rest
from python_assets.exchange import rec_store as store
from python_assets.exchange.book import Applied
from python_assets.exchange.rec_lock import take_recorder_lock
from python_assets.exchange.rec_symbol import LastGap, SymbolRecorder

DEFAULT_WS_URL = "wss://openapi.blofin.com/ws/public"


@dataclass(frozen=True)
class RecorderSettings:
    """Everything the recorder is told (from CLI arguments; no environment reads here)."""

    symbols: tuple[str, ...]
    ws_url: str = DEFAULT_WS_URL
    rest_url: str | None = None
    depth: int = 20
    sample_ms: int = 1000
    flush_ms: int = 1000
    merge_ms: int = 10_000
    mark_poll_ms: int = 5000
    ping_s: float = 20.0
    stall_s: float = 30.0
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    queue_size: int = 1000
    max_buffer_rows: int = 100_000
    rest_trades_limit: int = 100
    status_s: float = 5.0
    duration_s: float | None = None


def subscriptions(inst_ids: list[str]) -> list[dict]:
    """The subscribe args for every symbol: trades, books and funding-rate."""
    return [{"channel": ch, "instId": i} for i in inst_ids for ch in ("trades", "books", "funding-rate")]


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [base/2, min(cap, base * 2^attempt)]."""
    top = min(cap, base * (2 ** attempt))
    return rng.uniform(min(base / 2, top), top)


@dataclass
class Recorder:
    """The service; run() until stop() or the duration passes."""

    paths: Paths
    settings: RecorderSettings
    clock: Callable[[], float] = time.time
    out: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    symbols: dict[str, SymbolRecorder] = field(default_factory=dict)
    locks: list[IO[str]] = field(default_factory=list)
    intervals: dict[str, int | None] = field(default_factory=dict)  # last known funding interval per symbol
    last_gap: LastGap | None = None
    msgs: int = 0
    reconnects: int = 0
    max_queue: int = 0

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def setup(self) -> None:
        """Resolve the symbols on REST (contract values), take each one's recorder lock (a second recorder of a
        symbol is refused: RecorderBusy), resume from the lake, take the instruments snapshot."""
        self.ex = rest.rest_exchange(self.settings.rest_url, rate_limit_ms=1 if self.settings.rest_url else None)
        markets = rest.markets_by_lake_symbol(self.ex)
        try:
            for name in self.settings.symbols:
                sym = name.upper().replace("/", "-").split(":")[0]
                if sym not in markets:
                    raise ValueError(f"no BloFin swap {name!r} (known e.g. {', '.join(list(markets)[:3])})")
                m = markets[sym]
                self.locks.append(take_recorder_lock(self.paths, sym))
                rec = SymbolRecorder(self.paths, sym, m["id"], rest.contract_value(m), self.settings.depth,
                                     self.session_id, self.now_ms, on_gap=self._gap_seen, out=self.out)
                rec.resume()
                self.symbols[m["id"]] = rec
        except BaseException:
            self.release()
            raise
        self.snapshot_day = ""
        self.take_instruments()

    def release(self) -> None:
        """Let go of the symbols' recorder locks (at the end of run(), or when setup fails)."""
        for handle in self.locks:
            handle.close()
        self.locks.clear()

    def _gap_seen(self, gap: LastGap) -> None:
        self.last_gap = gap

    def take_instruments(self) -> None:
        """The daily instruments snapshot (and settled funding history of the recorded symbols), once per UTC day."""
        day = store.day_of(self.now_ms())
        if day == self.snapshot_day:
            return
        known = self.intervals = self.intervals or store.stored_intervals(self.paths)
        for inst_id, rec in self.symbols.items():
            try:
                settled = rest.funding_history(self.ex, inst_id)
            except Exception as exc:  # noqa: BLE001 - REST down: the snapshot keeps the last known interval
                self.out(f"funding history {inst_id}: {exc}")
                continue
            known[rec.symbol] = rest.interval_hours(settled) or known.get(rec.symbol)
            rec.confirmed.update({t: r for t, r in settled})
        try:
            recorded = {r.symbol: known.get(r.symbol) for r in self.symbols.values()}
            rows = rest.instrument_rows(self.ex, self.now_ms(), recorded)
            store.write_instruments(self.paths, rows, self.now_ms())
            self.snapshot_day = day
        except Exception as exc:  # noqa: BLE001 - retried at the next flush
            self.out(f"instruments snapshot failed: {exc}")
            return
        self.refresh_contract_values(rows)

    def refresh_contract_values(self, rows: list[tuple]) -> None:
        """Convert later sizes with each recorded symbol's contract value in a new snapshot (a missing or
        non-positive one is refused: the value in use stays, and it is said)."""
        values = {row[0]: row[2] for row in rows}
        for rec in self.symbols.values():
            new = values.get(rec.symbol)
            if new is None or not math.isfinite(new) or new <= 0:
                self.out(f"instruments snapshot: no valid contract value for {rec.symbol} ({new!r}); "
                          f"sizes stay converted with {rec.contract_value}")
            elif new != rec.contract_value:
                self.out(f"{rec.symbol}: contract value {rec.contract_value} -> {new} (instruments snapshot)")
                rec.contract_value = new

    # ---- run ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, record and reconnect until stopped; always flushes on the way out."""
        self.stopping = asyncio.Event()
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=self.settings.queue_size)
        self.flush_lock = asyncio.Lock()
        self.ws = None
        consumer = asyncio.create_task(self.consume())
        timers = [asyncio.create_task(t) for t in (self.sampler(), self.flusher(), self.marks(), self.status())]
        if self.settings.duration_s is not None:
            asyncio.get_running_loop().call_later(self.settings.duration_s, self.stop)
        try:
            await self.connect_loop()
        finally:
            await self.queue.put(("end", None))
            await consumer
            for t in timers:
                t.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
            try:
                await self.flush_all(merge=True, final=True)
            finally:
                self.release()

    async def flush_all(self, merge: bool, final: bool = False) -> None:
        """Take every symbol's buffers in the loop, write them in a worker thread (the loop keeps reading);
        one flush at a time. A cancelled flush (the flusher timer at shutdown) keeps the lock until its thread
        ends: the thread cannot be stopped, and a next flush reading the hour file it is replacing would lose its rows.
        A symbol's write the lake refuses or that fails is said and kept to be written again (rec_flush)."""
        async with self.flush_lock:
            batches = [(rec, rec.take(final)) for rec in self.symbols.values()]
            work = asyncio.ensure_future(asyncio.to_thread(lambda: [rec.write(batch, merge) for rec, batch in batches]))
            cancelled = False
            while not work.done():
                try:
                    await asyncio.shield(work)
                except asyncio.CancelledError:  # however often: the lock stays held until the thread ends
                    cancelled = True
            for (rec, _), held in zip(batches, work.result()):  # a symbol's failed write is its own (rec_flush)
                rec.keep(held)
            if cancelled:
                raise asyncio.CancelledError

    def stop(self) -> None:
        """Ask the service to finish (SIGTERM, Ctrl-C, duration)."""
        self.stopping.set()

    async def connect_loop(self) -> None:
        rng = random.Random()
        attempt = 0
        while not self.stopping.is_set():
            cause = "disconnect"
            try:
                async with websockets.connect(self.settings.ws_url, ping_interval=None, max_size=2**24,
                                              open_timeout=10, close_timeout=1) as ws:
                    self.ws, attempt = ws, 0
                    await ws.send(json.dumps({"op": "subscribe", "args": subscriptions(list(self.symbols))}))
                    cause = await self.read(ws)
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
                self.out(f"websocket: {type(exc).__name__}: {exc}")
            self.ws = None
            if self.stopping.is_set():
                await self.queue.put(("lost", "shutdown"))
                return
            await self.queue.put(("lost", cause))
            self.reconnects += 1
            delay = backoff_delay(attempt, self.settings.backoff_s, self.settings.max_backoff_s, rng)
            attempt += 1
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def read(self, ws) -> str:
        """Queue frames until the connection ends (-> 'disconnect'), sends no data for stall_s (-> 'stall';
        pongs alone do not count: a server that answers pings but sends nothing is stalled) or we stop."""
        pinger = asyncio.create_task(self._ping(ws))
        stop = asyncio.create_task(self.stopping.wait())
        last_data = time.monotonic()
        try:
            while not self.stopping.is_set():
                wait = self.settings.stall_s - (time.monotonic() - last_data)
                if wait <= 0:
                    return "stall"
                recv = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({recv, stop}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if recv not in done:
                    recv.cancel()
                    if stop in done:
                        return "shutdown"
                    continue
                try:
                    frame = recv.result()
                except websockets.ConnectionClosed:
                    return "disconnect"
                if frame in ("pong", b"pong"):
                    continue
                await self.queue.put(("msg", frame))
                last_data = time.monotonic()  # after the put: waiting on a full queue is not silence
                self.max_queue = max(self.max_queue, self.queue.qsize())
            return "shutdown"
        finally:
            pinger.cancel()
            stop.cancel()

    async def _ping(self, ws) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_s)
            try:
                await ws.send("ping")
            except websockets.WebSocketException:
                return

    async def consume(self) -> None:
        """Apply queued frames in order until the end marker."""
        while True:
            kind, item = await self.queue.get()
            if kind == "end":
                return
            if kind == "lost":
                for rec in self.symbols.values():
                    rec.connection_lost(item)
                continue
            self.msgs += 1
            await self.handle(item)
            if sum(r.pending_rows() for r in self.symbols.values()) > self.settings.max_buffer_rows:
                await self.flush_all(merge=False)

    async def handle(self, frame: str | bytes) -> None:
        """One frame: data goes to its symbol; anything unreadable is said once and skipped."""
        if frame in ("pong", b"pong"):
            return
        try:
            msg = json.loads(frame)
            arg = msg.get("arg") or {}
            channel, rec = arg.get("channel"), self.symbols.get(arg.get("instId"))
        except (ValueError, AttributeError):
            self.out(f"unreadable frame skipped: {str(frame)[:120]}")
            return
        if rec is None or "data" not in msg:
            if msg.get("event") == "error":
                self.out(f"exchange error: {msg}")
            return
        try:
            if channel == "trades":
                for hole in rec.on_trades(msg["data"]):
                    await self.backfill(rec, hole)
            elif channel == "books":
                if rec.on_book(msg.get("action", "update"), msg["data"]) in (Applied.SEQ_GAP, Applied.BAD, Applied.CROSSED):
                    await self.resubscribe(rec.inst_id)
            elif channel == "funding-rate":
                rec.on_funding(msg["data"])
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            self.out(f"{channel} {rec.symbol}: bad message skipped ({type(exc).__name__}: {exc})")

    async def backfill(self, rec: SymbolRecorder, hole) -> None:
        """Fetch the recent trades from REST and give the hole what it still holds."""
        try:
            rows = await asyncio.to_thread(rest.recent_trades, self.ex, rec.inst_id, self.settings.rest_trades_limit)
        except Exception as exc:  # noqa: BLE001 - REST down: the hole is lost, and said so
            self.out(f"back-fill {rec.symbol} failed: {exc}")
            rows = []
        try:
            rec.fill(hole, rows)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:  # a REST answer fill() cannot read
            self.out(f"back-fill {rec.symbol}: REST answer unreadable ({type(exc).__name__}: {exc}), hole kept as lost")
            rec.fill(hole, [])

    async def resubscribe(self, inst_id: str) -> None:
        """Unsubscribe and subscribe the books channel again: BloFin answers with a fresh snapshot."""
        ws = self.ws
        if ws is None:
            return  # reconnecting: the new connection subscribes anyway
        arg = [{"channel": "books", "instId": inst_id}]
        try:
            await ws.send(json.dumps({"op": "unsubscribe", "args": arg}))
            await ws.send(json.dumps({"op": "subscribe", "args": arg}))
        except websockets.WebSocketException:
            pass

    # ---- timers ------------------------------------------------------------------------------------
    async def _every(self, ms: int) -> None:
        """Sleep to the next multiple of ms (wall clock grid)."""
        now = self.now_ms()
        await asyncio.sleep(((now // ms + 1) * ms - now) / 1000)

    async def sampler(self) -> None:
        while True:
            await self._every(self.settings.sample_ms)
            for rec in self.symbols.values():
                if rec.sample():  # dropped as crossed too long: ask for a fresh snapshot
                    await self.resubscribe(rec.inst_id)

    async def flusher(self) -> None:
        last_merge = 0.0
        while True:
            await self._every(self.settings.flush_ms)
            merge = self.now_ms() - last_merge >= self.settings.merge_ms
            await self.flush_all(merge)
            if merge:
                last_merge = self.now_ms()
                self.take_instruments()

    async def marks(self) -> None:
        while True:
            for inst_id, rec in self.symbols.items():
                try:
                    rec.on_mark(await asyncio.to_thread(rest.mark_price, self.ex, inst_id))
                except Exception:  # noqa: BLE001 - a failed poll ends the mark segment; the next one reopens it
                    rec.on_mark(None)
            await asyncio.sleep(self.settings.mark_poll_ms / 1000)

    def status_line(self, rate: float) -> str:
        """symbols, messages per second, trades, reconnects, the last gap and the lake writes not written."""
        gap = self.last_gap
        last = f"{gap.symbol} {gap.dataset} {gap.cause} at {store.day_of(gap.at_ms)} " \
               f"{time.strftime('%H:%M:%S', time.gmtime(gap.at_ms / 1000))}" if gap else "none"
        trades = sum(r.counts["trades"] + r.counts["backfilled"] for r in self.symbols.values())
        held = "; ".join(f"{r.symbol} {', '.join(r.refused)}" for r in self.symbols.values() if r.refused)
        return (f"recording {' '.join(r.symbol for r in self.symbols.values())} | {rate:.1f} msgs/s | "
                f"{trades} trades | {self.reconnects} reconnects | last gap: {last}"
                + (f" | not written: {held}" if held else ""))

    async def status(self) -> None:
        seen, t0 = self.msgs, time.monotonic()
        while True:
            await asyncio.sleep(self.settings.status_s)
            t1 = time.monotonic()
            self.out(self.status_line((self.msgs - seen) / max(t1 - t0, 1e-9)))
            seen, t0 = self.msgs, t1
