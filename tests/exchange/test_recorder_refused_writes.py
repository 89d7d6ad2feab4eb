"""A lake write of one recorded symbol that the lake refuses (it holds synthetic data, or another market under the
symbol's name) or that fails does not end the recorder. It died silently (a review's finding): `generate` wrote
synthetic data into the data dir it recorded to, its next merge raised MarketRefused, flush_all's list stopped at
that symbol (the later symbols' taken batches dropped), the flusher task ended while status lines went on, and
nothing was flushed again. Now the refusal is said once and shown on the status line, the symbol's data is kept
(hours in live_trades, funding and a failed batch in memory) and written once the lake takes it, and the other
symbols and datasets go on."""

from __future__ import annotations

import asyncio
import shutil
from datetime import date

import pandas as pd
from test_rec_symbol import H, Clock

from python_assets.config import Paths
from python_assets.exchange import rec_store as store
from python_assets.exchange.rec_symbol import SymbolRecorder
from python_assets.exchange.ws_recorder import Recorder, RecorderSettings
from python_assets.ingest.market import generate_market
from python_assets.lake.store import FUNDING_SCHEMA, TRADE_SCHEMA, read_partition

H10 = 1_741_600_800_000  # 2025-03-10 10:00 UTC


def service(paths: Paths, clock: Clock, symbols: tuple[str, ...], lines: list[str]) -> Recorder:
    """The recorder service with these symbols' recording states, as setup() leaves it (no network)."""
    rec = Recorder(paths, RecorderSettings(symbols=symbols), clock=lambda: clock.t / 1000, out=lines.append)
    for s in symbols:
        sym = SymbolRecorder(paths, s, s, 1.0, 20, rec.session_id, clock, out=lines.append)
        sym.resume()
        rec.symbols[s] = sym
    return rec


def flush(rec: Recorder, merge: bool) -> None:
    """One flush_all, as the flusher timer runs it."""
    async def run() -> None:
        rec.flush_lock = asyncio.Lock()
        await rec.flush_all(merge)

    asyncio.run(run())


def trades(first: int, ts: int) -> list[dict]:
    return [{"tradeId": str(i), "ts": str(ts + i), "price": "100", "size": "1", "side": "buy"}
            for i in range(first, first + 2)]


def stored_trades(paths: Paths, symbol: str) -> list[str]:
    return read_partition(paths.trades / f"symbol={symbol}" / "date=2025-03-10" / "trades.parquet",
                          TRADE_SCHEMA)["trade_id"].tolist()


