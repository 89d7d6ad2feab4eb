"""A crossed or locked book (best bid >= best ask: review s5) is refused like an unreadable message: nothing is
applied or sampled (a sampled crossed book gave feat_book a negative spread_bps), the book is invalid until a
fresh snapshot, and the time without a book is a lost books gap."""

from __future__ import annotations

from test_rec_symbol import DAY0, H, Clock, gaps, recorder

from python_assets.config import Paths
from python_assets.exchange.book import Applied, Book


def snap(seq: int, bids, asks, ts: int = 1000) -> dict:
    return {"bids": bids, "asks": asks, "ts": str(ts), "seqId": str(seq), "prevSeqId": "0"}


def upd(prev: int, seq: int, bids=(), asks=(), ts: int = 2000) -> dict:
    return {"bids": list(bids), "asks": list(asks), "ts": str(ts), "seqId": str(seq), "prevSeqId": str(prev)}


def test_an_update_that_crosses_or_locks_the_book_is_refused_and_changes_no_level() -> None:
    for ask in ("102", "101"):  # crossed (bid above the ask), then locked (bid at the ask)
        b = Book()
        assert b.apply("snapshot", snap(10, [["100", "1"]], [["101", "1"]])) is Applied.SNAPSHOT
        assert b.apply("update", upd(10, 11, bids=[[ask, "5"]])) is Applied.BAD
        assert not b.valid and b.bids == {100.0: 1.0} and b.asks == {101.0: 1.0} and b.seq_id == 10
        assert b.apply("update", upd(11, 12)) is Applied.NO_BOOK  # invalid until a fresh snapshot
    b = Book()
    assert b.apply("snapshot", snap(10, [["100", "1"]], [["101", "1"]])) is Applied.SNAPSHOT
    # the check sees the whole message: a bid above the old best ask is fine when the same update deletes that ask
    assert b.apply("update", upd(10, 11, bids=[["101.5", "2"]], asks=[["101", "0"], ["102", "1"]])) \
        is Applied.UPDATE and b.top_n(1) == ([(101.5, 2.0)], [(102.0, 1.0)])


def test_a_crossed_snapshot_is_refused_and_an_empty_side_is_not_crossed() -> None:
    b = Book()
    assert b.apply("snapshot", snap(10, [["101", "1"]], [["100", "1"]])) is Applied.BAD and not b.valid
    assert b.bids == {} and b.seq_id is None
    assert b.apply("snapshot", snap(11, [["101", "1"]], [])) is Applied.SNAPSHOT and b.valid


def test_the_recorder_samples_no_crossed_book_and_records_the_time_without_one(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    assert rec.on_book("snapshot", {**snap(10, [["100", "1"]], [["101", "1"]]), "ts": str(t)}) is Applied.SNAPSHOT
    assert rec.on_book("update", {**upd(10, 11, bids=[["102", "5"]]), "ts": str(t + 10)}) is Applied.BAD
    before = len(rec.books)
    rec.sample()
    assert len(rec.books) == before
    assert all(not (side == "bid" and price >= 101.0) for _, _, _, side, _, price, _ in rec.books)
    assert rec.on_book("snapshot", {**snap(20, [["100", "1"]], [["101", "1"]]), "ts": str(t + 40)}) is Applied.SNAPSHOT
    got = gaps(data_dir)
    assert got[["dataset", "cause", "status", "start_ms", "end_ms"]].values.tolist() == [
        ["books", "bad_message", "lost", t, t + 40]]
