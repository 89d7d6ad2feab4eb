"""The WebSocket recorder against the local fake BloFin (tests/exchange/fake_blofin_ws.py): a session stores
every trade once and books equal to the fake's at each stored seqId; every injected fault is detected,
recovered where the REST fake still can, and written to recorder_gaps; a 10,000-trade burst keeps memory
bounded; kill -9 and restart lose and duplicate nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
import tracemalloc

import duckdb
import pandas as pd
import pytest
from conftest import CLI
from fake_blofin_ws import FakeBlofinLive

from python_assets.config import Paths
from python_assets.exchange import rec_rest as rest
from python_assets.exchange.ws_recorder import Recorder, RecorderSettings

FAST = dict(sample_ms=50, flush_ms=100, merge_ms=60_000, mark_poll_ms=200, ping_s=0.2, stall_s=0.5,
            backoff_s=0.05, max_backoff_s=0.2, status_s=60.0, rest_trades_limit=2000)


def rows(paths: Paths, folder: str) -> pd.DataFrame:
    files = list((paths.lake / folder).rglob("*.parquet"))
    if not files:
        return pd.DataFrame()
    for attempt in range(5):  # a running recorder may replace a file between duckdb's list and its read
        try:
            return duckdb.sql(f"select * from read_parquet('{paths.lake / folder}/**/*.parquet', "
                              "hive_partitioning=true)").df()
        except duckdb.Error:
            if attempt == 4:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def record(paths: Paths, fake: FakeBlofinLive, seconds: float, faults: list[tuple[float, object]] = (),
           symbols: tuple[str, ...] = ("BTC-USDT", "ETH-USDT"), until=lambda rec: True, **kw) -> Recorder:
    """Run the recorder in this process; once it receives data, call each fault at its offset and stop
    `seconds` after that moment (a loaded machine may take a while to connect) once until(rec) holds."""
    rec = Recorder(paths, RecorderSettings(symbols=symbols, ws_url=fake.ws_url, rest_url=fake.url, **{**FAST, **kw}),
                   out=lambda line: None)
    rec.setup()
    started = threading.Event()

    def driver() -> None:
        deadline = time.time() + 30
        while rec.msgs < 10 * len(symbols) and time.time() < deadline:
            time.sleep(0.02)
        t0 = time.time()
        for at, fn in faults:
            time.sleep(max(0.0, t0 + at - time.time()))
            fn()
        time.sleep(max(0.0, t0 + seconds - time.time()))
        while not until(rec) and time.time() < deadline + 30:
            time.sleep(0.05)
        started.wait(30)
        rec.loop.call_soon_threadsafe(rec.stop)

    async def main() -> None:
        rec.loop = asyncio.get_running_loop()
        task = asyncio.create_task(rec.run())
        await asyncio.sleep(0)
        started.set()
        await task

    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    asyncio.run(main())
    thread.join(5)
    return rec


def assert_trades_once(paths: Paths, fake: FakeBlofinLive, symbol: str, cv: float) -> pd.DataFrame:
    """Stored trades are a run of consecutive ids the fake made, each once, with its values."""
    got = rows(paths, "live_trades")
    got = got[got["symbol"] == symbol].sort_values("trade_id")
    ids = got["trade_id"].astype(int).tolist()
    assert len(ids) == len(set(ids)) > 10
    assert ids == list(range(ids[0], ids[-1] + 1))
    sent = {t["tradeId"]: t for t in fake.all_sent(symbol)}
    assert int(max(sent)) - ids[-1] < 50  # recorded up to (nearly) the stop
    for r in got.itertuples():
        t = sent[r.trade_id]
        assert (r.ts, r.price, r.side) == (int(t["ts"]), float(t["price"]), t["side"])
        assert r.size == pytest.approx(float(t["size"]) * cv)
    return got


def assert_books_match(paths: Paths, fake: FakeBlofinLive, symbol: str, cv: float, depth: int = 20) -> pd.DataFrame:
    """Each stored book state equals the fake's top levels at that seqId."""
    got = rows(paths, "live_books")
    got = got[got["symbol"] == symbol]
    assert {"snapshot", "sample"} <= set(got["kind"])
    history = fake.books[symbol].history
    for (seq, kind), part in got.groupby(["seq_id", "kind"]):
        bids, asks = history[int(seq)]
        for side, levels in (("bid", bids[:depth]), ("ask", asks[:depth])):
            mine = part[part["side"] == side].sort_values("level")
            assert mine["price"].tolist() == [p for p, _ in levels]
            assert mine["size"].tolist() == pytest.approx([s * cv for _, s in levels])
            assert mine["level"].tolist() == list(range(1, len(levels) + 1))
    return got


