"""A late trade of a hole recorded before a recorder restart: the hole's record (which ids reached it) lived in
memory only, so after the restart the late trade was taken for a repeat (id at or below the last stored one) and
dropped, though the lake lacks it. resume() now rebuilds the open holes from their gap rows and the stored ids."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from test_rec_symbol import DAY0, H, Clock, gaps, recorder, trade

from python_assets.config import Paths
from python_assets.exchange.rec_symbol import SymbolRecorder
from python_assets.lake.store import read_partition, trades_partition


def stored(paths: Paths, day: str) -> list[str]:
    """Every stored trade id of a day: merged lake rows and open hour files."""
    lake = read_partition(trades_partition(paths, "BTC-USDT", pd.Timestamp(day).date()),
                          pa.schema([("trade_id", pa.string())]))
    hours = (paths.live_trades / "symbol=BTC-USDT" / f"date={day}").glob("[0-9][0-9].parquet")
    return sorted([*lake["trade_id"], *(t for f in hours for t in pd.read_parquet(f)["trade_id"])], key=int)


def first_session(paths: Paths, clock: Clock, merge: bool) -> None:
    """Trades 10 and 14 (11..13 missing); REST back-fills 11 only; stop cleanly."""
    rec = recorder(paths, clock)
    rec.resume()
    t = clock.t
    rec.on_trades([trade(10, t)])
    holes = rec.on_trades([trade(14, t + 9)])
    assert rec.fill(holes[0], [trade(11, t + 1)]) == "partial"
    clock.t += 1000
    rec.flush(merge=merge, final=True)


def restarted(paths: Paths, clock: Clock) -> SymbolRecorder:
    rec = recorder(paths, clock, "s2")
    rec.resume()
    assert rec.tracker.last_id == 14
    return rec


def test_a_late_trade_after_a_restart_is_stored_once_and_its_gap_row_rewritten(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    t = clock.t
    first_session(data_dir, clock, merge=False)
    rec = restarted(data_dir, clock)
    messages = [[trade(12, t + 4)], [trade(12, t + 4), trade(11, t + 1)], [trade(13, t + 6)]]
    rec.on_trades(messages[0])
    assert [r[0] for r in rec.trades] == ["12"]
    assert gaps(data_dir)[["status", "recovered_rows", "detail"]].values.tolist() == [
        ["partial", 2, "trade ids 11..13 missing (3), 1 from REST, 1 late on the stream"]]
    for message in messages[1:]:  # 12 again and 11 (stored by the first session's back-fill) are repeats
        rec.on_trades(message)
    c = rec.counts
    assert (c["trades"], c["quarantined"], c["duplicates"]) == (2, 0, 2)
    assert c["trades"] + c["quarantined"] + c["duplicates"] == sum(len(m) for m in messages)
    assert gaps(data_dir)[["status", "recovered_rows", "detail"]].values.tolist() == [
        ["recovered", 3, "trade ids 11..13 missing (3), 1 from REST, 2 late on the stream"]]
    clock.t += 1000
    rec.flush(merge=False, final=True)
    assert stored(data_dir, "2027-01-16") == ["10", "11", "12", "13", "14"]


def test_a_late_trade_after_a_restart_finds_its_hole_in_the_merged_lake(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    t = clock.t
    first_session(data_dir, clock, merge=False)
    clock.t = DAY0 + 12 * H  # the hour is merged into the lake before the restart
    rec = restarted(data_dir, clock)
    rec.merge(clock.t)
    assert not list((data_dir.live_trades / "symbol=BTC-USDT" / "date=2027-01-16").glob("[0-9][0-9].parquet"))
    rec.on_trades([trade(11, t + 1), trade(13, t + 6)])
    assert [r[0] for r in rec.trades] == ["13"] and rec.counts["duplicates"] == 1
    assert gaps(data_dir)[["status", "recovered_rows"]].values.tolist() == [["partial", 2]]


def test_a_restored_hole_across_midnight_is_rewritten_whole(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 24 * H - 5)
    rec = recorder(data_dir, clock)
    t = clock.t
    rec.on_trades([trade(10, t)])
    holes = rec.on_trades([trade(14, t + 10)])  # 11..13 missing across midnight
    assert rec.fill(holes[0], []) == "lost"
    clock.t += 1000
    rec.flush(merge=False, final=True)
    rec = restarted(data_dir, clock)
    rec.on_trades([trade(12, t + 6)])
    assert gaps(data_dir)[["start_ms", "end_ms", "status", "recovered_rows", "detail"]].values.tolist() == [
        [t, DAY0 + 24 * H, "partial", 1, "trade ids 11..13 missing (3), 0 from REST, 1 late on the stream"],
        [DAY0 + 24 * H, t + 10, "partial", 0, "trade ids 11..13 missing (3), 0 from REST, 1 late on the stream"]]


def test_a_restart_a_day_after_a_hole_leaves_it_final_and_reads_only_the_holes_hours(data_dir: Paths,
                                                                                     monkeypatch) -> None:
    """resume() read every stored id from its oldest restored hole to its newest: two holes 20 days apart read 20
    days of the trades lake into one set (3 s and +300 MB at a million trades a day). A late trade reaches a hole
    within seconds of it, so a hole ended a day before the restart is final, and only the hours around each
    restored hole are read (windows that meet read as one)."""
    from python_assets.exchange import rec_store

    clock = Clock(DAY0 + 10 * H)
    first_session(data_dir, clock, merge=False)
    asked: list[list[tuple[int, int]]] = []
    real = rec_store.stored_trade_ids
    monkeypatch.setattr(rec_store, "stored_trade_ids", lambda p, s, w: asked.append(w) or real(p, s, w))
    clock.t += 2 * 24 * H  # two days later: the hole is final
    assert restarted(data_dir, clock).holes == [] and asked == [[]]
    clock.t -= 2 * 24 * H - 5 * 60_000  # five minutes after the first session: the hole is restored
    assert len(restarted(data_dir, clock).holes) == 1
    assert len(asked[1]) == 1 and DAY0 + 10 * H <= asked[1][0][0] <= asked[1][0][1] <= DAY0 + 10 * H + 10_000
    assert rec_store.merge([(5, 9), (0, 2), (2, 4), (20, 30), (25, 26)]) == [(0, 4), (5, 9), (20, 30)]  # what it joins by


def test_a_late_trade_that_rewrites_a_marked_days_hole_row_marks_that_day_again(data_dir: Paths) -> None:
    """A hole across midnight, its first day marked complete (the hole final: lost); a late trade stamped after
    midnight stores into the next day and rewrites the first day's piece too: only the next day was run again, so
    the first day's recorder_coverage kept it unusable (and its backtests flagged) until a full rebuild."""
    import pyarrow.parquet as pq

    clock = Clock(DAY0 + 24 * H - 5)
    rec = recorder(data_dir, clock)
    rec.resume()
    t = clock.t
    rec.on_trades([trade(10, t)])
    holes = rec.on_trades([trade(14, t + 10)])  # 11..13 missing across midnight
    assert rec.fill(holes[0], []) == "lost"
    marks = data_dir.lake / "recorder_days" / "date=2027-01-16" / "complete.parquet"

    def revision() -> list:
        rows = pq.read_table(marks).to_pandas()
        return rows.loc[rows["dataset"] == "trades", "revision"].tolist()

    clock.t = DAY0 + 26 * H
    rec.flush(merge=True)
    assert revision() == [0]
    rec.on_trades([trade(12, t + 6)])  # stamped 00:00:00.001: the next day's, late
    assert gaps(data_dir)["status"].tolist() == ["partial", "partial"]
    clock.t += 60_000
    rec.flush(merge=True)
    assert revision() == [1]  # the first day is requested again (recorder_day_sensor: a run per revision)
