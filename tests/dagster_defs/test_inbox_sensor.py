"""A file dropped into data/inbox/<SYMBOL>/ is ingested and leads to runs for the days it touched."""

from __future__ import annotations

import os

import pytest

import dagster as dg

from dagster_defs.sensors import inbox_sensor
from python_assets.lake.atomic import LakeWriteError


def settled_tick(instance: dg.DagsterInstance, context: dg.SensorEvaluationContext | None = None):
    """The tick that takes the files: a first one records their size and mtime (a file is taken once they
    held for a tick), a second one ingests them."""
    context = context or dg.build_sensor_context(instance=instance)
    first = inbox_sensor(context)
    if not isinstance(first, dg.SkipReason) or "settling" not in first.skip_message:
        return first  # taken at first sight: what the tests that follow check against
    return inbox_sensor(context)


def test_dropped_file_requests_a_run_for_each_day_it_touched(data_dir):
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    (inbox / "trades.csv").write_text(
        "id,ts,price,size,side\n1,1741564801000,100,1,buy\n2,1741651201000,101,1,sell\n3,1741651202000,-1,1,buy\n"
    )
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        result = settled_tick(instance, context)
        assert sorted(r.partition_key for r in result) == ["2025-03-10", "2025-03-11"]
        assert len({r.run_key for r in result}) == 2
        assert (data_dir.data_dir / "inbox" / "processed" / "BTC-USDT" / "trades.csv").exists()
        assert sorted(p.parent.name for p in data_dir.trades.rglob("trades.parquet")) == ["date=2025-03-10", "date=2025-03-11"]
        assert len(list(data_dir.quarantine.rglob("*.parquet"))) == 1
        again = inbox_sensor(context)  # its cursor says the runs were requested
        assert isinstance(again, dg.SkipReason)


def test_unreadable_file_is_filed_under_failed_with_the_reason(data_dir):
    inbox = data_dir.data_dir / "inbox" / "ETH-USDT"
    inbox.mkdir(parents=True)
    (inbox / "bad.csv").write_text("when,px\n1,2\n")
    with dg.instance_for_test() as instance:
        result = settled_tick(instance)
    assert isinstance(result, dg.SkipReason)
    failed = data_dir.data_dir / "inbox" / "failed" / "ETH-USDT"
    assert "missing required column(s)" in (failed / "bad.csv.error").read_text()


def test_poison_files_are_filed_under_failed_and_the_files_behind_them_proceed(data_dir, monkeypatch):
    import csv
    import os

    from python_assets.ingest import inbox as inbox_module
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    files = {
        "a_header.csv": '"ts,price,size\n1741564801000,100,1\n',  # the header swallowed by an open quote
        "b_crash.csv": "ts,price,size\n1741564801000,100,1\n",  # the reader fails in a way nobody foresaw
        "c_huge.csv": f"ts,price,size,note\n1741564801000,100,1,{'x' * 140_000}\n1741564802000,100,1,ok\n",
        "d_good.csv": "id,ts,price,size\n1,1741564803000,100,1\n",
    }
    for i, (name, text) in enumerate(files.items()):
        (inbox / name).write_text(text)
        os.utime(inbox / name, (1_000 + i, 1_000 + i))  # oldest first: the poison files lead the queue
    real = inbox_module.ingest_file

    def crashing(paths, path, symbol, **options):
        if path.name == "b_crash.csv":
            raise csv.Error("an error nobody foresaw")
        return real(paths, path, symbol, **options)

    monkeypatch.setattr(inbox_module, "ingest_file", crashing)
    with dg.instance_for_test() as instance:
        result = settled_tick(instance)
    assert [r.partition_key for r in result] == ["2025-03-10"]  # one run for the day both good files touched
    failed = data_dir.data_dir / "inbox" / "failed" / "BTC-USDT"
    processed = data_dir.data_dir / "inbox" / "processed" / "BTC-USDT"
    assert sorted(p.name for p in failed.iterdir()) == ["a_header.csv", "a_header.csv.error", "b_crash.csv",
                                                        "b_crash.csv.error"]
    assert "the header, cannot be read" in (failed / "a_header.csv.error").read_text()
    assert (failed / "b_crash.csv.error").read_text() == "Error: an error nobody foresaw\n"
    assert sorted(p.name for p in processed.iterdir()) == ["c_huge.csv", "d_good.csv"]
    assert not list(inbox.iterdir())
    assert len(list(data_dir.quarantine.rglob("*.parquet"))) == 1  # the huge line of c_huge.csv