def test_a_refused_merge_and_settlement_are_said_once_kept_and_written_once_the_lake_takes_them(
        data_dir: Paths) -> None:
    """The review's repro at the service: generate writes synthetic BTC-USDT while SOL/ETH-USDT record."""
    clock, lines = Clock(H10 + 5 * 60_000), []
    rec = service(data_dir, clock, ("SOL-USDT", "ETH-USDT"), lines)
    sol, eth = rec.symbols.values()
    for s in (sol, eth):
        s.on_trades(trades(1, H10 + 60_000))
    flush(rec, merge=False)  # its first hour: live files only
    generate_market(data_dir, ["BTC-USDT"], [date(2025, 3, 9)])  # `generate` into the same data dir
    settle = H10 + 8 * 60_000
    sol.on_funding([{"fundingRate": "0.0001", "fundingTime": str(settle)}])
    sol.confirmed[settle - 8 * H] = 0.0002  # REST's settled history (the daily snapshot): real data too
    for minutes in (63, 64, 65):  # the hour is over: three merges
        clock.t = H10 + minutes * 60_000
        for s in (sol, eth):
            s.on_trades(trades(minutes, H10 + minutes * 60_000))
        flush(rec, merge=True)
    said = [line for line in lines if "not written" in line]
    assert len(said) == 4, lines  # once each: both symbols' trades merge (a lake holding synthetic data), SOL's funding
    assert {line.split(":")[0] for line in said} == {"SOL-USDT", "ETH-USDT"}
    assert any(line.startswith("SOL-USDT: funding not written") and "synthetic data" in line for line in said)
    assert "not written: SOL-USDT funding, settled funding, trades merge; ETH-USDT trades merge" in rec.status_line(0.0)
    for s in ("SOL-USDT", "ETH-USDT"):  # kept in live_trades, not merged, not lost
        assert (data_dir.live_trades / f"symbol={s}" / "date=2025-03-10" / "10.parquet").exists()
        assert (data_dir.live_trades / f"symbol={s}" / "date=2025-03-10" / "11.parquet").exists()
        assert not (data_dir.trades / f"symbol={s}").exists()
    assert sol.announced == {settle: 0.0001} and sol.confirmed == {settle - 8 * H: 0.0002}
    assert not (data_dir.funding / "symbol=SOL-USDT").exists()
    for dataset in ("trades", "funding"):  # the synthetic data deleted, as the refusal says
        shutil.rmtree(data_dir.lake / dataset / "symbol=BTC-USDT")
    clock.t = H10 + 2 * H + 5 * 60_000
    flush(rec, merge=True)
    assert sorted(stored_trades(data_dir, "SOL-USDT"), key=int) == ["1", "2", "63", "64", "65", "66"]
    assert len(stored_trades(data_dir, "ETH-USDT")) == 6
    funding = read_partition(data_dir.funding / "symbol=SOL-USDT" / "date=2025-03-10" / "funding.parquet",
                             FUNDING_SCHEMA)
    assert funding[["funding_ts", "funding_rate"]].values.tolist() == [[settle - 8 * H, 0.0002], [settle, 0.0001]]
    assert sum("written again" in line for line in lines) == 4 and "not written" not in rec.status_line(0.0)


def test_a_failed_write_of_one_symbol_keeps_its_batch_and_the_others_are_written(data_dir: Paths, monkeypatch) -> None:
    clock, lines = Clock(H10 + 5 * 60_000), []
    rec = service(data_dir, clock, ("SOL-USDT", "ETH-USDT"), lines)
    sol, eth = rec.symbols.values()
    real = store.write_segments

    def full_disk(paths, symbol, *args, **kwargs):
        if symbol == "SOL-USDT":
            raise OSError(28, "No space left on device")
        return real(paths, symbol, *args, **kwargs)

    monkeypatch.setattr(store, "write_segments", full_disk)
    for s in (sol, eth):
        s.on_trades(trades(1, H10 + 60_000))
        s.on_mark((H10 + 60_000, 100.0, 100.1))
    flush(rec, merge=False)
    flush(rec, merge=False)  # failing again: said once
    eth_live = data_dir.live_trades / "symbol=ETH-USDT" / "date=2025-03-10" / "10.parquet"
    assert len(pd.read_parquet(eth_live)) == 2  # written though SOL's failed first (its batch was dropped)
    assert [line for line in lines if "not written" in line] == [
        "SOL-USDT: lake write not written (its rows kept in memory, written at the next flush): "
        "OSError: [Errno 28] No space left on device"]
    assert len(sol.trades) == 2 and len(sol.marks) == 1 and sol.ended  # kept, not dropped
    monkeypatch.setattr(store, "write_segments", real)
    sol.on_trades(trades(3, H10 + 60_000))
    flush(rec, merge=False)
    sol_live = data_dir.live_trades / "symbol=SOL-USDT" / "date=2025-03-10" / "10.parquet"
    assert pd.read_parquet(sol_live)["trade_id"].tolist() == ["1", "2", "3", "4"] and not sol.trades
    assert set(store.read_segments(data_dir, "SOL-USDT", ["2025-03-10"])["dataset"]) == {"trades", "mark"}
    assert lines[-1] == "SOL-USDT: lake write written again"
