"""One symbol's recording state (python_assets/exchange/rec_symbol.py) fed hand-built messages on a fake clock:
restarts continue from the last stored trade however long ago it was, every hole gets its own honest
recorder_gaps row."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from python_assets.config import Paths
from python_assets.exchange import rec_store as store
from python_assets.exchange.rec_symbol import SymbolRecorder
from python_assets.lake.store import FUNDING_SCHEMA, read_partition

DAY0 = 1_800_057_600_000  # 2027-01-16 00:00 UTC
H = 3_600_000


class Clock:
    """A settable epoch-ms clock."""

    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def recorder(paths: Paths, clock: Clock, session: str = "s1") -> SymbolRecorder:
    return SymbolRecorder(paths, "BTC-USDT", "BTC-USDT", 1.0, 20, session, clock)


def trade(i: int, ts: int) -> dict:
    return {"tradeId": str(i), "ts": str(ts), "price": "100", "size": "1", "side": "buy"}


def gaps(paths: Paths) -> pd.DataFrame:
    files = sorted((paths.lake / "recorder_gaps" / "symbol=BTC-USDT").glob("date=*/gaps.parquet"))
    frames = [read_partition(f, store.GAPS_SCHEMA) for f in files]
    return pd.concat(frames, ignore_index=True) if frames else read_partition(paths.lake / "none", store.GAPS_SCHEMA)


def test_a_restart_after_a_quiet_hour_continues_from_the_last_stored_trade(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H + 30 * 60_000)
    first = recorder(data_dir, clock)
    first.resume()
    first.on_trades([trade(100, clock.t), trade(101, clock.t + 5)])
    clock.t += 1000
    first.flush(merge=True, final=True)
    clock.t = DAY0 + 12 * H + 5 * 60_000  # down for 95 minutes: the last trade is in neither of the last two hours
    second = recorder(data_dir, clock, "s2")
    second.resume()
    assert second.tracker.last_id == 101 and second.trade_cause is not None
    holes = second.on_trades([trade(602, clock.t)])
    assert [(h.after_id, h.before_id, h.cause) for h in holes] == [(101, 602, "restart")]
    second.fill(holes[0], [trade(i, clock.t - 1) for i in range(502, 602)])
    row = gaps(data_dir).iloc[0]
    assert (row["cause"], row["status"], row["recovered_rows"]) == ("restart", "partial", 100)


def test_a_restart_with_no_stored_trade_id_records_a_lost_gap(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    store.write_segments(data_dir, "BTC-USDT", [("trades", DAY0 + 9 * H, DAY0 + 9 * H + 60_000)], "s1")
    rec = recorder(data_dir, clock, "s2")
    rec.resume()
    assert rec.tracker.last_id is None and rec.trade_cause == ("restart", DAY0 + 9 * H + 60_000)
    assert rec.on_trades([trade(7, clock.t)]) == []
    got = gaps(data_dir)
    assert got[["start_ms", "end_ms", "cause", "status"]].values.tolist() == [
        [DAY0 + 9 * H + 60_000, clock.t, "restart", "lost"]]


def test_a_trade_stamped_in_the_far_future_is_quarantined_and_never_moves_the_last_time(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 10 * H)
    rec = recorder(data_dir, clock)
    t = clock.t
    assert rec.on_trades([trade(10, t), trade(11, 4_102_444_800_000)]) == []  # 2100-01-01
    assert rec.tracker.last_ts == t and [r[0] for r in rec.trades] == ["10"]
    holes = rec.on_trades([trade(14, t + 50)])
    assert [(h.after_id, h.after_ts) for h in holes] == [(11, t)]
    rec.fill(holes[0], [trade(12, t + 10), trade(13, 10)])  # REST's 13 is stamped 1970: refused too
    clock.t += 2 * H
    rec.flush(merge=True)
    got = gaps(data_dir)
    assert got[["cause", "status"]].values.tolist() == [["bad_timestamp", "lost"], ["trade_id_gap", "partial"]]
    assert set(got["start_ms"]) == {t}
    stored = read_partition(data_dir.trades / "symbol=BTC-USDT" / "date=2027-01-16" / "trades.parquet",
                            pa.schema([("trade_id", pa.string())]))
    assert sorted(stored["trade_id"]) == ["10", "12", "14"]
    quarantined = pd.concat([pd.read_parquet(f) for f in (data_dir.quarantine / "symbol=BTC-USDT").glob("*.parquet")])
    assert sorted(quarantined["ts"]) == [10, 4_102_444_800_000]
    assert set(quarantined["reason"]) == {"time_outside_window"}


def test_a_day_is_marked_complete_only_after_the_restart_back_fill_landed_in_it(data_dir: Paths) -> None:
    clock = Clock(DAY0 + 23 * H + 50 * 60_000)
    first = recorder(data_dir, clock)
    first.resume()
    first.on_trades([trade(100, clock.t)])
    clock.t += 1000
    first.flush(merge=True, final=True)
    clock.t = DAY0 + 24 * H + 5 * 60_000  # restarted after midnight, hour 23 now due
    second = recorder(data_dir, clock, "s2")
    second.resume()
    second.flush(merge=True)
    marks = data_dir.lake / "recorder_days" / "date=2027-01-16" / "complete.parquet"
    assert not marks.exists()  # the restart hole may still add trades to the day
    holes = second.on_trades([trade(150, clock.t)])
    second.flush(merge=True)
    assert not marks.exists()  # back-fill under way
    second.fill(holes[0], [trade(i, DAY0 + 23 * H + 50 * 60_000 + (i - 100) * 10_000) for i in range(101, 150)])
    clock.t += 3 * H
    second.flush(merge=True)
    stored = read_partition(data_dir.trades / "symbol=BTC-USDT" / "date=2027-01-16" / "trades.parquet",
                            pa.schema([("trade_id", pa.string())]))
    assert len(stored) == 50 and marks.exists()  # ids 100..149, all before midnight
    assert read_partition(marks, store.DAYS_SCHEMA)[["dataset", "revision"]].values.tolist() == [["trades", 0]]


def test_a_settled_rate_from_rest_replaces_the_announced_one_and_a_changed_push_is_said(data_dir: Paths) -> None:
    settle = DAY0 + 8 * H
    clock = Clock(settle - 30_000)
    lines: list[str] = []
    rec = SymbolRecorder(data_dir, "BTC-USDT", "BTC-USDT", 1.0, 20, "s1", clock, out=lines.append)
    rec.on_funding([{"fundingRate": "0.00010", "fundingTime": str(settle)}])
    rec.on_funding([{"fundingRate": "0.00012", "fundingTime": str(settle)}])  # changed before the settlement: fine
    clock.t = settle + 500
    rec.flush(merge=False)
    rec.on_funding([{"fundingRate": "0.00015", "fundingTime": str(settle)}])  # a different push after it was stored
    clock.t += 1000
    rec.flush(merge=False)
    assert len(lines) == 1 and "announced 0.00015" in lines[0] and "stays" in lines[0]
    funding = data_dir.funding / "symbol=BTC-USDT" / "date=2027-01-16" / "funding.parquet"
    assert read_partition(funding, FUNDING_SCHEMA)["funding_rate"].tolist() == [0.00012]
    rec.confirmed.update({settle: 0.00013, settle + 8 * H: 0.0002})  # REST's settled history (the daily snapshot)
    clock.t += 1000
    rec.flush(merge=False)
    assert "settled rate 0.00013 replaces" in lines[-1] and len(lines) == 2
    assert read_partition(funding, FUNDING_SCHEMA)[["funding_ts", "funding_rate"]].values.tolist() == [
        [settle, 0.00013], [settle + 8 * H, 0.0002]]


def test_a_non_finite_announced_rate_is_refused_and_the_last_good_one_settles(data_dir: Paths) -> None:
    settle = DAY0 + 8 * H
    clock = Clock(settle - 30_000)
    lines: list[str] = []
    rec = SymbolRecorder(data_dir, "BTC-USDT", "BTC-USDT", 1.0, 20, "s1", clock, out=lines.append)
    rec.on_funding([{"fundingRate": "0.0001", "fundingTime": str(settle)}])
    rec.on_funding([{"fundingRate": "0.0003", "fundingTime": str(settle)}])
    rec.on_funding([{"fundingRate": "NaN", "fundingTime": str(settle)}])
    rec.on_funding([{"fundingRate": "-inf", "fundingTime": str(settle)}])
    assert rec.counts["bad_messages"] == 2 and len(lines) == 2 and all("refused" in line for line in lines)
    clock.t = settle + 500
    rec.flush(merge=False)
    funding = data_dir.funding / "symbol=BTC-USDT" / "date=2027-01-16" / "funding.parquet"
    assert read_partition(funding, FUNDING_SCHEMA)["funding_rate"].tolist() == [0.0003]


def test_a_nan_rate_an_older_recorder_stored_is_replaced_by_the_next_valid_one(data_dir: Paths) -> None:
    """A NaN rate on disk (an older recorder stored the stream's NaN) is unknown, not a settled rate: it blocked the
    stream's valid rate for that settlement ('another rate is stored ... and stays'). A valid stored rate stays."""
    from python_assets.lake.store import write_funding

    settle = DAY0 + 8 * H
    write_funding(data_dir, "BTC-USDT", pd.DataFrame({"funding_ts": [settle, settle + 8 * H],
                                                      "funding_rate": [float("nan"), float("nan")]}))
    clock = Clock(settle - 30_000)
    lines: list[str] = []
    rec = SymbolRecorder(data_dir, "BTC-USDT", "BTC-USDT", 1.0, 20, "s1", clock, out=lines.append)
    rec.on_funding([{"fundingRate": "0.00012", "fundingTime": str(settle)}])
    clock.t = settle + 500
    rec.flush(merge=False)
    funding = data_dir.funding / "symbol=BTC-USDT" / "date=2027-01-16" / "funding.parquet"
    rates = read_partition(funding, FUNDING_SCHEMA)["funding_rate"]
    assert rates.iloc[0] == 0.00012 and rates.iloc[1:].isna().all()
    assert len(lines) == 1 and "announced 0.00012, which replaces the unknown (NaN) rate" in lines[0]
    rec.on_funding([{"fundingRate": "0.00015", "fundingTime": str(settle)}])  # a different push after it was stored
    clock.t += 1000
    rec.flush(merge=False)
    assert len(lines) == 2 and "announced 0.00015" in lines[1] and "stays" in lines[1]
    assert read_partition(funding, FUNDING_SCHEMA)["funding_rate"].iloc[0] == 0.00012


def test_a_settlement_stored_under_another_ms_stamp_is_said_not_a_traceback(data_dir: Paths) -> None:
    """freqtrade's funding file imported first stamps the settlement 08:00:00.007; the stream announces it and REST
    settles it at 08:00:00.000. The lake's writers named the stored stamp back, the recorder looked it up in its own
    batch: KeyError, its write thread and flusher dead (the symbols after it unwritten)."""
    from python_assets.lake.store import write_funding

    settle = DAY0 + 8 * H
    write_funding(data_dir, "BTC-USDT", pd.DataFrame({"funding_ts": [settle + 7, settle + 8 * H + 7],
                                                      "funding_rate": [0.0001, 0.0001]}))
    clock = Clock(settle - 30_000)
    lines: list[str] = []
    rec = SymbolRecorder(data_dir, "BTC-USDT", "BTC-USDT", 1.0, 20, "s1", clock, out=lines.append)
    rec.on_funding([{"fundingRate": "0.00012", "fundingTime": str(settle)}])
    rec.confirmed.update({settle + 8 * H: 0.0003})
    clock.t = settle + 500
    rec.flush(merge=False)
    assert lines == [f"BTC-USDT funding at {settle}: the stream announced 0.00012, another rate is stored for that "
                     "settlement and stays",
                     f"BTC-USDT funding at {settle + 8 * H}: the exchange's settled rate 0.0003 replaces the rate the "
                     "stream announced"]
    funding = data_dir.funding / "symbol=BTC-USDT" / "date=2027-01-16" / "funding.parquet"
    assert read_partition(funding, FUNDING_SCHEMA).values.tolist() == [[settle + 7, 0.0001], [settle + 8 * H + 7, 0.0003]]
