"""The recorder's lake writes (python_assets/exchange/rec_store.py) on hand-built rows: hour files merge into
day files once the hour is over, without duplicates when a restart writes the same rows again; segments and
gaps split at midnight and upsert on their key (a gap's whole identity); recorder_days only for finished days;
the instruments snapshot."""

from __future__ import annotations

import pandas as pd

from python_assets.config import Paths
from python_assets.exchange import rec_store as store
from python_assets.lake.store import read_partition, write_trades

DAY0 = 1_800_057_600_000  # 2027-01-16 00:00 UTC
H = 3_600_000


def book(ts: int, kind: str = "sample") -> list[tuple]:
    return [(ts, kind, 7, "bid", 1, 99.0, 0.5), (ts, kind, 7, "ask", 1, 101.0, 0.25)]


def test_hour_files_merge_once_the_hour_is_over_and_restarts_add_nothing(data_dir: Paths) -> None:
    assert store.day_of(DAY0) == "2027-01-16"
    rows = book(DAY0 + 10) + book(DAY0 + 1000) + book(DAY0 + H + 5)
    store.append_live(data_dir, store.BOOKS, "BTC-USDT", rows)
    store.append_live(data_dir, store.BOOKS, "BTC-USDT", book(DAY0 + 10))  # a restart re-sends a stored state
    first = store.live_hour_file(data_dir, store.BOOKS, "BTC-USDT", DAY0)
    assert first.name == "00.parquet" and len(read_partition(first, store.BOOKS_SCHEMA)) == 4
    assert store.merge_live(data_dir, store.BOOKS, "BTC-USDT", DAY0 + H + 60_000) == 0  # inside the 2-minute grace
    assert store.merge_live(data_dir, store.BOOKS, "BTC-USDT", DAY0 + H + 120_000) == 1
    day = store.day_file(data_dir, "books", "books.parquet", "BTC-USDT", "2027-01-16")
    assert len(read_partition(day, store.BOOKS_SCHEMA)) == 4 and not first.exists()
    store.append_live(data_dir, store.BOOKS, "BTC-USDT", book(DAY0 + 1000))  # written again after its merge
    assert store.merge_live(data_dir, store.BOOKS, "BTC-USDT", DAY0 + 3 * H) == 2
    merged = read_partition(day, store.BOOKS_SCHEMA)
    assert len(merged) == 6 and not merged.duplicated(["ts", "kind", "side", "level"]).any()
    store.write_segments(data_dir, "BTC-USDT", [("books", DAY0, DAY0 + 2 * H)], "s1")
    assert store.mark_day_complete(data_dir, "BTC-USDT", "books", "live_books", DAY0 + 3 * H) == []  # day not over
    assert store.mark_day_complete(data_dir, "BTC-USDT", "books", "live_books", DAY0 + 24 * H + 120_000) == ["2027-01-16"]
    assert store.mark_day_complete(data_dir, "BTC-USDT", "books", "live_books", DAY0 + 30 * H) == []  # once
    days = read_partition(data_dir.lake / "recorder_days" / "date=2027-01-16" / "complete.parquet", store.DAYS_SCHEMA)
    assert days[["symbol", "dataset", "revision"]].values.tolist() == [["BTC-USDT", "books", 0]]


def test_only_recorded_days_are_marked_and_late_rows_raise_the_days_revision(data_dir: Paths) -> None:
    late = DAY0 + 3 * 24 * H
    store.append_live(data_dir, store.BOOKS, "BTC-USDT", book(DAY0 + 10) + book(DAY0 + 24 * H + 10))
    store.merge_live(data_dir, store.BOOKS, "BTC-USDT", late)  # two days of books; the recorder recorded only the 2nd
    store.write_segments(data_dir, "BTC-USDT", [("books", DAY0 + 24 * H, DAY0 + 25 * H)], "s1")
    assert store.mark_day_complete(data_dir, "BTC-USDT", "books", "live_books", late) == ["2027-01-17"]
    assert store.mark_day_complete(data_dir, "BTC-USDT", "books", "live_books", late,
                                   pending_from=DAY0 + 24 * H) == []  # a hole from before its end is pending
    store.append_live(data_dir, store.BOOKS, "BTC-USDT", book(DAY0 + 24 * H + 20))  # a late row after the mark
    touched = frozenset(store.due_days(data_dir, "live_books", "BTC-USDT", late))
    assert touched == {"2027-01-17"}
    store.merge_live(data_dir, store.BOOKS, "BTC-USDT", late)
    assert store.mark_day_complete(data_dir, "BTC-USDT", "books", "live_books", late, touched=touched) == ["2027-01-17"]
    days = read_partition(data_dir.lake / "recorder_days" / "date=2027-01-17" / "complete.parquet", store.DAYS_SCHEMA)
    assert days[["symbol", "dataset", "revision"]].values.tolist() == [["BTC-USDT", "books", 1]]
    assert not (data_dir.lake / "recorder_days" / "date=2027-01-16").exists()


