"""A file dropped into data/inbox/<SYMBOL>/ is ingested and leads to runs for the days it touched."""

from __future__ import annotations

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