def test_clean_session_stores_every_trade_once_and_the_fakes_books(data_dir: Paths) -> None:
    with FakeBlofinLive(trades_per_s=50, rest_limit=2000) as fake:
        # held open until a BTC settlement is stored: one falls due every 2 s, so 1.5 s alone may see none
        rec = record(data_dir, fake, 1.5, until=lambda rec: any((data_dir.funding / "symbol=BTC-USDT").rglob("*.parquet")))
    assert_trades_once(data_dir, fake, "BTC-USDT", 0.001)
    assert_trades_once(data_dir, fake, "ETH-USDT", 0.01)
    books = assert_books_match(data_dir, fake, "BTC-USDT", 0.001)
    assert books["seq_id"].nunique() > 2 and (books["kind"] == "snapshot").sum() == 40  # one snapshot, 20 a side
    assert rows(data_dir, "recorder_gaps").empty
    segs = rows(data_dir, "recorder_segments")
    assert set(segs["dataset"]) == {"trades", "books", "funding", "mark"}
    assert (segs["end_ms"] > segs["start_ms"]).all() and segs["session_id"].eq(rec.session_id).all()
    marks = rows(data_dir, "live_mark_prices")
    assert len(marks) >= 4 and (marks["index_price"] == marks["mark_price"] - 1).all()
    funding = rows(data_dir, "funding")
    # each stored rate is the one the fake announced for that settlement time; compared through the fake's
    # rate rule, not its `settled` list: the recorder may store a settlement that passed after the fake's
    # last funding message, before the fake itself lists it
    n = next(i for i, inst in enumerate(fake.instruments) if inst.inst_id == "BTC-USDT")
    btc = funding[funding["symbol"] == "BTC-USDT"]
    assert len(btc) >= 1 and all(t % fake.funding_ms == 0 and fake.rate(n, t) == r
                                 for t, r in zip(btc["funding_ts"], btc["funding_rate"]))
    inst = rows(data_dir, "instruments").set_index("symbol")
    assert inst.loc["ETH-USDT", "contract_value"] == 0.01 and inst.loc["BTC-USDT", "status"] == "live"


def test_each_fault_is_detected_recovered_where_possible_and_recorded(data_dir: Paths) -> None:
    with FakeBlofinLive(trades_per_s=50, rest_limit=2000) as fake:
        faults = [(0.0, lambda: fake.skip_seq("BTC-USDT")), (0.4, lambda: fake.stale("BTC-USDT")),
                  (0.8, lambda: fake.skip_trades("BTC-USDT", 5)), (1.2, fake.drop), (2.5, lambda: fake.stall(1.2))]
        rec = record(data_dir, fake, 6.0, faults)
    assert_trades_once(data_dir, fake, "BTC-USDT", 0.001)  # every hole back-filled from REST
    assert_trades_once(data_dir, fake, "ETH-USDT", 0.01)
    assert_books_match(data_dir, fake, "BTC-USDT", 0.001)
    gaps = rows(data_dir, "recorder_gaps")
    btc = gaps[gaps["symbol"] == "BTC-USDT"]
    got = {(r.dataset, r.cause, r.status) for r in btc.itertuples()}, rec.reconnects
    assert {("trades", "disconnect", "recovered"), ("books", "disconnect", "lost"), ("books", "seq_gap", "lost"),
            ("books", "stale_update", "recovered"), ("trades", "trade_id_gap", "recovered"),
            ("trades", "stall", "recovered"), ("books", "stall", "lost")} <= got[0], got
    assert btc.loc[btc["cause"] == "trade_id_gap", "recovered_rows"].tolist() == [5]
    assert (btc["end_ms"] >= btc["start_ms"]).all()
    assert rec.reconnects >= 2 and fake.snapshots_sent >= 6  # 2 symbols x (start, drop, stall) + the seq resubscribe