def test_segments_and_gaps_split_at_midnight_and_upsert(data_dir: Paths) -> None:
    start = DAY0 - 1000
    store.write_segments(data_dir, "ETH-USDT", [("trades", start, DAY0 + 10)], "s1")
    store.write_segments(data_dir, "ETH-USDT", [("trades", start, DAY0 + 500)], "s1")  # the same segment, later end
    days = ["2027-01-15", "2027-01-16"]
    segs = store.read_segments(data_dir, "ETH-USDT", days).sort_values("start_ms")
    assert segs[["start_ms", "end_ms"]].values.tolist() == [[start, DAY0], [DAY0, DAY0 + 500]]
    store.write_gap(data_dir, "ETH-USDT", "trades", start, DAY0 + 7, "disconnect", "partial", 3, "ids 1..9")
    store.write_gap(data_dir, "ETH-USDT", "trades", start, DAY0 + 7, "disconnect", "recovered", 4, "ids 1..9")
    gaps = pd.concat([read_partition(store.day_file(data_dir, "recorder_gaps", "gaps.parquet", "ETH-USDT", d),
                                     store.GAPS_SCHEMA) for d in days]).sort_values("start_ms")
    assert gaps[["start_ms", "end_ms", "status", "recovered_rows"]].values.tolist() == [
        [start, DAY0, "recovered", 4], [DAY0, DAY0 + 7, "recovered", 0]]


def test_two_holes_starting_in_the_same_millisecond_are_two_gap_rows(data_dir: Paths) -> None:
    t = DAY0 + 10 * H
    store.write_gap(data_dir, "BTC-USDT", "trades", t, t, "trade_id_gap", "lost", 0, "trade ids 11..12 missing")
    store.write_gap(data_dir, "BTC-USDT", "trades", t, t, "trade_id_gap", "recovered", 1, "trade ids 14..14 missing")
    gaps = read_partition(store.day_file(data_dir, "recorder_gaps", "gaps.parquet", "BTC-USDT", "2027-01-16"),
                          store.GAPS_SCHEMA)
    assert sorted(gaps["status"]) == ["lost", "recovered"]


def test_instruments_snapshot_is_one_row_per_symbol_per_day(data_dir: Paths) -> None:
    rows = [("BTC-USDT", DAY0, 0.001, 1.0, 1.0, 0.1, 100.0, 8, "live"),
            ("ETH-USDT", DAY0, 0.01, 1.0, 1.0, 0.01, 75.0, None, "suspend")]
    path = store.write_instruments(data_dir, rows, DAY0 + 5)
    later = [("BTC-USDT", DAY0 + 6, 0.001, 1.0, 1.0, 0.1, 100.0, 8, "live")]
    store.write_instruments(data_dir, later, DAY0 + 6)  # a restart the same day replaces the snapshot
    got = read_partition(path, store.INSTRUMENTS_SCHEMA)
    assert path.parent.name == "date=2027-01-16" and got["symbol"].tolist() == ["BTC-USDT"]
    assert got["funding_interval_hours"].tolist() == [8]
    assert got["snapshot_ms"].tolist() == [DAY0]  # the same values: the earlier snapshot stays the version's start
    store.write_instruments(data_dir, [("BTC-USDT", DAY0 + 7, 0.01, 1.0, 1.0, 0.1, 100.0, 8, "live")], DAY0 + 7)
    assert read_partition(path, store.INSTRUMENTS_SCHEMA)[["snapshot_ms", "contract_value"]].values.tolist() == [
        [DAY0 + 7, 0.01]]  # changed during the day: the later snapshot


def test_settled_funding_rewrites_a_day_once_with_its_new_and_replaced_rates(data_dir: Paths, monkeypatch) -> None:
    """replace_funding merged the new settlements into the day file, then rewrote that file for the replaced
    rates: two writes, and between them a reader saw the new settlement beside the announced rate it replaces."""
    import os

    from python_assets.lake.store import FUNDING_SCHEMA, funding_partition, write_funding

    settle = DAY0 + 8 * H
    write_funding(data_dir, "BTC-USDT", pd.DataFrame({"funding_ts": [DAY0, settle], "funding_rate": [0.0001, 0.00012]}))
    real_replace, written = os.replace, []

    def replace(src, dst):  # every atomic write ends in a rename: the file's states readers could see
        real_replace(src, dst)
        written.append(read_partition(dst, FUNDING_SCHEMA).values.tolist())

    monkeypatch.setattr(os, "replace", replace)
    settled = {DAY0: 0.0001, settle: 0.00013, settle + 8 * H: 0.0002}
    assert store.replace_funding(data_dir, "BTC-USDT", settled) == [settle]
    assert written == [[[DAY0, 0.0001], [settle, 0.00013], [settle + 8 * H, 0.0002]]]
    assert store.replace_funding(data_dir, "BTC-USDT", settled) == [] and len(written) == 1  # nothing new: no write
    assert read_partition(funding_partition(data_dir, "BTC-USDT", pd.Timestamp(DAY0, unit="ms").date()),
                          FUNDING_SCHEMA)["funding_rate"].tolist() == [0.0001, 0.00013, 0.0002]


