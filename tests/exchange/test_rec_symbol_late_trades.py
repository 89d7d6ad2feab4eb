"""Trades at or below the last id in the WebSocket recorder (a review's findings): a trade of a recorded hole that
arrives late on the stream is stored once and its gap row revised, not dropped as a repeat; a true repeat is
dropped but counted, so every trade the stream sent is stored, quarantined or a counted duplicate."""

from __future__ import annotations

import pandas as pd
from test_rec_symbol import DAY0, H, Clock, gaps, recorder, trade

from python_assets.config import Paths
from python_assets.exchange.rec_symbol import MAX_OPEN_HOLES, SymbolRecorder
from python_assets.exchange.recorder import LIVE_SCHEMA, hour_file
from python_assets.lake.store import read_partition


def stored_ids(paths: Paths, hour_ms: int) -> list[str]:
    return read_partition(hour_file(paths, "BTC-USDT", hour_ms), LIVE_SCHEMA)["trade_id"].tolist()


def test_a_late_trade_of_a_lost_hole_is_stored_once_and_its_gap_recovered(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_trades([trade(10, t)])
    holes = rec.on_trades([trade(12, t + 5)])
    assert rec.fill(holes[0], [trade(10, t), trade(12, t + 5)]) == "lost"  # REST lags: it lacks 11
    assert rec.on_trades([trade(11, t + 3)]) == []  # 11 arrives late on the stream
    assert rec.on_trades([trade(11, t + 3), trade(12, t + 5)]) == []  # now both are repeats
    assert [r[0] for r in rec.trades] == ["10", "12", "11"]
    assert (rec.counts["trades"], rec.counts["duplicates"]) == (3, 2)
    got = gaps(data_dir)
    assert got[["cause", "status", "recovered_rows", "detail"]].values.tolist() == [
        ["trade_id_gap", "recovered", 1, "trade ids 11..11 missing (1), 0 from REST, 1 late on the stream"]]
    clock.t += 1000
    rec.flush(merge=False)
    assert stored_ids(data_dir, DAY0 + 10 * H) == ["10", "11", "12"]


def test_a_late_trade_before_the_back_fill_is_stored_once_and_counted_with_it(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_trades([trade(10, t)])
    holes = rec.on_trades([trade(14, t + 9)])  # 11, 12, 13 missing
    rec.on_trades([trade(12, t + 4)])  # late, while the back-fill is still under way
    assert rec.fill(holes[0], [trade(i, t + i - 10) for i in range(10, 15)]) == "recovered"
    assert sorted(r[0] for r in rec.trades) == ["10", "11", "12", "13", "14"]
    assert gaps(data_dir)[["status", "recovered_rows", "detail"]].values.tolist() == [
        ["recovered", 3, "trade ids 11..13 missing (3), 2 from REST, 1 late on the stream"]]


def test_a_late_trade_is_not_stored_again_by_a_back_fill_that_comes_after_100_newer_holes(data_dir: Paths) -> None:
    """The hole's record fell out of the newest MAX_OPEN_HOLES before its back-fill, which then buffered the late
    trade a second time (counted in trades and back-filled; the gap row said '1 from REST', not the late one)."""
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_trades([trade(10, t)])
    first = rec.on_trades([trade(12, t + 2)])[0]
    rec.on_trades([trade(11, t + 1)])  # late, before the back-fill
    for k in range(MAX_OPEN_HOLES + 1):
        rec.on_trades([trade(14 + 2 * k, t + 3 + k)])
    assert rec.fill(first, [trade(11, t + 1)]) == "recovered"
    assert [r[0] for r in rec.trades].count("11") == 1
    assert (rec.counts["trades"], rec.counts["backfilled"]) == (MAX_OPEN_HOLES + 4, 0)
    row = gaps(data_dir).query(f"start_ms == {t}")
    assert row[["status", "recovered_rows", "detail"]].values.tolist() == [
        ["recovered", 1, "trade ids 11..11 missing (1), 0 from REST, 1 late on the stream"]]


def lost_hole(paths: Paths) -> tuple[SymbolRecorder, int]:
    """A recorder at 10:00 (t) that got trades 10 and 14 and whose REST back-fill found none of 11..13: lost."""
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(paths, clock)
    t = clock.t
    rec.on_trades([trade(10, t)])
    holes = rec.on_trades([trade(14, t + 9)])
    assert rec.fill(holes[0], []) == "lost"
    return rec, t


def test_a_late_trade_that_completes_part_of_a_hole_makes_it_partial(data_dir: Paths) -> None:
    rec, t = lost_hole(data_dir)
    rec.on_trades([trade(13, t + 8)])
    got = gaps(data_dir)
    assert got[["status", "recovered_rows"]].values.tolist() == [["partial", 1]]  # the lost row was replaced


def test_every_stream_trade_is_stored_quarantined_or_a_counted_duplicate(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    messages = [[trade(1, t), trade(2, t + 1), trade(3, t + 2)],
                [trade(2, t + 1), trade(3, t + 2), trade(4, t + 3), trade(4, t + 3)],  # a reconnect's overlap
                [{**trade(5, t + 4), "price": "NaN"}, trade(3, t + 2)]]
    for message in messages:
        assert rec.on_trades(message) == []
    c = rec.counts
    assert (c["trades"], c["quarantined"], c["duplicates"]) == (4, 1, 4)
    assert c["trades"] + c["quarantined"] + c["duplicates"] == sum(len(m) for m in messages)
    assert pd.Series([r[0] for r in rec.trades]).is_unique


def test_a_revised_gap_across_midnight_replaces_both_of_its_pieces(data_dir: Paths) -> None:
    from python_assets.exchange import rec_store as store

    start, end = DAY0 + 24 * H - 10, DAY0 + 24 * H + 10
    store.write_gap(data_dir, "BTC-USDT", "trades", start, end, "trade_id_gap", "lost", 0, "old")
    store.write_gap(data_dir, "BTC-USDT", "trades", start, end, "trade_id_gap", "partial", 1, "new", replaces="old")
    assert gaps(data_dir)[["start_ms", "status", "recovered_rows", "detail"]].values.tolist() == [
        [start, "partial", 1, "new"], [DAY0 + 24 * H, "partial", 0, "new"]]


def test_an_unusable_late_trade_sent_twice_is_quarantined_once_and_its_repeat_is_a_duplicate(data_dir: Paths) -> None:
    """The repeat was quarantined (and counted) again: quarantined 2 for one trade, so the counts no longer said how
    many distinct trades the stream refused."""
    rec, t = lost_hole(data_dir)
    bad = {**trade(12, t + 4), "price": "NaN"}
    messages = [[trade(10, t)], [trade(14, t + 9)], [bad], [bad, trade(13, t + 8)]]
    for message in messages[2:]:
        assert rec.on_trades(message) == []
    c = rec.counts
    assert (c["trades"], c["quarantined"], c["duplicates"]) == (3, 1, 1)
    assert c["trades"] + c["quarantined"] + c["duplicates"] == sum(len(m) for m in messages)
    assert gaps(data_dir)[["status", "recovered_rows"]].values.tolist() == [["partial", 1]]
