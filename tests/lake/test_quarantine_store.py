"""The quarantine store (lake/store.py write_quarantine): a source's file is merged into, never replaced, so rows
quarantined by an earlier write of the same source survive a later one (a recorder hour merged twice: review s3)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from python_assets.config import Paths
from python_assets.exchange.recorder import LIVE_SCHEMA, hour_file, merge_closed_hours
from python_assets.lake.atomic import write_table_atomic
from python_assets.lake.quarantine import write_quarantine
from python_assets.platform.timeframes import HOUR_MS

HOUR = 1_800_093_600_000  # 2027-01-16 10:00 UTC


def bad(*records: dict, reason: str = "non_positive_price", ts=None) -> pd.DataFrame:
    return pd.DataFrame({"source_file": "src", "source_row": range(1, len(records) + 1), "reason": reason,
                         "raw_record": [json.dumps(r) for r in records],
                         "ts": pd.array(ts if ts is not None else [HOUR] * len(records), dtype="Int64")})


def stored(paths: Paths) -> pd.DataFrame:
    files = sorted((paths.quarantine / "symbol=BTC-USDT").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def test_a_second_write_of_a_source_keeps_its_earlier_rows_and_repeats_change_no_bit(data_dir: Paths) -> None:
    target = write_quarantine(data_dir, "BTC-USDT", "k1", bad({"id": 2}, ts=[None]))
    write_quarantine(data_dir, "BTC-USDT", "k1", bad({"id": 4}, reason="non_positive_size"))
    got = stored(data_dir)
    assert [json.loads(r)["id"] for r in got["raw_record"]] == [2, 4]
    assert got["ts"].isna().tolist() == [True, False] and got["ts"].iloc[1] == HOUR  # no float round trip
    before = target.read_bytes()
    assert write_quarantine(data_dir, "BTC-USDT", "k1", bad({"id": 2}, {"id": 4})) == target
    assert target.read_bytes() == before  # the same rows again: nothing added, same bits


def test_an_hour_merged_again_keeps_the_rows_its_first_merge_quarantined(data_dir: Paths) -> None:
    def hour_rows(*rows: tuple) -> None:
        write_table_atomic(pa.Table.from_pandas(pd.DataFrame(rows, columns=LIVE_SCHEMA.names), schema=LIVE_SCHEMA,
                                                preserve_index=False), hour_file(data_dir, "BTC-USDT", HOUR))

    hour_rows(("1", HOUR, 100.0, 1.0, "buy"), ("2", HOUR + 1, 0.0, 1.0, "buy"), ("3", HOUR + 2, 100.0, 1.0, "buy"))
    assert merge_closed_hours(data_dir, "BTC-USDT", HOUR + 2 * HOUR_MS) == 1
    hour_rows(("4", HOUR + 3_000, 100.0, -1.0, "buy"), ("5", HOUR + 4_000, 100.0, 1.0, "buy"))  # a back-filled hole
    assert merge_closed_hours(data_dir, "BTC-USDT", HOUR + 5 * HOUR_MS) == 1
    got = stored(data_dir)
    assert sorted(zip(got["reason"], [json.loads(r)["trade_id"] for r in got["raw_record"]])) == [
        ("non_positive_price", "2"), ("non_positive_size", "4")]
    assert len(list((data_dir.quarantine / "symbol=BTC-USDT").glob("*.parquet"))) == 1
    trades = pq.read_table(next(data_dir.trades.glob("symbol=BTC-USDT/date=*/trades.parquet"))).to_pandas()
    assert sorted(trades["trade_id"]) == ["1", "3", "5"]
