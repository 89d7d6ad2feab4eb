"""A crossed or locked book (best bid >= best ask). Live feeds send such books for a moment (OKX, whose API BloFin's
mirrors; Bitfinex), so a crossing update is applied and the book stays valid, but nothing is sampled or written from
it while it is crossed (a sampled crossed book gave feat_book a negative spread_bps: review s5), and the update that
uncrosses it is applied as usual. Only a book crossed for over MAX_CROSSED_MS of the recorder's own clock is broken:
invalid until a fresh snapshot (resubscribe), the time without one a lost books gap. The bound was measured on the
exchange ts of incoming messages, so a quiet symbol's crossed book was skipped for an hour with no gap, and a
crossing message stamped far ahead kept the book for an hour of updates (a review's findings)."""

from __future__ import annotations

from test_rec_symbol import DAY0, H, Clock, gaps, recorder

from python_assets.config import Paths
from python_assets.exchange.book import MAX_CROSSED_MS, Applied, Book


def snap(seq: int, bids, asks, ts: int = 1000) -> dict:
    return {"bids": bids, "asks": asks, "ts": str(ts), "seqId": str(seq), "prevSeqId": "0"}


def upd(prev: int, seq: int, bids=(), asks=(), ts: int = 2000) -> dict:
    return {"bids": list(bids), "asks": list(asks), "ts": str(ts), "seqId": str(seq), "prevSeqId": str(prev)}


def test_a_transient_cross_or_lock_is_applied_and_the_uncrossing_update_too() -> None:
    for ask in ("102", "101"):  # crossed (bid above the ask), then locked (bid at the ask)
        b = Book()
        assert b.apply("snapshot", snap(10, [["100", "1"]], [["101", "1"]])) is Applied.SNAPSHOT and not b.crossed
        assert b.apply("update", upd(10, 11, bids=[[ask, "5"]])) is Applied.UPDATE
        assert b.valid and b.crossed and b.bids == {100.0: 1.0, float(ask): 5.0} and b.seq_id == 11
        assert b.apply("update", upd(11, 12, bids=[[ask, "0"]], ts=2100)) is Applied.UPDATE  # was NO_BOOK, dropped
        assert b.valid and not b.crossed and b.top_n(1) == ([(100.0, 1.0)], [(101.0, 1.0)])
    b = Book()
    assert b.apply("snapshot", snap(10, [["100", "1"]], [["101", "1"]])) is Applied.SNAPSHOT
    # the whole message counts: a bid above the old best ask is no cross when the same update deletes that ask
    assert b.apply("update", upd(10, 11, bids=[["101.5", "2"]], asks=[["101", "0"], ["102", "1"]])) \
        is Applied.UPDATE and b.top_n(1) == ([(101.5, 2.0)], [(102.0, 1.0)]) and not b.crossed


def test_the_best_levels_follow_deletions_and_an_empty_side_is_not_crossed() -> None:
    b = Book()
    assert b.apply("snapshot", snap(10, [["99", "1"], ["100", "1"]], [["101", "1"], ["103", "1"]])) is Applied.SNAPSHOT
    assert b.apply("update", upd(10, 11, bids=[["100", "0"]], asks=[["101", "0"]])) is Applied.UPDATE
    assert (b.best_bid, b.best_ask) == (99.0, 103.0)
    assert b.apply("update", upd(11, 12, bids=[["103", "1"]], asks=[["103", "0"]])) is Applied.UPDATE
    assert (b.best_bid, b.best_ask) == (103.0, None) and not b.crossed
    assert b.apply("snapshot", snap(20, [["101", "1"]], [])) is Applied.SNAPSHOT and b.valid and not b.crossed
    assert b.apply("snapshot", snap(21, [["101", "1"]], [["100", "1"]])) is Applied.SNAPSHOT and b.crossed


def test_a_book_crossed_past_the_bound_is_invalid_until_a_snapshot() -> None:
    b = Book()
    b.apply("snapshot", snap(10, [["100", "1"]], [["101", "1"]]), now=5000)
    assert b.apply("update", upd(10, 11, bids=[["102", "5"]], ts=2000), now=5000) is Applied.UPDATE
    assert b.apply("update", upd(11, 12, bids=[["99", "1"]], ts=2001), now=5000 + MAX_CROSSED_MS) is Applied.UPDATE
    assert b.apply("update", upd(12, 13, ts=2002), now=5001 + MAX_CROSSED_MS) is Applied.CROSSED and not b.valid
    assert b.apply("update", upd(13, 14, bids=[["102", "0"]])) is Applied.NO_BOOK
    assert b.apply("snapshot", snap(30, [["100", "1"]], [["101", "1"]], ts=20_000)) is Applied.SNAPSHOT
    assert b.valid and not b.crossed