def test_a_lake_write_failure_midway_keeps_the_runs_of_the_files_filed_before_it(data_dir, monkeypatch):
    """The first file is ingested and filed, the second hits a full disk: the tick used to raise, losing
    the first file's run request for good (the retry tick only saw the second file)."""
    from python_assets.ingest import inbox
    from python_assets.lake.atomic import LakeWriteError

    box = data_dir.data_dir / "inbox" / "BTC-USDT"
    box.mkdir(parents=True)
    (box / "a.csv").write_text("id,ts,price,size\n1,1741564801000,100,1\n")
    (box / "b.csv").write_text("id,ts,price,size\n2,1741651201000,100,1\n")
    os.utime(box / "b.csv", (2e9, 2e9))  # b after a
    ingest = inbox._ingest

    def full_disk_on_b(paths, symbol, path, name, *rest):
        if path.name == "b.csv":
            raise LakeWriteError(28, "No space left on device")
        return ingest(paths, symbol, path, name, *rest)

    monkeypatch.setattr(inbox, "_ingest", full_disk_on_b)
    with dg.instance_for_test() as instance:
        result = settled_tick(instance)
    assert [r.partition_key for r in result] == ["2025-03-10"]
    assert (box / "b.csv").exists() and not (box / "a.csv").exists()  # b waits for the next tick


def trades(first_id: int, count: int, day_offset: int = 0) -> str:
    base = 1741564801000 + day_offset * 86_400_000  # 2025-03-10 + day_offset
    return "".join(f"{first_id + j},{base + j * 1000},100,1,buy\n" for j in range(count))


def lake_rows(data_dir) -> int:
    import duckdb

    return duckdb.sql(f"select count(*) from read_parquet('{data_dir.trades}/**/*.parquet')").fetchall()[0][0]


def test_a_file_still_being_written_waits_until_it_has_settled(data_dir):
    """A file copied in place (cp, scp) was ingested as far as the copy had got and moved to processed/: the
    rest of it was lost (review: inbox_partial.py, 401 of 1000 rows)."""
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    rows = trades(0, 1000)
    cut = len("id,ts,price,size,side\n") + len(trades(0, 400)) + 7
    text = "id,ts,price,size,side\n" + rows
    with open(inbox / "big.csv", "w") as upload, dg.instance_for_test() as instance:
        upload.write(text[:cut])
        upload.flush()
        context = dg.build_sensor_context(instance=instance)
        assert "1 inbox file(s) settling" in inbox_sensor(context).skip_message  # first seen
        upload.write(text[cut:cut + 10_000])
        upload.flush()
        assert "settling" in inbox_sensor(context).skip_message  # grew since the last tick
        upload.write(text[cut + 10_000:])
        upload.flush()
        assert "settling" in inbox_sensor(context).skip_message
        upload.close()
        result = inbox_sensor(context)  # the same size and mtime as the tick before: taken
    assert [r.partition_key for r in result] == ["2025-03-10"]
    assert lake_rows(data_dir) == 1000
    assert (data_dir.data_dir / "inbox" / "processed" / "BTC-USDT" / "big.csv").read_text() == text


def test_files_named_as_partial_downloads_and_dot_files_are_never_taken(data_dir):
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    for name in ("a.csv.part", "b.csv.crdownload", "c.csv.tmp", ".d.csv.x1Y2z3"):
        (inbox / name).write_text("id,ts,price,size,side\n" + trades(0, 2))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        assert inbox_sensor(context).skip_message == "inbox is empty"
        assert inbox_sensor(context).skip_message == "inbox is empty"
    assert len(list(inbox.iterdir())) == 4