def test_a_burst_of_10000_trades_keeps_memory_bounded(data_dir: Paths) -> None:
    with FakeBlofinLive(trades_per_s=5, rest_limit=20_000) as fake:
        tracemalloc.start()
        rec = record(data_dir, fake, 3.0, [(0.2, lambda: fake.burst("BTC-USDT", 10_000))], symbols=("BTC-USDT",),
                     queue_size=20, stall_s=2.0, until=lambda rec: sum(r.counts["trades"] for r in rec.symbols.values()) > 10_010)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    got = assert_trades_once(data_dir, fake, "BTC-USDT", 0.001)
    assert len(got) > 10_000
    assert rec.max_queue <= 20
    assert rec.reconnects == 0 and rows(data_dir, "recorder_gaps").empty  # a full queue is not a stall
    assert peak < 60 * 2**20, peak  # the fake, the recorder and pandas writes together


def test_kill_9_and_restart_lose_and_duplicate_nothing(data_dir: Paths) -> None:
    with FakeBlofinLive(trades_per_s=20, rest_limit=2000) as fake:
        cmd = [*CLI, "record", "--symbols", "BTC-USDT", "--ws-url", fake.ws_url, "--rest-url", fake.url,
               "--sample-ms", "100", "--flush-ms", "100", "--mark-poll-ms", "500", "--rest-trades-limit", "2000",
               "--status-s", "0.5"]
        live = data_dir.lake / "live_trades"
        first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not list(live.rglob("*.parquet")) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        first.send_signal(signal.SIGKILL)
        first.wait()
        before = rows(data_dir, "live_trades")["trade_id"].astype(int).max()
        second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while time.time() < deadline:
            now = rows(data_dir, "live_trades")["trade_id"].astype(int).max()
            if now > before + 40:
                break
            time.sleep(0.1)
        time.sleep(1.5)  # live trades after the back-fill, and a status line or two
        second.send_signal(signal.SIGTERM)
        out = second.communicate(timeout=30)[0].decode()
    assert first.returncode == -signal.SIGKILL
    assert second.returncode == 0, out
    assert "msgs/s" in out and "last gap: BTC-USDT" in out  # the status line
    assert_trades_once(data_dir, fake, "BTC-USDT", 0.001)
    gaps = rows(data_dir, "recorder_gaps")
    assert {("trades", "restart", "recovered"), ("books", "restart", "lost")} <= {
        (r.dataset, r.cause, r.status) for r in gaps.itertuples()}
    assert rows(data_dir, "recorder_segments")["session_id"].nunique() == 2


