"""A local fake of the BloFin public REST API, enough for ccxt's fetch_ohlcv, fetch_trades and
fetch_funding_rate_history: OKX-style cursors (`after` = older than, `before` = newer than, newest
first, at most 100 rows), deterministic data, and injected faults (HTTP 429, dropped connections,
slow responses). It records every request so tests can check pagination and the rate limit."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

BARS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1H": 3_600_000,
        "4H": 14_400_000, "1D": 86_400_000}
FUNDING_MS = 8 * 3_600_000
MAX_LIMIT = 100


@dataclass
class Instrument:
    inst_id: str
    contract_value: float
    listed_ms: int
    base_price: float


def candle(inst: Instrument, ts: int, bar_ms: int) -> tuple[float, float, float, float, float]:
    """Deterministic OHLC + base volume of the bar opening at ts."""
    k = ts // 60_000
    o = inst.base_price * (1 + 0.05 * math.sin(k / 97.0))
    c = inst.base_price * (1 + 0.05 * math.sin((k + bar_ms // 60_000) / 97.0))
    h, lo = max(o, c) * 1.001, min(o, c) * 0.999
    return round(o, 6), round(h, 6), round(lo, 6), round(c, 6), float(1 + k % 7)


def funding_rate(ts: int) -> float:
    return round(0.0001 * math.sin(ts / FUNDING_MS / 3.0), 8)


@dataclass
class FakeBlofin:
    """Start with `with FakeBlofin(...) as fake:`; point ccxt (or BLOFIN_API_URL) at fake.url."""

    clock: Callable[[], float] = time.time
    instruments: list[Instrument] = field(default_factory=lambda: [
        Instrument("BTC-USDT", 0.001, 1_700_000_000_000, 60_000.0),
        Instrument("ETH-USDT", 0.01, 1_700_000_000_000, 3_000.0),
    ])
    trade_period_ms: int = 50
    trades_start_ms: int | None = None
    delay_s: float = 0.0
    faults: dict[tuple[str, int], str] = field(default_factory=dict)  # (endpoint, n-th call) -> 429 | drop
    requests: list[tuple[float, str, dict]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        if self.trades_start_ms is None:
            self.trades_start_ms = int(self.clock() * 1000) - 60_000

    # ---- data -------------------------------------------------------------------------------
    def inst(self, inst_id: str) -> Instrument | None:
        return next((i for i in self.instruments if i.inst_id == inst_id), None)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def all_trades(self, inst: Instrument, upto_ms: int) -> list[dict]:
        """Every trade up to a time: trade k at trades_start + k * period, ids increasing."""
        n = max(0, (upto_ms - self.trades_start_ms) // self.trade_period_ms + 1)
        return [self.trade(inst, k) for k in range(n)]

    def trade(self, inst: Instrument, k: int) -> dict:
        ts = self.trades_start_ms + k * self.trade_period_ms
        return {"tradeId": str(10_000_000 + k), "instId": inst.inst_id, "price": f"{inst.base_price + (k % 11) - 5:.1f}",
                "size": str(1 + k % 5), "side": "buy" if k % 3 else "sell", "ts": str(ts)}

    def _window(self, q: dict, step: int, first: int, last: int) -> list[int]:
        """Times (newest first) of a series on a step grid within (before, after) and [first, last]."""
        limit = min(int(q.get("limit", MAX_LIMIT)), MAX_LIMIT)
        hi = min(int(q["after"]) - 1 if "after" in q else last, last)
        lo = max(int(q["before"]) + 1 if "before" in q else first, first)
        top = hi // step * step
        out = []
        t = top
        while t >= lo and len(out) < limit:
            out.append(t)
            t -= step
        return out

    def candles(self, q: dict) -> dict:
        inst, bar = self.inst(q.get("instId", "")), q.get("bar", "1m")
        if inst is None or bar not in BARS:
            return {"code": "152002", "msg": "Parameter instId or bar error."}
        step, now = BARS[bar], self.now_ms()
        rows = []
        for t in self._window(q, step, -(-inst.listed_ms // step) * step, now):
            o, h, lo, c, vol = candle(inst, t, step)
            rows.append([str(t), str(o), str(h), str(lo), str(c), str(vol / inst.contract_value), str(vol),
                         str(round(vol * c, 6)), "1" if t + step <= now else "0"])
        return {"code": "0", "msg": "", "data": rows}

    def funding(self, q: dict) -> dict:
        inst = self.inst(q.get("instId", ""))
        if inst is None:
            return {"code": "152002", "msg": "Parameter instId error."}
        times = self._window(q, FUNDING_MS, -(-inst.listed_ms // FUNDING_MS) * FUNDING_MS, self.now_ms())
        return {"code": "0", "msg": "", "data": [
            {"instId": inst.inst_id, "fundingRate": str(funding_rate(t)), "fundingTime": str(t)} for t in times]}

    def trades(self, q: dict) -> dict:
        inst = self.inst(q.get("instId", ""))
        if inst is None:
            return {"code": "152002", "msg": "Parameter instId error."}
        limit = min(int(q.get("limit", MAX_LIMIT)), MAX_LIMIT)
        now = self.now_ms()
        last = (now - self.trades_start_ms) // self.trade_period_ms
        return {"code": "0", "msg": "", "data": [self.trade(inst, k) for k in range(last, max(-1, last - limit), -1)]}

    def instruments_body(self) -> dict:
        return {"code": "0", "msg": "", "data": [
            {"instId": i.inst_id, "baseCurrency": i.inst_id.split("-")[0], "quoteCurrency": "USDT",
             "contractValue": str(i.contract_value), "listTime": str(i.listed_ms), "maxLeverage": "100",
             "minSize": "1", "lotSize": "1", "tickSize": "0.1", "instType": "SWAP", "contractType": "linear",
             "state": "live"} for i in self.instruments]}

    # ---- server -----------------------------------------------------------------------------
    def route(self, path: str, q: dict) -> tuple[str, Callable[[], dict]] | None:
        return {
            "/api/v1/market/instruments": ("instruments", self.instruments_body),
            "/api/v1/market/candles": ("candles", lambda: self.candles(q)),
            "/api/v1/market/funding-rate-history": ("funding", lambda: self.funding(q)),
            "/api/v1/market/trades": ("trades", lambda: self.trades(q)),
        }.get(path)

    def __enter__(self) -> "FakeBlofin":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out as two writes: with Nagle's algorithm the body waited for the client's
            # delayed ACK of the headers, ~40 ms a request (a 31-request lake step took 1.4 s, not 0.1)
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                found = fake.route(url.path, q)
                with fake._lock:
                    name = found[0] if found else "unknown"
                    fake.counts[name] = n = fake.counts.get(name, 0) + 1
                    fake.requests.append((time.monotonic(), name, q))
                    fault = fake.faults.get((name, n))
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "429":
                    return self._send(429, {"code": "429", "msg": "Too Many Requests"}, {"Retry-After": "0"})
                if found is None:
                    return self._send(404, {"code": "404", "msg": "not found"})
                self._send(200, found[1]())

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def intervals(self, name: str) -> list[float]:
        """Seconds between consecutive requests to one endpoint."""
        times = [t for t, n, _ in self.requests if n == name]
        return [b - a for a, b in zip(times, times[1:])]
