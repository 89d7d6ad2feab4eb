"""Trade times that are numbers but not integers (a review's findings): JSON's Infinity, NaN and 1e400 made the
quarantine raise OverflowError, which killed the recorder's consumer task; an unreadable REST back-fill answer
left the message's other holes in `filling` for good (their days never marked complete)."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_rec_symbol import DAY0, H, Clock, gaps, recorder, trade
from test_rec_symbol_bad_trades import quarantined

from python_assets.config import Paths
from python_assets.exchange import ws_recorder
from python_assets.exchange.rec_symbol import SymbolRecorder
from python_assets.exchange.ws_recorder import Recorder, RecorderSettings


@pytest.mark.parametrize("ts", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_a_trade_stamped_with_a_non_finite_json_number_is_quarantined_and_recording_goes_on(data_dir: Paths,
                                                                                            ts: str) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_trades([trade(1, t)])
    rec.on_trades(json.loads(f'[{{"tradeId":"2","ts":{ts},"price":"1","size":"1","side":"buy"}}]'))
    assert rec.on_trades([trade(3, t + 1)]) == []
    assert [r[0] for r in rec.trades] == ["1", "3"]
    got = quarantined(data_dir)
    assert got[["reason", "ts"]].values.tolist() == [["unreadable_ts", 0]]
    assert gaps(data_dir)[["cause", "status"]].values.tolist() == [["bad_trade", "lost"]]


def service_with(data_dir: Paths, clock: Clock) -> tuple[Recorder, SymbolRecorder, list[str]]:
    lines: list[str] = []
    service = Recorder(data_dir, RecorderSettings(symbols=("BTC-USDT",)), clock=lambda: clock.t / 1000,
                       out=lines.append)
    service.ex = None  # REST is stubbed (rest.recent_trades) in each test
    rec = SymbolRecorder(data_dir, "BTC-USDT", "BTC-USDT", 1.0, 5, "s1", clock)
    service.symbols["BTC-USDT"] = rec
    return service, rec, lines


def frame(*trades: dict) -> str:
    return json.dumps({"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": list(trades)})


def test_a_rest_back_fill_row_with_an_infinite_time_is_quarantined_and_the_hole_recorded(
        data_dir: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(DAY0 + 10 * H)
    t = clock.t
    rows = json.loads(f'[{{"tradeId":"2","ts":Infinity,"price":"1","size":"1","side":"buy"}}, '
                      f'{{"tradeId":"3","ts":"{t + 2}","price":"100","size":"1","side":"sell"}}]')
    monkeypatch.setattr(ws_recorder.rest, "recent_trades", lambda *a: rows)
    service, rec, lines = service_with(data_dir, clock)
    asyncio.run(service.handle(frame(trade(1, t))))
    asyncio.run(service.handle(frame(trade(4, t + 3))))
    assert lines == [] and rec.filling == []
    assert sorted(r[0] for r in rec.trades) == ["1", "3", "4"]
    assert list(quarantined(data_dir)["reason"]) == ["unreadable_ts"]
    assert gaps(data_dir)[["cause", "status", "recovered_rows"]].values.tolist() == [["trade_id_gap", "partial", 1]]


def test_an_unreadable_rest_answer_still_records_every_hole_of_the_message(
        data_dir: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(DAY0 + 10 * H)
    t = clock.t
    monkeypatch.setattr(ws_recorder.rest, "recent_trades", lambda *a: {"code": "oops"})  # not a list: fill() raises
    service, rec, lines = service_with(data_dir, clock)
    asyncio.run(service.handle(frame(trade(1, t))))
    asyncio.run(service.handle(frame(trade(3, t + 2), trade(6, t + 5))))
    assert rec.filling == [] and rec.hole_floor() is None
    assert gaps(data_dir)[["status", "recovered_rows"]].values.tolist() == [["lost", 0], ["lost", 0]]
    assert len(lines) == 2 and all("REST answer unreadable" in line for line in lines)