def test_many_files_over_a_few_days_request_one_run_per_day(data_dir):
    """60 files over 5 days requested 60 full daily runs, one per file and day (review: inbox_many.py)."""
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    for i in range(60):
        (inbox / f"t{i:04d}.csv").write_text("id,ts,price,size,side\n" + trades(i * 100, 5, i % 5))
    with dg.instance_for_test() as instance:
        result = settled_tick(instance)
    assert sorted(r.partition_key for r in result) == ["2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13",
                                                       "2025-03-14"]
    assert len({r.run_key for r in result}) == 5
    assert lake_rows(data_dir) == 300


def test_a_file_dropped_again_under_a_used_name_runs_again(data_dir):
    """Once processed/ was emptied, a new file under a name used before got the run key of the first one
    (inbox:SYMBOL:FILE:DAY) and Dagster dropped its run (review: inbox_same.py)."""
    import shutil

    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        (inbox / "trades.csv").write_text("id,ts,price,size,side\n1,1741564801000,100,1,buy\n")
        (first,) = settled_tick(instance, context)
        shutil.rmtree(inbox.parent / "processed")  # housekeeping
        (inbox / "trades.csv").write_text("id,ts,price,size,side\n2,1741564802000,101,1,sell\n")
        (second,) = settled_tick(instance, context)
    assert first.partition_key == second.partition_key == "2025-03-10"
    assert first.run_key != second.run_key


def test_a_tick_takes_a_bounded_share_of_a_large_batch_and_leaves_the_rest_for_the_next(data_dir, monkeypatch):
    """Every pending file was ingested in one evaluation: a large batch ran past Dagster's 60 s sensor limit,
    the tick failed after files were moved and their runs were lost."""
    from dagster_defs import sensors

    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    for i in range(5):
        (inbox / f"t{i}.csv").write_text("id,ts,price,size,side\n" + trades(i * 100, 3, i))
        os.utime(inbox / f"t{i}.csv", (1_000 + i, 1_000 + i))
    monkeypatch.setattr(sensors, "INBOX_TICK_MAX_FILES", 3)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        first = settled_tick(instance, context)
        assert sorted(r.partition_key for r in first) == ["2025-03-10", "2025-03-11", "2025-03-12"]
        assert sorted(p.name for p in inbox.iterdir()) == ["t3.csv", "t4.csv"]
        monkeypatch.setattr(sensors, "INBOX_TICK_BUDGET_S", 0.0)  # out of time after the first file
        second = inbox_sensor(context)
        assert [r.partition_key for r in second] == ["2025-03-13"]
        third = inbox_sensor(context)
        assert [r.partition_key for r in third] == ["2025-03-14"]
    assert lake_rows(data_dir) == 15


def test_an_ingest_with_the_synthetic_source_logs_one_hint_to_set_blofin_source_lake(data_dir, monkeypatch):
    """With the default BLOFIN_SOURCE=synthetic, the runs the inbox requests refuse a lake holding real data: the
    tick said nothing about it (README's inbox section neither)."""
    import logging

    from dagster_defs.sensors import INBOX_SOURCE_HINT

    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    monkeypatch.delenv("BLOFIN_SOURCE", raising=False)
    with dg.instance_for_test() as instance:
        for source, name in (("synthetic", "a.csv"), ("lake", "b.csv")):
            monkeypatch.setenv("BLOFIN_SOURCE", source)
            (inbox / name).write_text(f"id,ts,price,size,side\n{name},1741564801000,100,1,buy\n")
            context, said = dg.build_sensor_context(instance=instance), []
            handler = logging.Handler()
            handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
            context.log.addHandler(handler)
            (request,) = settled_tick(instance, context)
            hints = [line for line in said if "BLOFIN_SOURCE" in line]
            assert hints == ([INBOX_SOURCE_HINT] if source == "synthetic" else []), said
    assert "BLOFIN_SOURCE=lake" in INBOX_SOURCE_HINT


