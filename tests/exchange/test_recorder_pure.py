"""Hand-built cases for the recorder's pure parts: the books state machine (seq chain, stale updates,
deletions, top-N), trade-id continuity and hole filling, and splitting intervals at UTC midnight."""

from __future__ import annotations

from python_assets.exchange.book import Applied, Book, book_rows
from python_assets.exchange.continuity import Hole, HoleFill, TradeTracker, split_days
from python_assets.exchange.ws_recorder import backoff_delay

DAY = 86_400_000


def snap(seq: int, bids, asks, ts: int = 1000) -> dict:
    return {"bids": bids, "asks": asks, "ts": str(ts), "seqId": str(seq), "prevSeqId": "0"}


def upd(prev: int, seq: int, bids=(), asks=(), ts: int = 2000) -> dict:
    return {"bids": list(bids), "asks": list(asks), "ts": str(ts), "seqId": str(seq), "prevSeqId": str(prev)}


def test_book_applies_a_chain_of_updates_and_deletes_zero_sizes() -> None:
    b = Book()
    assert b.apply("update", upd(1, 2)) is Applied.NO_BOOK  # nothing before the first snapshot
    assert b.apply("snapshot", snap(10, [[99.0, 1], [98.0, 2]], [[101.0, 3], [102.0, 4]])) is Applied.SNAPSHOT
    assert b.apply("update", upd(10, 12, bids=[[99.0, 0], [99.5, 7]], asks=[[101.0, 5]], ts=1500)) is Applied.UPDATE
    assert b.top_n(2) == ([(99.5, 7.0), (98.0, 2.0)], [(101.0, 5.0), (102.0, 4.0)])
    assert (b.seq_id, b.ts) == (12, 1500)
    rows = book_rows(b, 1, "sample", 0.001)
    assert rows == [(1500, "sample", 12, "bid", 1, 99.5, 0.007), (1500, "sample", 12, "ask", 1, 101.0, 0.005)]


def test_book_detects_a_broken_chain_and_ignores_stale_updates() -> None:
    b = Book()
    b.apply("snapshot", snap(10, [[99.0, 1]], [[101.0, 1]]))
    assert b.apply("update", upd(8, 10, bids=[[99.0, 9]])) is Applied.STALE  # older than the snapshot
    assert b.top_n(1)[0] == [(99.0, 1.0)] and b.valid
    assert b.apply("update", upd(11, 13)) is Applied.SEQ_GAP  # 11 != 10: an update was lost
    assert not b.valid
    assert b.apply("update", upd(13, 14)) is Applied.NO_BOOK  # invalid until a fresh snapshot
    assert b.apply("snapshot", snap(20, [[98.0, 2]], [])) is Applied.SNAPSHOT and b.valid
    assert b.top_n(5) == ([(98.0, 2.0)], [])


def test_tracker_finds_holes_repeats_and_order() -> None:
    t = TradeTracker()
    keep, holes = t.check([("5", 100), ("6", 101)])
    assert keep == [0, 1] and holes == []
    keep, holes = t.check([("6", 101), ("9", 104), ("8", 103)])  # a repeat, then 7 missing; out of order arrival
    assert sorted(keep) == [1, 2]
    assert holes == [Hole(6, 101, 8, 103, "trade_id_gap")] and holes[0].missing == 1
    assert (t.last_id, t.last_ts) == (9, 104)
    keep, holes = t.check([("10", 90)], cause="disconnect")  # rising id, earlier time: kept, counted
    assert keep == [0] and holes == [] and t.out_of_order == 1


def test_hole_fill_statuses() -> None:
    fill = HoleFill(Hole(10, 1000, 14, 1400, "disconnect"))  # ids 11, 12, 13 missing
    assert fill.status() == "lost" and [fill.wants(n) for n in (10, 11, 13, 14, None)] == [False, True, True, False, False]
    fill.rest.add(13)  # REST no longer reaches 11, 12
    assert fill.status() == "partial" and not fill.wants(13)
    fill.late.update({11, 12})  # they arrived late on the stream
    assert fill.status() == "recovered" and not fill.wants(11)


def test_split_days_cuts_at_midnight() -> None:
    assert split_days(DAY - 10, DAY + 5) == [(DAY - 10, DAY), (DAY, DAY + 5)]
    assert split_days(5, 10) == [(5, 10)]
    assert split_days(DAY - 1, 3 * DAY) == [(DAY - 1, DAY), (DAY, 2 * DAY), (2 * DAY, 3 * DAY)]
    assert split_days(7, 7) == [(7, 7)]


def test_backoff_grows_with_jitter_and_caps() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(a, 0.5, 4.0, rng) for a in range(8)]
    assert all(0.25 <= d <= 4.0 for d in delays)
    assert max(delays[5:]) <= 4.0 and delays[0] <= 0.5


def test_the_funding_interval_is_the_latest_step_between_settlements() -> None:
    from python_assets.exchange.rec_rest import interval_hours

    h = 3_600_000
    assert interval_hours([(0, 0.1), (4 * h, 0.1), (12 * h, 0.1)]) == 8  # changed from 4 h to 8 h
    assert interval_hours([(0, 0.1), (8 * h, 0.1), (12 * h, 0.1)]) == 4
    assert interval_hours([(0, 0.1)]) is None


def test_rest_funding_history_skips_a_non_finite_rate() -> None:
    from python_assets.exchange.rec_rest import funding_history

    class Stub:
        def publicGetMarketFundingRateHistory(self, params: dict) -> dict:  # noqa: N802 - ccxt's name
            return {"data": [{"fundingTime": "3", "fundingRate": "NaN"}, {"fundingTime": "2", "fundingRate": "inf"},
                             {"fundingTime": "1", "fundingRate": "0"}]}

    assert funding_history(Stub(), "BTC-USDT") == [(1, 0.0)]  # type: ignore[arg-type]
