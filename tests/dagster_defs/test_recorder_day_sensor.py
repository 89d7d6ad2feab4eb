"""A day the live recorder finished (complete.parquet naming every symbol it recorded that day) starts that
day's daily run, once per day (run key); incomplete, unreadable or unfinished days start nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_defs import sensors
from dagster_defs.partitions import daily_partitions_def
from dagster_defs.sensors import recorder_day_sensor


@pytest.fixture
def lake(data_dir, monkeypatch):
    monkeypatch.setenv("BLOFIN_PARTITIONS_START", "2025-01-01")
    daily_partitions_def.cache_clear()
    yield data_dir.lake
    daily_partitions_def.cache_clear()


DATASETS = ["trades", "books", "mark", "funding"]  # funding: recorded, never marked complete


def segments(lake, day, *symbols):
    for s in symbols:
        folder = lake / "recorder_segments" / f"symbol={s}" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"dataset": DATASETS, "start_ms": [0] * 4, "end_ms": [1] * 4,
                                 "session_id": ["x"] * 4}), folder / "segments.parquet")


def marked(*symbols):
    return [(s, d) for s in symbols for d in DATASETS[:3]]


def complete(lake, day, *pairs):
    folder = lake / "recorder_days" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"symbol": [s for s, _ in pairs], "dataset": [d for _, d in pairs],
                             "completed_ms": pa.array([1] * len(pairs), pa.int64())}), folder / "complete.parquet")


def evaluate():
    return recorder_day_sensor(dg.build_sensor_context())


def test_a_day_runs_once_every_symbol_recorded_that_day_is_complete(lake):
    assert isinstance(evaluate(), dg.SkipReason)  # nothing recorded yet
    for day in ("2025-03-10", "2025-03-11"):
        segments(lake, day, "BTC-USDT", "ETH-USDT")
    complete(lake, "2025-03-10", *marked("BTC-USDT", "ETH-USDT"))
    complete(lake, "2025-03-11", *marked("BTC-USDT"), ("ETH-USDT", "trades"))  # ETH's books and marks not merged yet
    first = evaluate()
    assert [(r.partition_key, r.run_key) for r in first] == [("2025-03-10", "recorder_day:2025-03-10")]
    assert first[0].job_name in (None, "daily_job") and recorder_day_sensor.job_name == "daily_job"
    complete(lake, "2025-03-11", *marked("BTC-USDT", "ETH-USDT"))
    second = evaluate()
    # the same run key for 03-10 again: Dagster starts a run key once, so 03-10 is not run twice
    assert [(r.partition_key, r.run_key) for r in second] == [("2025-03-10", "recorder_day:2025-03-10"),
                                                               ("2025-03-11", "recorder_day:2025-03-11")]


def test_a_day_merged_into_after_its_mark_runs_again_under_a_new_run_key(lake):
    segments(lake, "2025-03-10", "BTC-USDT")
    complete(lake, "2025-03-10", *marked("BTC-USDT"))
    assert [r.run_key for r in evaluate()] == ["recorder_day:2025-03-10"]
    folder = lake / "recorder_days" / "date=2025-03-10"
    table = pq.read_table(folder / "complete.parquet")
    pq.write_table(table.append_column("revision", pa.array([0, 1, 0], pa.int64())), folder / "complete.parquet")
    assert [r.run_key for r in evaluate()] == ["recorder_day:2025-03-10:r1"]


def test_days_that_are_not_complete_partitions_or_unreadable_request_nothing(lake):
    today = datetime.now(timezone.utc).date()
    complete(lake, today.isoformat(), ("BTC-USDT", "trades"))  # the day is not over: not a partition yet
    complete(lake, "2024-12-31", ("BTC-USDT", "trades"))  # before the partitions start
    bad = lake / "recorder_days" / "date=2025-03-12"
    bad.mkdir(parents=True)
    (bad / "complete.parquet").write_bytes(b"not parquet")
    empty = lake / "recorder_days" / "date=2025-03-13"
    empty.mkdir(parents=True)  # a folder without its file yet
    assert isinstance(evaluate(), dg.SkipReason)
    complete(lake, (today - timedelta(days=1)).isoformat(), ("BTC-USDT", "trades"))  # without segments: its own list
    assert [r.partition_key for r in evaluate()] == [(today - timedelta(days=1)).isoformat()]


def test_the_sensor_is_registered_on_and_targets_the_daily_job():
    assert recorder_day_sensor in sensors.defs.sensors
    assert recorder_day_sensor.default_status == dg.DefaultSensorStatus.RUNNING