class Killed(BaseException):
    """Dagster giving up on an evaluation (its gRPC timeout) or the code server dying: nothing catches it."""


def test_an_evaluation_killed_after_the_ingest_still_leads_to_the_run(data_dir, monkeypatch):
    """The sensor ingested a big file and filed it under processed/, then ran past Dagster's sensor timeout:
    the tick failed, its run requests were dropped, and the next tick saw an empty inbox; no run ever came
    for the day although its rows were in the lake (review_ops F1: 3M-row CSV, 0 runs)."""
    from dagster_defs import sensors

    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    (inbox / "big.csv").write_text("id,ts,price,size,side\n" + trades(0, 5))
    real, filed = sensors.daily_partitions_def, data_dir.data_dir / "inbox" / "processed" / "BTC-USDT" / "big.csv"
    kills = iter([True])

    def killed_once():
        if filed.exists() and next(kills, False):  # the evaluation that ingested and filed it
            raise Killed("past DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS")
        return real()

    monkeypatch.setattr(sensors, "daily_partitions_def", killed_once)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        with pytest.raises(Killed):
            settled_tick(instance, context)
        assert filed.exists() and lake_rows(data_dir) == 5
        result = inbox_sensor(context)  # the killed tick saved no cursor: this one starts from the one before
        assert [r.partition_key for r in result] == ["2025-03-10"]
        assert isinstance(inbox_sensor(context), dg.SkipReason)  # requested once the tick succeeded
    assert lake_rows(data_dir) == 5


def test_an_evaluation_killed_between_the_ingest_and_the_filing_ingests_again_and_runs(data_dir, monkeypatch):
    """A kill after the rows are in the lake but before the file is filed leaves it in the inbox: the next
    tick takes it again (the lake keeps no row twice) and requests its day."""
    from python_assets.ingest import inbox as inbox_module

    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_text("id,ts,price,size,side\n" + trades(0, 5))
    real, kills = inbox_module.shutil.move, iter([True])

    def move_killed_once(src, dst):
        if next(kills, False):
            raise Killed("the code server died")
        return real(src, dst)

    monkeypatch.setattr(inbox_module.shutil, "move", move_killed_once)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        with pytest.raises(Killed):
            settled_tick(instance, context)
        assert (inbox / "a.csv").exists()
        result = inbox_sensor(context)
        assert [r.partition_key for r in result] == ["2025-03-10"]
    assert lake_rows(data_dir) == 5
    assert not (inbox / "a.csv").exists()


@pytest.mark.parametrize("failure", [Killed("the code server died"), LakeWriteError(28, "No space left on device")],
                         ids=["killed", "disk_full"])
def test_a_file_cut_short_midway_still_gets_the_runs_of_the_days_it_wrote(data_dir, monkeypatch, failure):
    """A kill or a full disk while writing the 2nd of a file's 3 days: the retry found day 1's rows stored (its
    duplicates), recorded only days 2-3, and day 1 never got its run (review_crash2: inbox_kill.py)."""
    from python_assets.lake import store

    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_text("id,ts,price,size,side\n" + "".join(trades(10 * d, 3, d) for d in range(3)))
    real, calls = store.write_table_atomic, iter(range(99))

    def fails_at_the_second_day(table, target):
        if next(calls) == 1:
            raise failure
        return real(table, target)

    monkeypatch.setattr(store, "write_table_atomic", fails_at_the_second_day)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        requested = set()
        try:  # a disk-full tick ends and requests what its records name; a killed one requests nothing
            requested |= {r.partition_key for r in settled_tick(instance, context)}
        except Killed:
            pass
        assert (inbox / "a.csv").exists() and lake_rows(data_dir) == 3  # day 1 stored, the file left to retry
        for _ in range(2):  # the disk-full tick saved its cursor: the file settles again first
            result = inbox_sensor(context)
            requested |= set() if isinstance(result, dg.SkipReason) else {r.partition_key for r in result}
        assert sorted(requested) == ["2025-03-10", "2025-03-11", "2025-03-12"]
    assert lake_rows(data_dir) == 9 and not (inbox / "a.csv").exists()


