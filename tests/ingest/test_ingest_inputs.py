"""Ingestion of odd but valid inputs: float trade ids, boolean values, case-twin columns, JSON object
arrays, gzip files, headerless CSVs with a side column."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from python_assets.config import Paths
from python_assets.ingest.trades import IngestError, ingest_file

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
NOW = T0 + 3 * 86_400_000


def stored(paths: Paths, symbol: str = "BTC-USDT") -> pd.DataFrame:
    """The symbol's lake trades, ordered by time."""
    frames = [pd.read_parquet(p) for p in sorted((paths.trades / f"symbol={symbol}").glob("date=*/trades.parquet"))]
    return pd.concat(frames, ignore_index=True).sort_values("ts", ignore_index=True)


def quarantined(paths: Paths, symbol: str = "BTC-USDT") -> pd.DataFrame:
    """The symbol's quarantine rows."""
    files = sorted((paths.quarantine / f"symbol={symbol}").glob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def test_float_trade_ids_are_the_same_ids_as_their_integers(data_dir: Paths, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(f"ts,price,size,side,trade_id\n{T0},100,1,buy,101\n{T0 + 1},100,2,sell,102.0\n")
    frame = pd.DataFrame({"ts": [T0, T0 + 1, T0 + 2], "price": [100.0] * 3, "size": [1.0, 2.0, 3.0],
                          "side": ["buy", "sell", "buy"], "trade_id": [101, 102, np.nan]})  # float64 ids
    frame.to_parquet(tmp_path / "b.parquet")
    (tmp_path / "c.jsonl").write_text(json.dumps({"ts": T0, "price": 100, "size": 1, "side": "buy", "trade_id": 101.0}) + "\n")
    ingest_file(data_dir, tmp_path / "a.csv", "BTC-USDT", now=NOW)
    b = ingest_file(data_dir, tmp_path / "b.parquet", "BTC-USDT", now=NOW)
    c = ingest_file(data_dir, tmp_path / "c.jsonl", "BTC-USDT", now=NOW)
    assert (b.rows_added, b.duplicates, c.rows_added, c.duplicates) == (1, 2, 0, 1)
    assert stored(data_dir)["trade_id"].tolist()[:2] == ["101", "102"] and len(stored(data_dir)) == 3


def test_float_trade_ids_no_integer_names_exactly_are_quarantined(data_dir: Paths, tmp_path: Path) -> None:
    ids = [101.5, 2.0**53 + 2, float("inf"), 7.0]
    pd.DataFrame({"ts": [T0 + i for i in range(4)], "price": [1.0] * 4, "size": [1.0] * 4, "trade_id": ids}).to_parquet(
        tmp_path / "f.parquet")
    r = ingest_file(data_dir, tmp_path / "f.parquet", "BTC-USDT", now=NOW)
    assert (r.rows_added, r.reasons) == (1, {"inexact_trade_id": 3})
    assert stored(data_dir)["trade_id"].tolist() == ["7"]


def test_a_boolean_price_or_size_is_not_a_number(data_dir: Paths, tmp_path: Path) -> None:
    rows = [{"ts": T0, "price": True, "size": 1}, {"ts": T0 + 1, "price": 100, "size": False},
            {"ts": T0 + 2, "price": 1, "size": 1}]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pd.DataFrame({"ts": [T0 + 3], "price": [True], "size": [1.0]}).to_parquet(tmp_path / "b.parquet")
    r = ingest_file(data_dir, tmp_path / "b.jsonl", "BTC-USDT", now=NOW)
    p = ingest_file(data_dir, tmp_path / "b.parquet", "BTC-USDT", now=NOW)
    assert (r.rows_added, r.reasons) == (1, {"non_numeric_price": 1, "non_numeric_size": 1})
    assert (p.rows_added, p.reasons) == (0, {"non_numeric_price": 1})
    assert stored(data_dir)[["price", "size"]].values.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("header", ["T,t,p,q", "ts,price,Price,size"])
def test_columns_that_differ_only_in_case_are_refused_not_one_picked(data_dir: Paths, tmp_path: Path, header: str) -> None:
    (tmp_path / "c.csv").write_text(f"{header}\n{T0},{T0 // 1000},100,1\n")
    with pytest.raises(IngestError, match=r"ambiguous columns (T, t|price, Price)"):
        ingest_file(data_dir, tmp_path / "c.csv", "BTC-USDT", now=NOW)
    assert not data_dir.trades.exists()


def test_a_json_array_of_trade_objects_is_read_like_json_lines(data_dir: Paths, tmp_path: Path) -> None:
    rows = [{"timestamp": T0 + i, "price": 100.0, "amount": 1.0, "side": "buy", "id": str(i), "info": {"x": i}}
            for i in range(3)] + [[1, 2, 3]]  # what json.dump(ccxt fetch_trades) gives, and a stray list
    (tmp_path / "objects.json").write_text(json.dumps(rows))
    r = ingest_file(data_dir, tmp_path / "objects.json", "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added, r.reasons) == (4, 3, {"malformed_row": 1})
    assert stored(data_dir)["trade_id"].tolist() == ["0", "1", "2"]
    assert quarantined(data_dir)["source_row"].tolist() == [4]


@pytest.mark.parametrize("name", ["t.csv.gz", "t.jsonl.gz", "t.json.gz", "t.JSON.GZ"])
def test_gzipped_text_files_are_read_through_their_gzip_layer(data_dir: Paths, tmp_path: Path, name: str) -> None:
    rows = [[T0 + i, str(i), None, "buy", 100.0, 1.0, 100.0] for i in range(3)]
    text = {"t.csv.gz": "ts,price,size,trade_id\n" + "".join(f"{r[0]},{r[4]},{r[5]},{r[1]}\n" for r in rows),
            "t.jsonl.gz": "".join(json.dumps({"ts": r[0], "price": r[4], "size": r[5], "id": r[1]}) + "\n" for r in rows),
            }.get(name.lower(), json.dumps(rows))
    (tmp_path / name).write_bytes(gzip.compress(text.encode()))
    r = ingest_file(data_dir, tmp_path / name, "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added) == (3, 3)
    assert stored(data_dir)["trade_id"].tolist() == ["0", "1", "2"]


@pytest.mark.parametrize("name, body, message", [
    ("cut.csv.gz", gzip.compress(b"ts,price,size\n1,2,3\n", mtime=0)[:-6], "cannot read gzip file"),
    ("plain.csv.gz", b"ts,price,size\n", "cannot read gzip file"),
    ("t.parquet.gz", gzip.compress(b"x", mtime=0), "unsupported file type '.parquet.gz'"),
])
def test_a_bad_gzip_file_is_one_clear_error(data_dir: Paths, tmp_path: Path, name: str, body: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(body)
    with pytest.raises(IngestError, match=message):
        ingest_file(data_dir, tmp_path / name, "BTC-USDT", now=NOW)


@pytest.mark.parametrize("body", [
    f"{T0},100,1,buy,1\n{T0 + 1},100,2,sell,2\n",
    "2025-03-10T00:00:00Z,100,1,buy,1\n2025-03-10T00:00:00.001Z,100,2,sell,2\n",
    f"{T0},100,1,buy,1,extra\n{T0 + 1},100,2,sell,2,extra\n",
], ids=["epoch ms", "iso", "a sixth column"])
def test_a_headerless_csv_with_side_and_id_columns_is_read_as_data(data_dir: Paths, tmp_path: Path, body: str) -> None:
    (tmp_path / "h.csv").write_text(body)
    r = ingest_file(data_dir, tmp_path / "h.csv", "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added) == (2, 2)
    got = stored(data_dir)
    assert got[["trade_id", "ts", "size", "side"]].values.tolist() == [["1", T0, 1.0, "buy"], ["2", T0 + 1, 2.0, "sell"]]


def test_a_header_is_never_read_as_data(data_dir: Paths, tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text(f"time,p,q,s\n{T0},100,1,s\n")
    assert ingest_file(data_dir, tmp_path / "h.csv", "BTC-USDT", now=NOW).rows_added == 1
    assert stored(data_dir)["side"].tolist() == ["sell"]


def _kraken_lines(n: int) -> str:
    """n good headerless trade lines (ts in seconds, price, size), kraken's order."""
    return "".join(f"{T0 // 1000 + i},90.{i:02d},1.0\n" for i in range(n))


@pytest.mark.parametrize("first, reason", [
    (f"{T0 // 1000 - 1},90.54,1.1,buy,42,extra\n", "malformed_row"),  # one field too many
    (f"{T0 // 1000 - 1},,1.1\n", "missing_price"),  # once taken for a header: the whole file refused
], ids=["wide first line", "empty price on the first line"])
def test_one_odd_first_line_neither_sizes_nor_refuses_a_headerless_file(data_dir: Paths, tmp_path: Path, first: str,
                                                                       reason: str) -> None:
    """Header-or-not and the width come from the file's opening lines: the odd first line is quarantined, the rest kept."""
    (tmp_path / "k.csv").write_text(first + _kraken_lines(5))
    r = ingest_file(data_dir, tmp_path / "k.csv", "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added, r.reasons) == (6, 5, {reason: 1})
    assert quarantined(data_dir)["source_row"].tolist() == [1]
    assert stored(data_dir)["price"].tolist() == [90.0, 90.01, 90.02, 90.03, 90.04]


def test_an_empty_price_on_a_first_line_of_side_s_is_quarantined_not_a_header(data_dir: Paths, tmp_path: Path) -> None:
    """`s` is a valid side and an alias of the side column: the first line was taken for a header and the file refused."""
    lines = "".join(f"{T0 // 1000 + i},90.{i:02d},1.0,{'bs'[i % 2]},{100 + i}\n" for i in range(5))
    (tmp_path / "k.csv").write_text(f"{T0 // 1000 - 1},,1.1,s,99\n" + lines)
    r = ingest_file(data_dir, tmp_path / "k.csv", "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added, r.reasons) == (6, 5, {"missing_price": 1})
    assert stored(data_dir)["side"].tolist() == ["buy", "sell", "buy", "sell", "buy"]


@pytest.mark.parametrize("header", ["a,b,c", "unix_ms,last,base_amt,2"], ids=["names only", "a number among the names"])
def test_a_header_of_unknown_names_over_data_is_still_a_header(data_dir: Paths, tmp_path: Path, header: str) -> None:
    """Not read positionally as ts, price, size (silently wrong when its columns are in another order)."""
    (tmp_path / "h.csv").write_text(header + "\n" + _kraken_lines(3))
    with pytest.raises(IngestError, match="missing required column"):
        ingest_file(data_dir, tmp_path / "h.csv", "BTC-USDT", now=NOW)


@pytest.mark.filterwarnings("error")
def test_huge_values_are_quarantined_without_a_warning(data_dir: Paths, tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text(f"ts,price,size\n{T0},1e300,1\n{T0 + 1},1,1e300\n{T0 + 2},100,1\n")
    r = ingest_file(data_dir, tmp_path / "h.csv", "BTC-USDT", now=NOW)
    assert (r.rows_added, r.reasons) == (1, {"price_out_of_range": 1, "size_out_of_range": 1})


def test_bigquery_times_with_a_trailing_utc_are_read(data_dir: Paths, tmp_path: Path) -> None:
    (tmp_path / "bq.csv").write_text("timestamp,price,size\n2025-03-10 00:00:00 UTC,1,1\n2025-03-10 00:00:01.5 UTC,1,1\n")
    r = ingest_file(data_dir, tmp_path / "bq.csv", "BTC-USDT", now=NOW)
    assert (r.rows_added, r.quarantined) == (2, 0)
    assert stored(data_dir)["ts"].tolist() == [T0, T0 + 1500]


@pytest.mark.parametrize("name", ["dump.jsonl", "dump.ndjson", "dump.jsonl.gz"])
def test_import_tells_a_json_lines_trades_file_by_its_columns(data_dir: Paths, tmp_path: Path, name: str) -> None:
    """`import x.jsonl` without --kind said "unsupported file type '.jsonl'" though --kind trades imported it."""
    from python_assets.ingest.importers import import_file

    text = "".join(json.dumps({"id": str(i), "timestamp": T0 + i, "price": 100, "amount": 1}) + "\n" for i in range(3))
    (tmp_path / name).write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    r = import_file(data_dir, tmp_path / name, symbol="BTC-USDT")
    assert (r.kind, r.rows_read, r.rows_added) == ("trades", 3, 3)


@pytest.mark.parametrize("name, head, tail", [
    ("cut.jsonl", "", '{"id": "9", "timest'), ("bom.jsonl", "\ufeff", ""), ("cut.jsonl.gz", "\ufeff\n", "[1, 2]\n"),
], ids=["a cut last line", "a byte-order mark", "gzipped, both"])
def test_import_tells_a_damaged_json_lines_dump_by_its_first_lines(data_dir: Paths, tmp_path: Path, name: str, head: str,
                                                                   tail: str) -> None:
    """The kind was guessed by parsing the whole file: "cannot read as jsonl" though --kind trades read it."""
    from python_assets.ingest.importers import import_file

    rows = "".join(json.dumps({"id": str(i), "timestamp": T0 + i, "price": 100, "amount": 1}) + "\n" for i in range(3))
    text = (head + rows + tail).encode()
    (tmp_path / name).write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    r = import_file(data_dir, tmp_path / name, symbol="BTC-USDT")
    assert (r.kind, r.rows_read, r.rows_added, r.quarantined) == ("trades", 3 + bool(tail), 3, bool(tail))


def test_a_json_lines_file_without_an_object_says_so_in_one_line(data_dir: Paths, tmp_path: Path) -> None:
    from python_assets.ingest.importers import ImportFileError, import_file

    (tmp_path / "x.jsonl").write_text("[1, 2]\nnot json\n")
    with pytest.raises(ImportFileError, match=r"x.jsonl: cannot read as jsonl: no JSON object"):
        import_file(data_dir, tmp_path / "x.jsonl", symbol="BTC-USDT")


def _written(frame: pd.DataFrame, path: Path) -> Path:
    """frame saved at path in the format its name says (a .gz name: the text format inside gzipped)."""
    inner = path.name.removesuffix(".gz")
    if inner.endswith(".csv"):
        text = frame.to_csv(index=False)
    elif inner.endswith(".jsonl"):
        text = frame.to_json(orient="records", lines=True)
    elif inner.endswith(".json"):
        text = frame.to_json(orient="records")
    elif inner.endswith(".parquet"):
        frame.to_parquet(path)
        return path
    else:
        frame.to_feather(path)
        return path
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())
    return path


def test_ingest_help_names_every_format_ingestion_reads(data_dir: Paths, tmp_path: Path, capsys) -> None:
    """`blofin-stack --help` and `ingest --help` list the formats a trades file may have, and each is read."""
    from blofin_cli.main import main as cli_main

    frame = pd.DataFrame({"ts": [T0, T0 + 1], "price": [100.0, 101.0], "size": [1.0, 2.0], "side": ["buy", "sell"]})
    for name in ("t.csv", "t.parquet", "t.feather", "t.json", "t.jsonl", "t.csv.gz"):
        result = ingest_file(data_dir, _written(frame, tmp_path / name), "BTC-USDT", now=NOW)
        assert result.rows_read == 2, name
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for named in ("CSV", "Parquet", "Feather", "JSON or JSON Lines", "gzipped"):
        assert named in text, named
