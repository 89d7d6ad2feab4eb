"""A file dropped into data/inbox/<SYMBOL>/ is ingested and leads to runs for the days it touched."""

from __future__ import annotations

import os

import dagster as dg

from dagster_defs.sensors import inbox_sensor


def test_dropped_file_requests_a_run_for_each_day_it_touched(data_dir):
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    (inbox / "trades.csv").write_text(
        "id,ts,price,size,side\n1,1741564801000,100,1,buy\n2,1741651201000,101,1,sell\n3,1741651202000,-1,1,buy\n"
    )
    with dg.instance_for_test() as instance:
        result = inbox_sensor(dg.build_sensor_context(instance=instance))
        assert sorted(r.partition_key for r in result) == ["2025-03-10", "2025-03-11"]
        assert len({r.run_key for r in result}) == 2
        assert (data_dir.data_dir / "inbox" / "processed" / "BTC-USDT" / "trades.csv").exists()
        assert sorted(p.parent.name for p in data_dir.trades.rglob("trades.parquet")) == ["date=2025-03-10", "date=2025-03-11"]
        assert len(list(data_dir.quarantine.rglob("*.parquet"))) == 1
        again = inbox_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(again, dg.SkipReason)


def test_unreadable_file_is_filed_under_failed_with_the_reason(data_dir):
    inbox = data_dir.data_dir / "inbox" / "ETH-USDT"
    inbox.mkdir(parents=True)
    (inbox / "bad.csv").write_text("when,px\n1,2\n")
    with dg.instance_for_test() as instance:
        result = inbox_sensor(dg.build_sensor_context(instance=instance))
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
        result = inbox_sensor(dg.build_sensor_context(instance=instance))
    assert [r.partition_key for r in result] == ["2025-03-10", "2025-03-10"]
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

    def full_disk_on_b(paths, symbol, path, name):
        if path.name == "b.csv":
            raise LakeWriteError(28, "No space left on device")
        return ingest(paths, symbol, path, name)

    monkeypatch.setattr(inbox, "_ingest", full_disk_on_b)
    with dg.instance_for_test() as instance:
        result = inbox_sensor(dg.build_sensor_context(instance=instance))
    assert [r.partition_key for r in result] == ["2025-03-10"]
    assert (box / "b.csv").exists() and not (box / "a.csv").exists()  # b waits for the next tick