def test_the_recorder_samples_no_crossed_book_and_keeps_the_book_through_a_transient_cross(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    assert rec.on_book("snapshot", {**snap(10, [["100", "1"]], [["101", "1"]]), "ts": str(t)}) is Applied.SNAPSHOT
    assert rec.on_book("update", {**upd(10, 11, bids=[["102", "5"]]), "ts": str(t + 10)}) is Applied.UPDATE
    before = len(rec.books)
    rec.sample()
    assert len(rec.books) == before and rec.counts["crossed_skips"] == 1
    assert rec.on_book("update", {**upd(11, 12, bids=[["102", "0"]]), "ts": str(t + 20)}) is Applied.UPDATE
    rec.sample()
    assert len(rec.books) == 2 * before and gaps(data_dir).empty
    assert all(not (side == "bid" and price >= 101.0) for _, _, _, side, _, price, _ in rec.books)
    # a crossed snapshot is not written either
    assert rec.on_book("snapshot", {**snap(20, [["102", "1"]], [["101", "1"]]), "ts": str(t + 30)}) is Applied.SNAPSHOT
    assert len(rec.books) == 2 * before and rec.counts["crossed_skips"] == 2


def test_the_recorder_drops_a_book_crossed_past_the_bound_and_records_the_time_without_one(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    assert rec.on_book("snapshot", {**snap(10, [["100", "1"]], [["101", "1"]]), "ts": str(t)}) is Applied.SNAPSHOT
    assert rec.on_book("update", {**upd(10, 11, bids=[["102", "5"]]), "ts": str(t + 10)}) is Applied.UPDATE
    late = t + 11 + MAX_CROSSED_MS
    clock.t = late
    assert rec.on_book("update", {**upd(11, 12), "ts": str(t + 12)}) is Applied.CROSSED
    rec.sample()
    assert rec.counts["crossed_skips"] == 0 and len(rec.books) == 2  # invalid: not sampled at all
    assert rec.on_book("snapshot", {**snap(20, [["100", "1"]], [["101", "1"]]), "ts": str(late + 40)}) \
        is Applied.SNAPSHOT
    got = gaps(data_dir)
    assert got[["dataset", "cause", "status", "start_ms", "end_ms"]].values.tolist() == [
        ["books", "crossed_book", "lost", t + 10, late + 40]]


def test_a_far_future_exchange_time_does_not_stretch_the_bound() -> None:
    b = Book()
    b.apply("snapshot", snap(10, [["100", "1"]], [["101", "1"]]), now=0)
    assert b.apply("update", upd(10, 11, bids=[["102", "1"]], ts=5_000_000), now=1000) is Applied.UPDATE
    got = [b.apply("update", upd(10 + k, 11 + k, bids=[["102", str(1 + k)]], ts=2000 + k), now=1000 + 1000 * k)
           for k in range(1, 12)]
    assert got == [Applied.UPDATE] * 10 + [Applied.CROSSED] and not b.valid


def test_a_quiet_symbol_whose_book_stays_crossed_is_dropped_at_a_sample_with_a_lost_gap(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_book("snapshot", {**snap(1, [["100", "1"]], [["101", "1"]]), "ts": str(t)})
    assert rec.on_book("update", {**upd(1, 2, bids=[["101", "1"]]), "ts": str(t + 1)}) is Applied.UPDATE  # locked
    dropped = []
    for _ in range(3600):  # an hour of 1 s samples, no further book message
        clock.t += 1000
        dropped.append(rec.sample())
    assert dropped.index(True) == MAX_CROSSED_MS // 1000 and dropped.count(True) == 1 and not rec.book.valid
    assert rec.counts["crossed_skips"] == MAX_CROSSED_MS // 1000
    assert rec.on_book("snapshot", {**snap(9, [["100", "1"]], [["101", "1"]]), "ts": str(clock.t)}) is Applied.SNAPSHOT
    got = gaps(data_dir)
    assert got[["dataset", "cause", "status", "start_ms", "end_ms"]].values.tolist() == [
        ["books", "crossed_book", "lost", t + 1, clock.t]]