def test_dry_run_prints_the_subscriptions_without_connecting() -> None:
    out = subprocess.run([*CLI, "record", "--symbols", "BTC-USDT", "ETH-USDT", "--ws-url", "ws://127.0.0.1:9/x",
                          "--dry-run"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ws://127.0.0.1:9/x" in out.stdout
    for ch in ("trades", "books", "funding-rate"):
        assert f"{ch:<13} ETH-USDT" in out.stdout


def test_a_flush_cancelled_mid_write_still_ends_before_the_next_flush_writes(data_dir: Paths) -> None:
    """Shutdown cancels the flusher timer while its write runs in a worker thread; the final flush must
    not read an hour file that write is about to replace, or that write's trades are lost."""
    rec = Recorder(data_dir, RecorderSettings(symbols=("BTC-USDT",), **FAST), out=lambda line: None)
    spans: list[tuple[float, float]] = []
    entered = threading.Event()

    class Slow:
        def take(self, final: bool = False) -> dict:
            return {}

        def write(self, batch: dict, merge: bool) -> dict:
            start = time.monotonic()
            entered.set()
            time.sleep(0.3)
            spans.append((start, time.monotonic()))
            return {}  # nothing to write again

        def keep(self, held: dict) -> None:
            pass

    rec.symbols = {"BTC-USDT": Slow()}

    async def main() -> None:
        rec.flush_lock = asyncio.Lock()
        first = asyncio.create_task(rec.flush_all(merge=False))
        await asyncio.to_thread(entered.wait, 5)
        first.cancel()
        await asyncio.sleep(0.05)
        first.cancel()  # twice: still no release before the thread ends
        await asyncio.gather(first, return_exceptions=True)
        await rec.flush_all(merge=True, final=True)

    asyncio.run(main())
    (s1, e1), (s2, _) = sorted(spans)
    assert len(spans) == 2 and s2 >= e1


def test_a_new_instruments_snapshot_refreshes_the_contract_value_and_a_missing_one_is_refused(data_dir: Paths) -> None:
    from fake_blofin import FakeBlofin

    lines: list[str] = []
    with FakeBlofin() as fake:
        now = {"s": fake.clock()}
        rec = Recorder(data_dir, RecorderSettings(symbols=("BTC-USDT",), ws_url="ws://127.0.0.1:1/x", rest_url=fake.url),
                       clock=lambda: now["s"], out=lines.append)
        rec.setup()
        sym = rec.symbols["BTC-USDT"]
        assert sym.contract_value == 0.001
        fake.inst("BTC-USDT").contract_value = 0.01  # the exchange changes the spec overnight
        now["s"] += 86_400
        rec.take_instruments()
        row = sym._trade_row({"tradeId": "1", "ts": "1", "price": "60000", "size": "5", "side": "buy"})
        assert sym.contract_value == 0.01 and row[3] == 0.05
        rec.refresh_contract_values([("BTC-USDT", 0, None, 1.0, 1.0, 0.1, 100.0, 8, "live")])
        assert sym.contract_value == 0.01 and "no valid contract value for BTC-USDT" in lines[-1]
    with pytest.raises(ValueError, match="no valid contract value"):
        rest.contract_value({"id": "BTC-USDT", "contractSize": None})


def test_a_second_recorder_of_a_symbol_is_refused_until_the_first_lets_go(data_dir: Paths) -> None:
    from fake_blofin import FakeBlofin

    from python_assets.exchange.rec_lock import RecorderBusy

    with FakeBlofin() as fake:
        def recorder(*symbols: str) -> Recorder:
            return Recorder(data_dir, RecorderSettings(symbols=symbols, ws_url="ws://127.0.0.1:1/x", rest_url=fake.url),
                            out=lambda line: None)

        first = recorder("BTC-USDT")
        first.setup()
        second = recorder("ETH-USDT", "BTC-USDT")
        with pytest.raises(RecorderBusy, match=f"BTC-USDT is already being recorded into .*pid {os.getpid()}"):
            second.setup()
        assert second.locks == []  # ETH-USDT's lock was let go with the refusal
        recorder("ETH-USDT").setup()  # ... so another recorder may take it
        first.release()
        recorder("BTC-USDT").setup()


def test_a_failed_funding_history_keeps_the_last_known_interval(data_dir: Paths, monkeypatch) -> None:
    from fake_blofin import FakeBlofin

    def snapshot_hours(day: str) -> list:
        path = data_dir.lake / "instruments" / f"date={day}" / "instruments.parquet"
        got = pd.read_parquet(path)
        return got.loc[got["symbol"] == "BTC-USDT", "funding_interval_hours"].tolist()

    with FakeBlofin() as fake:
        now = {"s": fake.clock() // 86_400 * 86_400 + 60}
        settings = RecorderSettings(symbols=("BTC-USDT",), ws_url="ws://127.0.0.1:1/x", rest_url=fake.url)
        rec = Recorder(data_dir, settings, clock=lambda: now["s"], out=lambda line: None)
        rec.setup()
        day0 = rec.snapshot_day
        assert snapshot_hours(day0) == [8]

        def down(*args, **kwargs):
            raise ConnectionError("REST down")

        monkeypatch.setattr(rest, "funding_history", down)
        now["s"] += 86_400
        rec.take_instruments()
        assert rec.snapshot_day != day0 and snapshot_hours(rec.snapshot_day) == [8]
        rec.release()
        now["s"] += 86_400
        restarted = Recorder(data_dir, settings, clock=lambda: now["s"], out=lambda line: None)
        restarted.setup()  # a new process: the interval comes from the newest stored snapshot
        assert snapshot_hours(restarted.snapshot_day) == [8]
