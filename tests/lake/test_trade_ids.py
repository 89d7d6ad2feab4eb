"""Trade ids are unique across a symbol's whole lake, not per day; conflicts are quarantined wherever they
come from; one quarantine row per bad input row (issue 18, item 4). The id index reads only the days
whose id range may hold an id, and stays a superset through crashes."""

from __future__ import annotations

import uuid
from datetime import date

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from python_assets.lake import store as lake

from python_assets.lake import trade_index
from python_assets.ingest.trades import ingest_file
from python_assets.lake.atomic import LakeWriteError
from python_assets.lake.store import write_trades
from python_assets.lake.trade_index import index_file, load_ranges

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
DAY_MS = 86_400_000
NOW = T0 + 60 * DAY_MS
HEADER = "id,ts,price,size,side\n"


def csv(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text(HEADER + "".join(lines))
    return path


def stored(paths) -> pd.DataFrame:
    return duckdb.sql(f"select trade_id, ts, price from read_parquet('{paths.trades}/*/*/*.parquet') order by ts").df()


def quarantined(paths) -> pd.DataFrame:
    return duckdb.sql(f"select source_file, source_row, reason from read_parquet('{paths.quarantine}/*/*.parquet') "
                      "order by source_file, source_row").df()


def test_a_trade_resent_with_a_corrected_time_on_the_next_day_is_a_conflict_not_a_second_row(data_dir, tmp_path):
    ingest_file(data_dir, csv(tmp_path, "a.csv", [f"1001,{T0 + 5},100,1,buy\n", f"1002,{T0 + 6},100,1,buy\n"]), "BTC-USDT", now=NOW)
    r = ingest_file(data_dir, csv(tmp_path, "b.csv", [f"1002,{T0 + DAY_MS + 6},100,1,buy\n", f"1003,{T0 + DAY_MS},99,1,buy\n"]),
                    "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added, r.duplicates, r.quarantined) == (2, 1, 0, 1)
    assert r.reasons == {"conflicting_trade_id": 1}
    assert stored(data_dir)["trade_id"].tolist() == ["1001", "1002", "1003"]
    assert quarantined(data_dir).values.tolist() == [["b.csv", 2, "conflicting_trade_id"]]


def test_a_known_id_with_another_price_in_a_later_file_is_quarantined_not_counted_a_duplicate(data_dir, tmp_path):
    ingest_file(data_dir, csv(tmp_path, "a.csv", [f"7,{T0 + 5},100,1,buy\n", f"8,{T0 + 6},100,1,sell\n"]), "BTC-USDT", now=NOW)
    r = ingest_file(data_dir, csv(tmp_path, "b.csv", [f"7,{T0 + 5},100,1,buy\n", f"8,{T0 + 6},101,1,sell\n"]), "BTC-USDT", now=NOW)
    assert (r.rows_added, r.duplicates, r.quarantined, r.reasons) == (0, 1, 1, {"conflicting_trade_id": 1})
    assert stored(data_dir)["price"].tolist() == [100.0, 100.0]  # the stored row wins


def test_a_grown_re_export_quarantines_only_its_new_bad_rows(data_dir, tmp_path):
    first = [f"1,{T0 + 1},100,1,buy\n", f"2,{T0 + 2},-1,1,buy\n", f"3,{T0 + 3},100,1,buy\n"]
    grown = first + [f"4,{T0 + 4},100,1,buy\n", f"5,{T0 + 5},abc,1,buy\n", f"2,{T0 + 2},-1,1,buy\n"]
    v1, v2 = csv(tmp_path, "export_v1.csv", first), csv(tmp_path, "export_v2.csv", grown)
    assert ingest_file(data_dir, v1, "BTC-USDT", now=NOW).quarantined == 1
    r = ingest_file(data_dir, v2, "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added, r.duplicates, r.quarantined) == (6, 1, 2, 3)  # counts stay per file ...
    for path in (v1, v2, v1):  # ... and re-ingesting either changes nothing
        ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    # ... but the quarantine holds one row per bad input row: the repeat of row 2 in v2 is a second input row
    assert quarantined(data_dir).values.tolist() == [["export_v1.csv", 3, "non_positive_price"],
                                                    ["export_v2.csv", 6, "non_numeric_price"],
                                                    ["export_v2.csv", 7, "non_positive_price"]]


def days_of_trades(paths, days: int, per_day: int = 50) -> None:
    """`days` days of trades with exchange-style ids that grow with time (no overlap between days)."""
    for d in range(days):
        t = pd.DataFrame({"trade_id": [str(10_000_000 + d * per_day + i) for i in range(per_day)],
                          "ts": [T0 + d * DAY_MS + i * 1000 for i in range(per_day)], "price": 100.0, "size": 1.0,
                          "side": "buy"})
        write_trades(paths, "BTC-USDT", t)


@pytest.fixture
def day_reads(monkeypatch) -> list[str]:
    """Days whose trade file the id lookup reads."""
    seen: list[str] = []
    real = pq.read_table

    def spy(path, *args, **kwargs):
        if str(path).endswith("trades.parquet"):
            seen.append(str(path).split("date=")[1][:10])
        return real(path, *args, **kwargs)

    monkeypatch.setattr(trade_index.pq, "read_table", spy)
    return seen


def test_id_lookups_read_only_the_days_whose_id_range_may_hold_the_ids(data_dir, tmp_path, day_reads):
    days_of_trades(data_dir, 30)
    day_reads.clear()
    new_day = [f"{10_000_000 + 30 * 50 + i},{T0 + 30 * DAY_MS + i},100,1,buy\n" for i in range(5)]
    assert ingest_file(data_dir, csv(tmp_path, "new.csv", new_day), "BTC-USDT", now=NOW).rows_added == 5
    assert day_reads == []  # a new day of growing ids: nothing else to read, however long the history
    resent = [f"{10_000_000 + 7 * 50 + 3},{T0 + 31 * DAY_MS},100,1,buy\n"]  # day 7's trade, sent again a month on
    r = ingest_file(data_dir, csv(tmp_path, "resent.csv", resent), "BTC-USDT", now=NOW)
    assert r.reasons == {"conflicting_trade_id": 1}
    assert day_reads == ["2025-03-17"]


def test_random_ids_are_found_on_any_day(data_dir, tmp_path):
    ids = [str(uuid.UUID(int=i * 7919)) for i in range(6)]
    ingest_file(data_dir, csv(tmp_path, "a.csv", [f"{ids[i]},{T0 + i * DAY_MS},100,1,buy\n" for i in range(6)]), "BTC-USDT", now=NOW)
    r = ingest_file(data_dir, csv(tmp_path, "b.csv", [f"{ids[2]},{T0 + 9 * DAY_MS},100,1,buy\n"]), "BTC-USDT", now=NOW)
    assert r.reasons == {"conflicting_trade_id": 1} and len(stored(data_dir)) == 6


def test_files_without_ids_are_not_looked_up_on_other_days(data_dir, tmp_path, day_reads):
    for d in range(3):
        path = tmp_path / f"noid{d}.csv"
        path.write_text("ts,price,size\n" + "".join(f"{T0 + d * DAY_MS + i},100,1\n" for i in range(3)))
        ingest_file(data_dir, path, "ETH-USDT", now=NOW)
    assert day_reads == [] and set(load_ranges(data_dir, "ETH-USDT").values()) == {(None, None)}


def test_the_index_is_built_for_a_lake_from_before_it_and_rebuilt_when_damaged(data_dir, tmp_path):
    days_of_trades(data_dir, 3)
    resent = csv(tmp_path, "resent.csv", [f"{10_000_000 + 60},{T0 + 5 * DAY_MS},100,1,buy\n"])  # day 1's trade
    for damage in (lambda f: f.unlink(), lambda f: f.write_bytes(b"not parquet")):
        damage(index_file(data_dir, "BTC-USDT"))
        assert ingest_file(data_dir, resent, "BTC-USDT", now=NOW).reasons == {"conflicting_trade_id": 1}
    assert load_ranges(data_dir, "BTC-USDT")["2025-03-11"] == ("n" + "10000050".zfill(40), "n" + "10000099".zfill(40))


def test_a_crash_between_the_index_and_the_day_file_leaves_the_index_wide_never_narrow(data_dir, tmp_path, monkeypatch):
    days_of_trades(data_dir, 1)
    real = lake.write_table_atomic

    def crash_on_day_files(table, target):
        if target.name == "trades.parquet":
            raise LakeWriteError(28, f"cannot write {target}: No space left on device")
        real(table, target)

    monkeypatch.setattr(lake, "write_table_atomic", crash_on_day_files)
    new = csv(tmp_path, "new.csv", [f"20000000,{T0 + 2 * DAY_MS},100,1,buy\n"])
    with pytest.raises(LakeWriteError):
        ingest_file(data_dir, new, "BTC-USDT", now=NOW)
    assert load_ranges(data_dir, "BTC-USDT")["2025-03-12"] == ("n" + "20000000".zfill(40),) * 2
    monkeypatch.setattr(lake, "write_table_atomic", real)
    assert ingest_file(data_dir, new, "BTC-USDT", now=NOW).rows_added == 1  # the retry stores it once
    moved = csv(tmp_path, "moved.csv", [f"20000000,{T0 + 4 * DAY_MS},100,1,buy\n"])
    assert ingest_file(data_dir, moved, "BTC-USDT", now=NOW).reasons == {"conflicting_trade_id": 1}
    assert len(stored(data_dir)) == 51


def test_recorded_trades_the_lake_refuses_are_quarantined_with_the_reason(data_dir):
    from python_assets.exchange.recorder import LIVE_SCHEMA, hour_file, merge_closed_hours
    from python_assets.lake.atomic import write_table_atomic
    import pyarrow as pa

    days_of_trades(data_dir, 1, per_day=2)
    rows = pd.DataFrame({"trade_id": ["10000000", "r1", "r2"], "ts": [T0 + DAY_MS + 1, T0 + DAY_MS + 2, T0 + DAY_MS + 3],
                         "price": [100.0, 1e20, 100.0], "size": [1.0, 1e10, 1.0], "side": ["buy", "sell", None]})
    write_table_atomic(pa.Table.from_pandas(rows, schema=LIVE_SCHEMA, preserve_index=False),
                       hour_file(data_dir, "BTC-USDT", T0 + DAY_MS))
    assert merge_closed_hours(data_dir, "BTC-USDT", T0 + 2 * DAY_MS) == 1
    assert stored(data_dir)["trade_id"].tolist() == ["10000000", "10000001", "r2"]
    q = quarantined(data_dir)
    assert q["reason"].tolist() == ["conflicting_trade_id", "price_out_of_range"]
    assert q["source_file"].str.startswith("recorder:date=2025-03-11/00.parquet").all()
    assert date(2025, 3, 11).isoformat() in load_ranges(data_dir, "BTC-USDT")