def test_a_covered_day_without_rows_is_complete_so_the_sensor_does_not_wait_for_it(data_dir: Paths) -> None:
    """Review s7/s8: a delisted or quiet symbol's segment stays open across midnight while the stream is up; its
    next day has a segment but no data folder, and was never marked: the recorder-day sensor waited forever."""
    from python_assets.exchange.recorder_days import recorder_days

    late = DAY0 + 3 * 24 * H
    for symbol in ("BTC-USDT", "ETH-USDT"):  # both connected from 2027-01-16 23:00 to the end of -17
        store.write_segments(data_dir, symbol, [("trades", DAY0 + 23 * H, DAY0 + 48 * H)], "s1")
    store.write_segments(data_dir, "SOL-USDT", [("trades", DAY0 + 23 * H, DAY0 + 24 * H)], "s1")  # gone on -17
    eth = pd.DataFrame({"trade_id": ["1", "2"], "ts": [DAY0 + 23 * H, DAY0 + 30 * H], "price": 100.0, "size": 1.0,
                        "side": "buy"})
    write_trades(data_dir, "ETH-USDT", eth)
    write_trades(data_dir, "BTC-USDT", eth.iloc[:1])  # BTC traded on -16 only
    for symbol in ("BTC-USDT", "ETH-USDT", "SOL-USDT"):
        store.mark_day_complete(data_dir, symbol, "trades", "live_trades", late)
    days = {d.day: d for d in recorder_days(data_dir)}
    assert sorted(days) == ["2027-01-16", "2027-01-17"]  # SOL-USDT has no segment on -17: not recorded there
    assert days["2027-01-17"].ready and days["2027-01-17"].complete == {"BTC-USDT", "ETH-USDT"}
    assert days["2027-01-16"].complete == {"BTC-USDT", "ETH-USDT", "SOL-USDT"}
    assert not (data_dir.trades / "symbol=BTC-USDT" / "date=2027-01-17").exists()  # nothing invented


def test_a_settled_rate_replaces_the_rate_stored_under_another_ms_stamp_of_its_second(data_dir: Paths) -> None:
    """freqtrade's funding file stamps a settlement 08:00:00.007, BloFin's history 08:00:00.000: the recorder's
    settled rate added a second row for it (stg_funding_rates puts both on 08:00:00, the backtests charged both)."""
    from python_assets.lake.store import FUNDING_SCHEMA, funding_partition, write_funding

    settle = DAY0 + 8 * H
    write_funding(data_dir, "BTC-USDT", pd.DataFrame({"funding_ts": [settle + 7], "funding_rate": [0.0001]}))
    assert store.replace_funding(data_dir, "BTC-USDT", {settle: 0.00012, settle + 8 * H + 3: 0.0002,
                                                        settle + 8 * H + 9: 0.0003}) == [settle]  # as given
    got = read_partition(funding_partition(data_dir, "BTC-USDT", pd.Timestamp(DAY0, unit="ms").date()), FUNDING_SCHEMA)
    assert got.values.tolist() == [[settle + 7, 0.00012], [settle + 8 * H + 3, 0.0002]]  # a second given twice: its first


def test_a_settled_rate_finds_its_settlement_stored_just_before_midnight(data_dir: Paths) -> None:
    """A clock 2 ms early stamped the 00:00 settlement 23:59:59.998, in the day before's file: REST's 00:00:00.000 was
    added as a second row in the next day's file (stg_funding_rates kept the earlier stamp's rate: the stream's)."""
    from python_assets.lake.store import FUNDING_SCHEMA, funding_partition, write_funding

    midnight = DAY0 + 24 * H
    write_funding(data_dir, "BTC-USDT", pd.DataFrame({"funding_ts": [midnight - 2], "funding_rate": [0.0009]}))
    assert store.replace_funding(data_dir, "BTC-USDT", {midnight: 0.0001}) == [midnight]
    day = lambda ms: read_partition(funding_partition(data_dir, "BTC-USDT", pd.Timestamp(ms, unit="ms").date()),  # noqa: E731
                                    FUNDING_SCHEMA).values.tolist()
    assert day(midnight - 2) == [[midnight - 2, 0.0001]] and day(midnight) == []
