"""Trades of one millisecond are stored (and numbered by `seq`, which the bars' open and close follow) by
their integer trade id, not by the order a file lists them; other ids keep arrival order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from python_assets.config import Paths
from python_assets.ingest.trades import ingest_file
from python_assets.lake.trade_order import trade_order

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
NOW = T0 + 3 * 86_400_000


def _ordered_ids(ts: list[int], ids: list[str]) -> list[str]:
    return [ids[i] for i in trade_order(np.array(ts), pd.Series(ids, dtype=object))]


def test_ids_of_one_millisecond_compare_as_integers_and_other_ids_keep_arrival_order() -> None:
    assert _ordered_ids([T0, T0, T0, T0 - 1], ["10", "9", "100", "7"]) == ["7", "9", "10", "100"]  # not "10" < "9"
    assert _ordered_ids([T0, T0, T0 + 1, T0 + 1], ["b", "a", "9", "x"]) == ["b", "a", "9", "x"]  # arrival
    assert _ordered_ids([T0 + 1, T0], ["1", "2"]) == ["2", "1"]  # time first


def _day_file(paths: Paths) -> Path:
    return next((paths.trades / "symbol=BTC-USDT").glob("date=*/trades.parquet"))


def test_a_newest_first_dump_stores_the_same_file_as_an_oldest_first_one(tmp_path: Path, monkeypatch) -> None:
    rows = [(T0, 11, 2.0, "buy", 1001), (T0, 12, 1.0, "sell", 1002), (T0 + 5, 13, 1.0, "buy", 999),
            (T0 + 5, 14, 1.0, "sell", 1000), (T0 + 9, 15, 1.0, "buy", 1003)]
    stored = []
    for name, order in (("asc", rows), ("desc", rows[::-1])):
        paths = Paths((tmp_path / name).resolve())
        monkeypatch.setenv("BLOFIN_DATA_DIR", str(paths.data_dir))
        body = "ts,price,size,side,trade_id\n" + "".join(",".join(map(str, r)) + "\n" for r in order)
        (tmp_path / f"{name}.csv").write_text(body)
        assert ingest_file(paths, tmp_path / f"{name}.csv", "BTC-USDT", now=NOW).rows_added == 5
        before = _day_file(paths).read_bytes()
        assert ingest_file(paths, tmp_path / f"{name}.csv", "BTC-USDT", now=NOW).rows_added == 0
        assert _day_file(paths).read_bytes() == before  # a re-import leaves the file bit for bit
        stored.append(before)
        got = pd.read_parquet(_day_file(paths))
        assert got["trade_id"].tolist() == ["1001", "1002", "999", "1000", "1003"]
        assert got["seq"].tolist() == [0, 1, 2, 3, 4]
    assert stored[0] == stored[1]


def test_a_later_file_s_smaller_id_at_a_stored_millisecond_goes_first(data_dir: Paths, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(f"ts,price,size,trade_id\n{T0},10,1,5\n")
    (tmp_path / "b.csv").write_text(f"ts,price,size,trade_id\n{T0},11,1,3\n")
    for name in ("a.csv", "b.csv"):
        ingest_file(data_dir, tmp_path / name, "BTC-USDT", now=NOW)
    assert pd.read_parquet(_day_file(data_dir))[["trade_id", "seq"]].values.tolist() == [["3", 0], ["5", 1]]
