"""Unusable trades in the WebSocket recorder's messages (a review's findings): one bad trade is quarantined
with its reason and a lost 'bad_trade' gap, the message's other trades are kept, and ids stay continuous."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
from test_rec_symbol import DAY0, H, Clock, gaps, recorder, trade

from python_assets.config import Paths
from python_assets.exchange.rec_symbol import SymbolRecorder
from python_assets.exchange.ws_recorder import Recorder, RecorderSettings


def quarantined(paths: Paths) -> pd.DataFrame:
    files = sorted((paths.quarantine / "symbol=BTC-USDT").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def test_one_unusable_trade_is_quarantined_and_the_rest_of_its_message_kept(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    assert rec.on_trades([trade(1, t), trade(2, t + 1)]) == []
    no_price = {**trade(4, t + 3), "price": None}
    no_ts = {k: v for k, v in trade(5, t + 4).items() if k != "ts"}
    micro = trade(6, (t + 5) * 1000)
    junk_size = {**trade(7, t + 6), "size": "abc"}
    holes = rec.on_trades([trade(3, t + 2), no_price, no_ts, micro, junk_size, trade(8, t + 7)])
    assert holes == []  # the unusable trades' ids count: no id is missing
    assert [r[0] for r in rec.trades] == ["1", "2", "3", "8"]
    assert rec.tracker.last_id == 8
    assert rec.on_trades([trade(9, t + 8)]) == []
    got = quarantined(data_dir)
    assert sorted(got["reason"]) == ["time_outside_window", "unreadable_price", "unreadable_size", "unreadable_ts"]
    assert sorted(gaps(data_dir)["cause"]) == ["bad_timestamp", "bad_trade", "bad_trade", "bad_trade"]
    assert set(gaps(data_dir)["status"]) == {"lost"}


def test_a_trade_without_an_id_or_not_an_object_is_quarantined_not_stored(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_trades([trade(1, t), {**trade(2, t), "tradeId": None}, "garbage", trade(2, t + 1)])
    assert [r[0] for r in rec.trades] == ["1", "2"]
    assert sorted(quarantined(data_dir)["reason"]) == ["missing_trade_id", "missing_trade_id"]


def test_an_unusable_rest_trade_in_a_back_fill_is_quarantined_and_the_hole_still_recorded(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_trades([trade(1, t)])
    holes = rec.on_trades([trade(4, t + 3)])
    assert rec.fill(holes[0], [trade(2, t + 1), {**trade(3, t + 2), "price": "x"}]) == "partial"
    assert sorted(r[0] for r in rec.trades) == ["1", "2", "4"]
    assert list(quarantined(data_dir)["reason"]) == ["unreadable_price"]
    assert gaps(data_dir)[["cause", "status", "recovered_rows"]].values.tolist() == [["trade_id_gap", "partial", 1]]


def test_the_service_keeps_the_good_trades_of_a_message_with_a_bad_one(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    lines: list[str] = []
    service = Recorder(data_dir, RecorderSettings(symbols=("BTC-USDT",)), clock=lambda: clock.t / 1000,
                       out=lines.append)
    rec = SymbolRecorder(data_dir, "BTC-USDT", "BTC-USDT", 1.0, 5, "s1", clock)
    service.symbols["BTC-USDT"] = rec
    t = clock.t
    frame = {"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [trade(1, t), {**trade(2, t), "price": None},
                                                                          trade(3, t + 1)]}
    asyncio.run(service.handle(json.dumps(frame)))
    assert lines == []
    assert [r[0] for r in rec.trades] == ["1", "3"]


def test_an_unreadable_book_snapshot_applies_nothing_and_samples_nothing_until_a_good_one(data_dir: Paths) -> None:
    from python_assets.exchange.book import Applied

    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    good = {"bids": [["99", "1"], ["98", "2"]], "asks": [["101", "1"]], "ts": str(t), "seqId": "10", "prevSeqId": "0"}
    assert rec.on_book("snapshot", good) is Applied.SNAPSHOT
    bad = {"bids": [["97", "5"], ["oops", "1"]], "asks": [["102", "1"]], "ts": str(t + 5), "seqId": "20"}
    assert rec.on_book("snapshot", bad) is Applied.BAD
    assert not rec.book.valid and rec.book.bids == {99.0: 1.0, 98.0: 2.0} and rec.book.seq_id == 10
    before = len(rec.books)
    rec.sample()
    assert len(rec.books) == before  # nothing sampled from a book that is not whole
    assert rec.on_book("update", {**good, "seqId": "11", "prevSeqId": "10"}) is Applied.NO_BOOK
    clock.t += 1000
    assert rec.on_book("snapshot", {**good, "ts": str(t + 900), "seqId": "30"}) is Applied.SNAPSHOT
    got = gaps(data_dir)
    assert got[["dataset", "cause", "status", "start_ms", "end_ms"]].values.tolist() == [
        ["books", "bad_message", "lost", t, t + 900]]


def test_an_unreadable_book_update_leaves_the_book_untouched_and_invalid(data_dir: Paths) -> None:
    from python_assets.exchange.book import Applied, Book

    book = Book()
    book.apply("snapshot", {"bids": [["99", "1"]], "asks": [["101", "1"]], "ts": "1", "seqId": "10"})
    upd = {"bids": [["99", "0"], ["98", None]], "asks": [], "ts": "2", "seqId": "11", "prevSeqId": "10"}
    assert book.apply("update", upd) is Applied.BAD
    assert book.bids == {99.0: 1.0} and not book.valid and book.seq_id == 10


def test_a_readable_trade_the_lake_refuses_is_quarantined_at_once_with_a_bad_trade_gap(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    refused = [{**trade(2, t + 1), "price": "NaN"}, {**trade(3, t + 2), "price": "0"},
               {**trade(4, t + 3), "size": "-1"}, {**trade(5, t + 4), "size": "inf"}, {**trade(6, t + 5), "side": "hold"}]
    assert rec.on_trades([trade(1, t), *refused, trade(7, t + 6)]) == []
    assert [r[0] for r in rec.trades] == ["1", "7"]
    assert sorted(quarantined(data_dir)["reason"]) == [
        "invalid_side", "non_finite_price", "non_finite_size", "non_positive_price", "non_positive_size"]
    got = gaps(data_dir)
    assert len(got) == 5 and set(got["cause"]) == {"bad_trade"} and set(got["status"]) == {"lost"}


def test_a_back_fill_holding_only_refused_rows_does_not_recover_the_hole(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_trades([trade(1, t)])
    holes = rec.on_trades([trade(3, t + 2)])
    assert rec.fill(holes[0], [{**trade(2, t + 1), "size": "0"}]) == "lost"
    assert [r[0] for r in rec.trades] == ["1", "3"]
    assert list(quarantined(data_dir)["reason"]) == ["non_positive_size"]
    assert gaps(data_dir)[["status", "recovered_rows"]].values.tolist() == [["lost", 0]]


def test_a_trade_without_a_side_is_stored_with_a_null_side(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    no_side = {k: v for k, v in trade(1, t).items() if k != "side"}
    rec.on_trades([no_side, {**trade(2, t + 1), "side": None}, trade(3, t + 2)])
    assert [r[4] for r in rec.trades] == [None, None, "buy"]
    clock.t = DAY0 + 12 * H
    rec.flush(merge=True)
    assert quarantined(data_dir).empty and gaps(data_dir).empty
    lake = pd.read_parquet(data_dir.trades / "symbol=BTC-USDT" / "date=2027-01-16" / "trades.parquet")
    assert lake["trade_id"].tolist() == ["1", "2", "3"] and lake["side"].isna().tolist() == [True, True, False]


def test_a_side_in_capitals_is_stored_lowercased_as_ingest_stores_it(data_dir: Paths) -> None:
    """'BUY' was quarantined (invalid_side, a lost bad_trade gap) by the recorder while ingest stored it as 'buy'."""
    from python_assets.ingest.trades import ingest_file

    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    sides = ["BUY", " Sell ", "buy", "", "hold"]
    rec.on_trades([{**trade(i + 1, t + i), "side": side} for i, side in enumerate(sides)])
    assert [(r[0], r[4]) for r in rec.trades] == [("1", "buy"), ("2", "sell"), ("3", "buy"), ("4", None)]
    assert list(quarantined(data_dir)["reason"]) == ["invalid_side"]
    csv = data_dir.data_dir / "sides.csv"
    csv.write_text("trade_id,ts,price,size,side\n" + "".join(f"{i + 1},{t + i},100,1,{s}\n" for i, s in enumerate(sides)))
    other = Paths(data_dir.data_dir / "ingest")
    got = ingest_file(other, csv, "BTC-USDT", now=t + 10_000)
    assert (got.rows_added, got.reasons) == (4, {"invalid_side": 1})


def test_every_way_of_writing_a_side_is_stored_by_the_recorder_as_ingest_stores_it(data_dir: Paths) -> None:
    """The recorder only stripped and lowercased: 'b', 'bid', 'ask', 's', 'a' were quarantined (invalid_side) and
    'null', 'None', 'nan' too, where ingest stores buy, sell and NULL (trade_rules.side_of is now the one reading)."""
    from python_assets.ingest.trades import ingest_file

    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    sides = ["BUY", "b", "bid", "ask", "s", "a", "null", "None", "nan"]
    rec.on_trades([{**trade(i + 1, t + i), "side": side} for i, side in enumerate(sides)])
    assert quarantined(data_dir).empty
    csv = data_dir.data_dir / "sides.csv"
    csv.write_text("trade_id,ts,price,size,side\n" + "".join(f"{i + 1},{t + i},100,1,{s}\n" for i, s in enumerate(sides)))
    other = Paths(data_dir.data_dir / "ingest")
    assert ingest_file(other, csv, "BTC-USDT", now=t + 10_000).rows_added == len(sides)
    lake = pd.read_parquet(other.trades / "symbol=BTC-USDT").sort_values("ts")
    stored = [None if pd.isna(s) else s for s in lake["side"]]
    assert [r[4] for r in rec.trades] == stored == ["buy", "buy", "buy", "sell", "sell", "sell", None, None, None]


def test_a_trade_refused_for_its_value_is_filed_at_its_own_time_on_its_own_day(data_dir: Paths) -> None:
    # the review's repro: the last good trade 10 s before midnight, then a negative price stamped 10 s after it;
    # the gap was filed at 23:59:50 in the earlier day's partition (that day unusable, the trade's day clean)
    clock = Clock(DAY0 + 24 * H + 20_000)
    rec = recorder(data_dir, clock)
    rec.on_trades([trade(1, DAY0 + 24 * H - 10_000)])
    rec.on_trades([{**trade(2, DAY0 + 24 * H + 10_000), "price": "-5"}, trade(3, DAY0 + 24 * H + 11_000)])
    days = sorted(p.name for p in (data_dir.lake / "recorder_gaps" / "symbol=BTC-USDT").glob("date=*"))
    assert days == ["date=2027-01-17"]
    got = gaps(data_dir)
    assert got[["cause", "start_ms", "end_ms"]].values.tolist() == [["bad_trade", DAY0 + 24 * H + 10_000,
                                                                    DAY0 + 24 * H + 10_000]]
    assert list(quarantined(data_dir)["reason"]) == ["non_positive_price"]


def test_a_trade_without_a_readable_time_is_still_filed_at_the_last_trades_time(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    rec.on_trades([trade(1, clock.t - 5_000)])
    rec.on_trades([{**trade(2, clock.t), "ts": "soon"}, trade(3, (clock.t + 10 * H))])  # unreadable, then the future
    assert sorted(gaps(data_dir)["start_ms"]) == [clock.t - 5_000, clock.t - 5_000]