def test_an_identical_file_dropped_again_requests_no_run(data_dir):
    """Its rows are all stored already: no day changed, so the records written before its ingest are dropped."""
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    body = "id,ts,price,size,side\n" + trades(0, 3) + trades(10, 3, 1)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        (inbox / "a.csv").write_text(body)
        assert len(settled_tick(instance, context)) == 2
        (inbox / "a.csv").write_text(body)
        again = settled_tick(instance, context)
        assert isinstance(again, dg.SkipReason) and "no rows" in again.skip_message
    assert (inbox.parent / "processed" / "BTC-USDT" / "a-2.csv").exists()
    assert not list((data_dir.data_dir / ".inbox-runs").glob("*.json"))


def test_a_second_evaluation_while_the_first_still_ingests_takes_no_file(data_dir):
    """Dagster starts the next tick while a timed-out evaluation still runs in the code server: the two must
    not ingest and file the same file."""
    from python_assets.ingest.inbox_runs import inbox_lock

    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_text("id,ts,price,size,side\n" + trades(0, 5))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        with inbox_lock(data_dir):  # the earlier evaluation
            for _ in range(2):
                assert "still taking inbox files" in inbox_sensor(context).skip_message
        assert (inbox / "a.csv").exists()
        assert [r.partition_key for r in settled_tick(instance, context)] == ["2025-03-10"]


def test_older_history_waits_for_the_partitions_to_reach_it_and_runs_after_a_reload(data_dir, monkeypatch):
    """Partitions start at the lake's first day as read when the code location loaded: a file of an earlier
    day was ingested, logged 'no run covers the day (BLOFIN_PARTITIONS_START sets the first)' though that was
    not set, and after a reload nothing ever requested the day (review_ops F2)."""
    import logging

    from dagster_defs import partitions, sensors

    monkeypatch.delenv("BLOFIN_PARTITIONS_START", raising=False)
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    (inbox / "dec01.csv").write_text("id,ts,price,size,side\n1,1764547200000,100,1,buy\n")  # 2025-12-01
    partitions.daily_partitions_def.cache_clear()
    try:
        with dg.instance_for_test() as instance:
            context, said = dg.build_sensor_context(instance=instance), []
            handler = logging.Handler()
            handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
            context.log.addHandler(handler)
            assert [r.partition_key for r in settled_tick(instance, context)] == ["2025-12-01"]
            partitions.daily_partitions_def.cache_clear()  # the code location loads with the lake at 2025-12-01
            assert partitions.daily_partitions_def().start.date().isoformat() == "2025-12-01"  # as loaded
            (inbox / "nov30.csv").write_text("id,ts,price,size,side\n2,1764460800000,99,1,buy\n")  # 2025-11-30
            for _ in range(3):  # settling, ingested, and the tick after: the day waits, its record kept
                result = inbox_sensor(context)
                assert isinstance(result, dg.SkipReason)
            assert "2025-11-30 wait for the daily partitions" in result.skip_message
            line = next(s for s in said if "2025-11-30 is before the first daily partition 2025-12-01" in s)
            assert "once the code location reloads" in line and "BLOFIN_PARTITIONS_START" not in line, line
            partitions.daily_partitions_def.cache_clear()  # the code location reloads
            assert [r.partition_key for r in inbox_sensor(context)] == ["2025-11-30"]
            assert isinstance(inbox_sensor(context), dg.SkipReason)
        monkeypatch.setenv("BLOFIN_PARTITIONS_START", "2025-12-01")  # pinned: a reload does not reach it
        pinned = sensors._before_first("2025-11-30", "2025-12-01")
        assert "BLOFIN_PARTITIONS_START=2025-12-01" in pinned and "set BLOFIN_PARTITIONS_START=2025-11-30" in pinned
        assert "reload" not in pinned
    finally:
        partitions.daily_partitions_def.cache_clear()
