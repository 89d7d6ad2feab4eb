"""A local fake of BloFin's public WebSocket (trades, books, funding-rate) plus its REST API (the REST fake of
fake_blofin.py, its recent trades and funding history taken from the same simulated market, and mark-price).

Message shapes are BloFin's, as ccxt.pro's blofin.py parses them: subscribe {"op": "subscribe", "args":
[{"channel", "instId"}]} -> {"event": "subscribe", "arg"}; data {"arg", "data": [...]} and for books
{"arg", "action": "snapshot" | "update", "data": {asks, bids, ts, seqId, prevSeqId}}; text ping -> pong.
Faults: drop() (every connection cut), skip_seq(), stale(), stall(s), burst(n), skip_trades(n); the market
keeps running through them, so the REST recent-trades answer can fill trade holes.

Standalone: `python -m tests.exchange.fake_blofin_ws --port 8765 --rest-port 8766 [--realistic]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.server import serve

try:
    from fake_blofin import FakeBlofin, Instrument
except ImportError:  # run as python -m tests.exchange.fake_blofin_ws
    from tests.exchange.fake_blofin import FakeBlofin, Instrument


@dataclass
class FakeBook:
    """One instrument's simulated book: price -> contracts per side, seqId, and its top levels per seqId."""

    mid: float
    tick: float
    rng: random.Random
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    seq: int = 1000
    ts: int = 0
    history: dict[int, tuple[list, list]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k in range(1, 201):
            self.bids[round(self.mid - k * self.tick, 6)] = float(self.rng.randint(1, 50))
            self.asks[round(self.mid + k * self.tick, 6)] = float(self.rng.randint(1, 50))

    def top(self, n: int = 25) -> tuple[list, list]:
        return (sorted(self.bids.items(), key=lambda kv: -kv[0])[:n], sorted(self.asks.items())[:n])

    def change(self, ts: int) -> tuple[dict, int]:
        """Move a few levels near the top; returns the update's levels and its prevSeqId."""
        bids, asks = [], []
        for _ in range(self.rng.randint(1, 4)):
            side, out = (self.bids, bids) if self.rng.random() < 0.5 else (self.asks, asks)
            sign = -1 if side is self.bids else 1
            price = round(self.mid + sign * self.rng.randint(1, 30) * self.tick, 6)
            size = 0.0 if self.rng.random() < 0.2 else float(self.rng.randint(1, 60))
            side.pop(price, None) if size == 0 else side.__setitem__(price, size)
            out.append([price, size])
        prev, self.seq, self.ts = self.seq, self.seq + self.rng.randint(1, 3), ts
        self.history[self.seq] = self.top()
        return {"asks": asks, "bids": bids}, prev


class FakeBlofinLive(FakeBlofin):
    """WebSocket + REST fake over one simulated market; `with FakeBlofinLive(...) as fake:` then fake.ws_url, fake.url."""

    def __init__(self, trades_per_s: float = 50.0, book_ms: int = 20, funding_ms: int = 2000, rest_limit: int = 100,
                 seed: int = 7, ws_port: int = 0, **kw) -> None:
        super().__init__(**kw)
        self.trades_per_s, self.book_ms, self.funding_ms, self.rest_limit = trades_per_s, book_ms, funding_ms, rest_limit
        self.ws_port = ws_port
        self.rng = random.Random(seed)
        self.sent: dict[str, list[dict]] = {i.inst_id: [] for i in self.instruments}
        self.books = {i.inst_id: FakeBook(i.base_price, 0.1, random.Random(seed + n)) for n, i in enumerate(self.instruments)}
        self.next_id = {i.inst_id: 50_000_000 + 1_000_000 * n for n, i in enumerate(self.instruments)}
        self.settled: dict[str, list[tuple[int, float]]] = {i.inst_id: [] for i in self.instruments}
        self.conns: dict[object, set[tuple[str, str]]] = {}
        self.outbox: dict[object, asyncio.Queue] = {}
        self.stalled_until = 0.0
        self.skip_trade_n = {i.inst_id: 0 for i in self.instruments}
        self.skip_seq_n = {i.inst_id: 0 for i in self.instruments}
        self.stale_n = {i.inst_id: 0 for i in self.instruments}
        self.pending_burst: list[tuple[str, int]] = []
        self.snapshots_sent = 0
        self.connections = 0

    # ---- market --------------------------------------------------------------------------------
    def _new_trades(self, inst: Instrument, n: int, ts: int) -> list[dict]:
        out = []
        for _ in range(n):
            k = self.next_id[inst.inst_id]
            self.next_id[inst.inst_id] += 1
            out.append({"instId": inst.inst_id, "tradeId": str(k), "price": f"{inst.base_price + (k % 11) - 5:.1f}",
                        "size": str(1 + k % 5), "side": "buy" if k % 3 else "sell", "ts": str(ts)})
        with self._lock:
            self.sent[inst.inst_id] += out
        return out

    def all_sent(self, inst_id: str) -> list[dict]:
        """Every trade the market made (sent on the WebSocket or not), oldest first."""
        with self._lock:
            return list(self.sent[inst_id])

    def trades(self, q: dict) -> dict:
        inst = self.inst(q.get("instId", ""))
        if inst is None:
            return {"code": "152002", "msg": "Parameter instId error."}
        limit = min(int(q.get("limit", 100)), self.rest_limit)
        with self._lock:
            rows = self.sent[inst.inst_id][-limit:]
        return {"code": "0", "msg": "", "data": list(reversed(rows))}

    def funding(self, q: dict) -> dict:
        inst = self.inst(q.get("instId", ""))
        rows = self.settled.get(inst.inst_id, []) if inst else []
        limit = int(q.get("limit", 100))
        return {"code": "0", "msg": "", "data": [{"instId": inst.inst_id, "fundingRate": str(r), "fundingTime": str(t)}
                                                 for t, r in reversed(rows[-limit:])]}

    def mark(self, q: dict) -> dict:
        inst = self.inst(q.get("instId", ""))
        if inst is None:
            return {"code": "152002", "msg": "Parameter instId error."}
        mid = self.books[inst.inst_id].mid
        return {"code": "0", "msg": "", "data": [{"instId": inst.inst_id, "markPrice": str(mid), "indexPrice": str(mid - 1),
                                                  "ts": str(self.now_ms())}]}

    def route(self, path: str, q: dict):
        if path == "/api/v1/market/mark-price":
            return "mark", lambda: self.mark(q)
        return super().route(path, q)

    # ---- faults (callable from any thread) -----------------------------------------------------
    def drop(self) -> None:
        """Cut every connection abruptly (no close frame)."""
        self.loop.call_soon_threadsafe(lambda: [ws.transport.abort() for ws in list(self.conns)])

    def skip_seq(self, inst_id: str, n: int = 1) -> None:
        self.skip_seq_n[inst_id] += n

    def stale(self, inst_id: str) -> None:
        self.stale_n[inst_id] += 1

    def skip_trades(self, inst_id: str, n: int) -> None:
        self.skip_trade_n[inst_id] += n

    def stall(self, seconds: float) -> None:
        self.stalled_until = time.time() + seconds

    def burst(self, inst_id: str, n: int = 10_000) -> None:
        self.pending_burst.append((inst_id, n))

    # ---- server --------------------------------------------------------------------------------
    async def _send(self, channel: str, inst_id: str, msg: dict) -> None:
        """Queue a message to every subscribed connection without yielding: frames leave in creation order."""
        if time.time() < self.stalled_until:
            return
        text = json.dumps(msg)
        for ws, subs in list(self.conns.items()):
            if (channel, inst_id) in subs:
                self.outbox[ws].put_nowait(text)

    async def _writer(self, ws) -> None:
        """Send one connection's queued frames in order."""
        box = self.outbox[ws]
        while True:
            text = await box.get()
            try:
                await ws.send(text)
            except websockets.ConnectionClosed:
                return

    async def _snapshot(self, ws, inst_id: str) -> None:
        """Send the full book and subscribe the connection in one step (no await between), so the next
        update it gets continues the snapshot's seqId."""
        book = self.books[inst_id]
        data = {"asks": [[p, s] for p, s in sorted(book.asks.items())], "ts": str(book.ts or self.now_ms()),
                "bids": [[p, s] for p, s in sorted(book.bids.items(), key=lambda kv: -kv[0])],
                "seqId": str(book.seq), "prevSeqId": "0"}
        book.history.setdefault(book.seq, book.top())
        self.snapshots_sent += 1
        self.conns[ws].add(("books", inst_id))
        self.outbox[ws].put_nowait(json.dumps({"arg": {"channel": "books", "instId": inst_id}, "action": "snapshot",
                                               "data": data}))

    async def _handler(self, ws) -> None:
        self.conns[ws] = set()
        self.outbox[ws] = asyncio.Queue()
        writer = asyncio.create_task(self._writer(ws))
        self.connections += 1
        try:
            async for text in ws:
                if time.time() < self.stalled_until:
                    continue
                if text == "ping":
                    self.outbox[ws].put_nowait("pong")
                    continue
                msg = json.loads(text)
                for arg in msg.get("args", []):
                    key = (arg["channel"], arg["instId"])
                    if msg.get("op") == "unsubscribe":
                        self.conns[ws].discard(key)
                        self.outbox[ws].put_nowait(json.dumps({"event": "unsubscribe", "arg": arg}))
                    elif msg.get("op") == "subscribe":
                        self.outbox[ws].put_nowait(json.dumps({"event": "subscribe", "arg": arg}))
                        if key[0] == "books":
                            await self._snapshot(ws, key[1])
                        else:
                            self.conns[ws].add(key)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.conns.pop(ws, None)
            writer.cancel()
            self.outbox.pop(ws, None)

    async def _market(self) -> None:
        owed = {i.inst_id: 0.0 for i in self.instruments}
        next_book = next_funding = last = time.time()
        while True:
            await asyncio.sleep(0.01)
            now, step, last = self.now_ms(), time.time() - last, time.time()  # rates hold on a slow machine too
            for inst in self.instruments:
                owed[inst.inst_id] += self.trades_per_s * step
                n = int(owed[inst.inst_id])
                owed[inst.inst_id] -= n
                if n:
                    await self._emit_trades(inst, self._new_trades(inst, n, now))
            while self.pending_burst:
                inst_id, n = self.pending_burst.pop(0)
                asyncio.get_running_loop().create_task(self._burst(self.inst(inst_id), n))
            if time.time() >= next_book:
                next_book = max(next_book + self.book_ms / 1000, time.time() - 1.0)
                for inst in self.instruments:
                    await self._emit_book(inst.inst_id, now)
            if time.time() >= next_funding:
                next_funding += 0.5
                await self._emit_funding(now)

    async def _emit_trades(self, inst: Instrument, trades: list[dict]) -> None:
        skip = min(self.skip_trade_n[inst.inst_id], len(trades))
        self.skip_trade_n[inst.inst_id] -= skip
        if trades[skip:]:
            await self._send("trades", inst.inst_id, {"arg": {"channel": "trades", "instId": inst.inst_id},
                                                      "data": trades[skip:]})

    async def _burst(self, inst: Instrument, n: int) -> None:
        for _ in range(100):
            await self._emit_trades(inst, self._new_trades(inst, n // 100, self.now_ms()))
            await asyncio.sleep(0.01)

    async def _emit_book(self, inst_id: str, now: int) -> None:
        book = self.books[inst_id]
        arg = {"channel": "books", "instId": inst_id}
        if self.stale_n[inst_id]:
            self.stale_n[inst_id] -= 1
            old = {"asks": [], "bids": [], "ts": str(now), "seqId": str(book.seq - 1), "prevSeqId": str(book.seq - 2)}
            await self._send("books", inst_id, {"arg": arg, "action": "update", "data": old})
        levels, prev = book.change(now)
        if self.skip_seq_n[inst_id]:
            self.skip_seq_n[inst_id] -= 1
            return
        data = {**levels, "ts": str(now), "seqId": str(book.seq), "prevSeqId": str(prev)}
        await self._send("books", inst_id, {"arg": arg, "action": "update", "data": data})

    def rate(self, n: int, settle: int) -> float:
        """The funding rate of instrument n settled at a time."""
        return round(0.0001 * (1 + n) + 1e-6 * (settle // self.funding_ms % 7), 8)

    async def _emit_funding(self, now: int) -> None:
        settle = (now // self.funding_ms + 1) * self.funding_ms
        for n, inst in enumerate(self.instruments):
            rate = self.rate(n, settle)
            settled = self.settled[inst.inst_id]
            if not settled or settled[-1][0] < settle - self.funding_ms:
                settled.append((settle - self.funding_ms, self.rate(n, settle - self.funding_ms)))
            await self._send("funding-rate", inst.inst_id, {"arg": {"channel": "funding-rate", "instId": inst.inst_id},
                                                            "data": [{"instId": inst.inst_id, "fundingRate": str(rate),
                                                                      "fundingTime": str(settle)}]})

    def __enter__(self) -> "FakeBlofinLive":
        super().__enter__()
        ready = threading.Event()

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            async with serve(self._handler, "127.0.0.1", self.ws_port, ping_interval=None) as server:
                self.ws_url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws/public"
                self._stop = asyncio.Event()
                market = asyncio.create_task(self._market())
                ready.set()
                await self._stop.wait()
                market.cancel()

        self._ws_thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        self._ws_thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._ws_thread.join(5)
        super().__exit__(*exc)


def main() -> None:
    """Run the fake standalone until Ctrl-C."""
    p = argparse.ArgumentParser(description="fake BloFin WebSocket + REST on 127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="WebSocket port")
    p.add_argument("--realistic", action="store_true", help="BTC-like rates: 8 trades/s, books every 100 ms")
    a = p.parse_args()
    kw = {"trades_per_s": 8.0, "book_ms": 100, "funding_ms": 8 * 3_600_000} if a.realistic else {}
    with FakeBlofinLive(ws_port=a.port, **kw) as fake:
        print(f"ws: {fake.ws_url}\nrest: {fake.url}", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
