"""Ingestion: formats, timestamp units, dedupe on re-ingest, quarantine with reasons, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from python_assets.config import Paths
from python_assets.ingest.trades import IngestError, ingest_file, parse_timestamps_ms
from python_assets.lake.store import normalize_symbol

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
NOW = T0 + 3 * 86_400_000
ROWS = [
    {"trade_id": "a1", "ts": T0 + 1_500, "price": 100.5, "size": 0.25, "side": "buy"},
    {"trade_id": "a2", "ts": T0 + 61_000, "price": 100.0, "size": 1.0, "side": "sell"},
    {"trade_id": "a3", "ts": T0 + 86_400_000 + 5, "price": 99.5, "size": 2.0, "side": "buy"},
]


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def write_file(folder: Path, fmt: str, time_style: str, rows=ROWS) -> Path:
    """ROWS in a given format with upper-case headers and times as ms, s (float) or ISO strings."""
    conv = {"ms": lambda ms: ms, "s": lambda ms: ms / 1000, "iso": _iso}[time_style]
    frame = pd.DataFrame(
        {"Trade_ID": [r["trade_id"] for r in rows], "TIMESTAMP": [conv(r["ts"]) for r in rows],
         "Price": [r["price"] for r in rows], "Amount": [r["size"] for r in rows], "Side": [r["side"] for r in rows]}
    )
    path = folder / f"trades_{time_style}.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict(orient="records")))
    return path


def stored(paths: Paths, symbol: str = "BTC-USDT") -> pd.DataFrame:
    root = paths.trades / f"symbol={symbol}"
    if not root.exists():
        return pd.DataFrame(columns=["trade_id", "ts", "price", "size", "side"])
    frames = [pd.read_parquet(p) for p in sorted(root.glob("date=*/trades.parquet"))]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
@pytest.mark.parametrize("time_style", ["ms", "s", "iso"])
def test_ingest_reads_every_format_and_time_style_to_the_same_rows(data_dir, tmp_path, fmt, time_style):
    result = ingest_file(data_dir, write_file(tmp_path, fmt, time_style), "btc-usdt", now=NOW)
    assert (result.rows_read, result.rows_added, result.quarantined) == (3, 3, 0)
    got = stored(data_dir)[["trade_id", "ts", "price", "size", "side"]]
    assert got.to_dict(orient="records") == ROWS
    # hive partitions by UTC date: the third trade lands on the next day
    assert result.partitions == ("2025-03-10", "2025-03-11")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_ingesting_the_same_file_twice_adds_nothing(data_dir, tmp_path, fmt):
    path = write_file(tmp_path, fmt, "ms")
    first = ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    files = {p: p.read_bytes() for p in data_dir.lake.rglob("*.parquet")}
    second = ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    assert (first.rows_added, second.rows_added, second.duplicates) == (3, 0, 3)
    assert len(stored(data_dir)) == 3
    assert {p: p.read_bytes() for p in data_dir.lake.rglob("*.parquet")} == files



def test_the_days_a_file_touched_include_those_of_its_quarantined_rows(data_dir, tmp_path):
    # a day-11 file whose id 1 (dated day 10) conflicts with day 10's stored row: day 10's summary counts
    # the quarantined row, so day 10 is a day the file touched (the inbox sensor reruns the days listed)
    day10, day11 = 1741564800000, 1741651200000
    (tmp_path / "a.csv").write_text(f"trade_id,ts,price,size,side\n1,{day10 + 1000},10,1,buy\n")
    (tmp_path / "b.csv").write_text(f"trade_id,ts,price,size,side\n1,{day10 + 1000},11,1,buy\n2,{day11 + 5},10,1,sell\n")
    assert ingest_file(data_dir, tmp_path / "a.csv", "BTC-USDT", now=NOW).partitions == ("2025-03-10",)
    second = ingest_file(data_dir, tmp_path / "b.csv", "BTC-USDT", now=NOW)
    assert second.reasons == {"conflicting_trade_id": 1} and second.rows_added == 1
    assert second.partitions == ("2025-03-10", "2025-03-11")

def test_a_trade_id_whose_rows_differ_within_a_file_is_quarantined_whatever_the_row_order(tmp_path):
    """A dump and the same dump reversed (`tac` of its body) store the same lake bytes and counts: every row of
    an id whose rows differ in the file is quarantined (keeping the first let row order pick the price), while
    an id repeated with identical rows stays one trade."""
    body = [f"1,{T0 + 1000},10,1,buy\n", f"2,{T0 + 2000},11,1,sell\n", f"1,{T0 + 1000},10,1,buy\n",
            f"3,{T0 + 3000},13,1,buy\n", f"3,{T0 + 3000},13,1,buy\n", f"1,{T0 + 1000},12,1,buy\n"]
    lakes, counts = {}, {}
    for order in ("forward", "reversed"):
        paths = Paths(tmp_path / order)
        path = tmp_path / f"{order}.csv"
        path.write_text("trade_id,ts,price,size,side\n" + "".join(body if order == "forward" else body[::-1]))
        r = ingest_file(paths, path, "BTC-USDT", now=NOW)
        counts[order] = (r.rows_read, r.rows_added, r.duplicates, r.quarantined, r.reasons)
        lakes[order] = {p.relative_to(paths.trades): p.read_bytes() for p in sorted(paths.trades.rglob("*.parquet"))}
    assert lakes["forward"] == lakes["reversed"]
    assert counts["forward"] == counts["reversed"] == (6, 2, 1, 3, {"conflicting_trade_id_in_file": 3})
    assert stored(Paths(tmp_path / "forward"))["trade_id"].tolist() == ["2", "3"]


def test_a_trade_id_told_once_without_its_side_is_one_trade_whatever_the_row_order(tmp_path):
    """Second review: an id whose rows differ only in one lacking the side was quarantined whole (the trade lost),
    while the twin rule (lake/trade_twins.py) matches a missing side with either. Now one trade with its side;
    an id given both sides is still torn."""
    body = [f"1,{T0 + 1000},10,1,\n", f"1,{T0 + 1000},10,1,buy\n", f"2,{T0 + 2000},11,1,sell\n",
            f"2,{T0 + 2000},11,1,buy\n", f"2,{T0 + 2000},11,1,\n"]
    for order in ("forward", "reversed"):
        paths = Paths(tmp_path / order)
        path = tmp_path / f"{order}.csv"
        path.write_text("trade_id,ts,price,size,side\n" + "".join(body if order == "forward" else body[::-1]))
        r = ingest_file(paths, path, "BTC-USDT", now=NOW)
        assert (r.rows_read, r.rows_added, r.duplicates, r.quarantined, r.reasons) == (
            5, 1, 1, 3, {"conflicting_trade_id_in_file": 3}), order
        assert stored(paths)[["trade_id", "side"]].values.tolist() == [["1", "buy"]], order


def test_an_id_stored_without_its_side_and_given_with_it_later_is_a_duplicate(tmp_path):
    """As within one file, across files: the same id, time, price and size once without a side and once with it
    is one trade (it was quarantined as conflicting_trade_id); the stored row stays as stored; two sides differ."""
    rows = {"none": f"7,{T0 + 1000},10,1,\n", "buy": f"7,{T0 + 1000},10,1,buy\n", "sell": f"7,{T0 + 1000},10,1,sell\n"}
    for first, second, conflict in (("none", "buy", False), ("buy", "none", False), ("buy", "sell", True)):
        paths = Paths(tmp_path / f"{first}_{second}")
        for name in (first, second):
            (tmp_path / f"{name}.csv").write_text("trade_id,ts,price,size,side\n" + rows[name])
        ingest_file(paths, tmp_path / f"{first}.csv", "BTC-USDT", now=NOW)
        r = ingest_file(paths, tmp_path / f"{second}.csv", "BTC-USDT", now=NOW)
        assert (r.rows_added, r.duplicates, r.reasons) == ((0, 0, {"conflicting_trade_id": 1}) if conflict else (0, 1, {}))
        assert len(stored(paths)) == 1


def test_files_without_trade_ids_dedupe_on_the_full_row(data_dir, tmp_path):
    path = tmp_path / "noid.csv"
    path.write_text("time,price,qty\n1741564801,10,1\n1741564802,11,1\n1741564802,11,1\n")
    first = ingest_file(data_dir, path, "ETH-USDT", now=NOW)
    second = ingest_file(data_dir, path, "ETH-USDT", now=NOW)
    # identical rows inside one file are distinct trades (occurrence number is part of the key) ...
    assert first.rows_added == 3
    # ... but the same file again adds nothing
    assert second.rows_added == 0
    assert len(stored(data_dir, "ETH-USDT")) == 3


def _trades_csv(path: Path, rows: list[tuple], ids: list[int] | None = None) -> Path:
    """(ts, price, size, side) rows as a CSV, with a trade id column when ids are given."""
    head = ("id," if ids else "") + "ts,price,amount,side\n"
    lines = [(f"{ids[i]}," if ids else "") + ",".join(map(str, row)) for i, row in enumerate(rows)]
    path.write_text(head + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("first_with_ids", [False, True], ids=["without ids first", "with ids first"])
def test_the_same_trades_with_and_without_ids_are_stored_once(data_dir, tmp_path, capsys, first_with_ids):
    """Rows without an id got content-hash ids that never match a real one: the same 2 trades ingested without ids,
    then with ids 7 and 8 (or the other way), were both '2 added', 4 rows for 2 trades and a minute's volume doubled."""
    from blofin_cli.main import main as cli_main

    rows = [(T0 + 123, 3500.5, 0.1, "buy"), (T0 + 1000, 3501.0, 0.2, "sell")]
    noid, withid = _trades_csv(tmp_path / "noid.csv", rows), _trades_csv(tmp_path / "withid.csv", rows, [7, 8])
    first, second = (withid, noid) if first_with_ids else (noid, withid)
    assert cli_main(["ingest", "--symbol", "ETH-USDT", str(first)]) == 0
    assert cli_main(["ingest", "--symbol", "ETH-USDT", str(second)]) == 0
    assert cli_main(["ingest", "--symbol", "ETH-USDT", str(second)]) == 0  # again: the same counts, nothing added
    out = [line for line in capsys.readouterr().out.splitlines() if "rows read" in line]
    kind = "with a trade id" if first_with_ids else "without a trade id"
    assert out[1] == out[2] == f"{second}: 2 rows read, 0 added to ETH-USDT, 2 duplicates skipped (2 already stored {kind}), 0 quarantined"
    assert len(stored(data_dir, "ETH-USDT")) == 2 and stored(data_dir, "ETH-USDT")["size"].sum() == pytest.approx(0.3)


@pytest.mark.parametrize("n_stored, stored_ids, n_arriving, arriving_ids, added", [
    (2, None, 3, [7, 8, 9], 1), (3, [7, 8, 9], 2, None, 0), (1, [7], 2, None, 1),
    (2, None, 2, None, 0), (2, [7, 8], 3, [7, 8, 9], 1), (2, [7, 8], 2, [5, 6], 2),  # one kind: on the id alone
])
def test_identical_trades_match_the_other_id_kind_up_to_their_count(data_dir, tmp_path, n_stored, stored_ids, n_arriving,
                                                                     arriving_ids, added):
    """Two genuine identical trades in one millisecond stay two: 2 stored without ids and 3 arriving with ids add 1;
    within one kind the dedup is on the id alone, as before (the same file again adds nothing)."""
    same = (T0 + 5, 100.0, 1.0, "buy")
    ingest_file(data_dir, _trades_csv(tmp_path / "a.csv", [same] * n_stored, stored_ids), "BTC-USDT", now=NOW)
    r = ingest_file(data_dir, _trades_csv(tmp_path / "b.csv", [same] * n_arriving, arriving_ids), "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added, r.duplicates) == (n_arriving, added, n_arriving - added)
    assert len(stored(data_dir)) == n_stored + added
    again = ingest_file(data_dir, tmp_path / "b.csv", "BTC-USDT", now=NOW)
    assert again.rows_added == 0 and len(stored(data_dir)) == n_stored + added


def test_mixed_good_and_bad_rows_keep_the_good_and_quarantine_the_bad_with_reasons(data_dir, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "id,ts,price,size,side\n"
        f"1,{T0 + 1000},100,1,buy\n"  # good
        f"2,{T0 + 2000},,1,buy\n"  # missing price
        f"3,{T0 + 3000},-5,1,sell\n"  # non-positive price
        f"4,{T0 + 4000},100,0,sell\n"  # non-positive size
        f"5,yesterday,100,1,buy\n"  # unparsable time
        f"6,{NOW + 3_600_000},100,1,buy\n"  # in the future
        f"7,{T0 + 7000},abc,1,buy\n"  # non-numeric price
        f"8,{T0 + 8000},100,1,hold\n"  # invalid side
        f"9,{T0 + 9000},100,1\n"  # wrong field count
        f"10,{T0 + 10_000},101,2,\n"  # good alone, but its id comes again below with other values
        f"1,{T0 + 1000},100,1,buy\n"  # exact duplicate of row 1
        f"10,{T0 + 11_000},102,2,sell\n"  # same id, different content: both rows of id 10 quarantined
    )
    r = ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added, r.duplicates, r.quarantined) == (12, 1, 1, 10)
    assert r.reasons == {
        "conflicting_trade_id_in_file": 2, "invalid_side": 1, "malformed_row": 1, "missing_price": 1,
        "non_numeric_price": 1, "non_positive_price": 1, "non_positive_size": 1, "time_in_future": 1,
        "unparsable_time": 1,
    }
    good = stored(data_dir)
    assert good["trade_id"].tolist() == ["1"]
    q = pd.read_parquet(r.quarantine_file)
    assert dict(zip(q["source_row"], q["reason"])) == {
        3: "missing_price", 4: "non_positive_price", 5: "non_positive_size", 6: "unparsable_time",
        7: "time_in_future", 8: "non_numeric_price", 9: "invalid_side", 10: "malformed_row",
        11: "conflicting_trade_id_in_file", 13: "conflicting_trade_id_in_file",
    }
    assert json.loads(q.loc[q["source_row"] == 3, "raw_record"].iloc[0])["id"] == "2"


def test_missing_required_columns_is_a_clear_error_and_writes_nothing(data_dir, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,when,px\n1,1741564801,10\n")
    with pytest.raises(IngestError, match=r"missing required column\(s\): ts, size"):
        ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    assert not data_dir.lake.exists() or not any(data_dir.lake.rglob("*"))


@pytest.mark.parametrize(
    "body, suffix, message",
    [("", ".csv", "is empty"), ("x", ".xlsx", "unsupported file type"), ("not parquet", ".parquet", "cannot read Parquet")],
    ids=["empty", "unknown suffix", "corrupt parquet"],
)
def test_unusable_files_raise_ingest_error(data_dir, tmp_path, body, suffix, message):
    path = tmp_path / f"f{suffix}"
    path.write_text(body)
    with pytest.raises(IngestError, match=message):
        ingest_file(data_dir, path, "BTC-USDT", now=NOW)


def test_headerless_csv_is_read_in_freqtrade_order(data_dir, tmp_path):
    path = tmp_path / "kraken.csv"
    path.write_text("1741564801.25,90.54,1.1\n1741564862,90.45,1.0\n")
    r = ingest_file(data_dir, path, "BCH-EUR", now=NOW)
    got = stored(data_dir, "BCH-EUR")
    assert r.rows_added == 2
    assert got["ts"].tolist() == [1_741_564_801_250, 1_741_564_862_000]
    assert got["size"].tolist() == [1.1, 1.0]


@pytest.mark.parametrize(
    "value, expected",
    [
        (1_741_564_801, 1_741_564_801_000),  # seconds
        (1_741_564_801.5, 1_741_564_801_500),  # fractional seconds
        (1_741_564_801_123, 1_741_564_801_123),  # ms
        (1_741_564_801_123_456, 1_741_564_801_123),  # us
        (1_741_564_801_123_456_789, 1_741_564_801_123),  # ns
        ("2025-03-10T00:00:01.123Z", 1_741_564_801_123),
        ("2025-03-10T02:00:01+02:00", 1_741_564_801_000),
        ("2025-03-10 00:00:01", 1_741_564_801_000),  # naive ISO is UTC
        ("2025-03-10 00:00:01 UTC", 1_741_564_801_000),  # BigQuery's export
        ("2025-03-10 00:00:01.5 utc", 1_741_564_801_500),
        ("2025-03-10T00:00:01 Z", 1_741_564_801_000),
        ("2025-03-10 00:00:01 GMT", 1_741_564_801_000),  # was quarantined as unparsable
        ("2025-03-10 00:00:01 EST", None),  # a zone abbreviation is ambiguous (EST: US or Australian): refused
        ("not a time", None),
        ("now", None),  # pandas reads these as the clock (local for today): unparsable, not a time
        ("today", None),
        (" Today ", None),
        (None, None),
    ],
)
def test_parse_timestamps_detects_units_and_iso(value, expected):
    got = parse_timestamps_ms(pd.Series([value], dtype=object))
    assert (None if pd.isna(got.iloc[0]) else int(got.iloc[0])) == expected


def test_parquet_datetime_columns_are_taken_as_utc(data_dir, tmp_path):
    path = tmp_path / "dt.parquet"
    pd.DataFrame(
        {"date": pd.to_datetime(["2025-03-10 00:00:01", "2025-03-10 00:00:02"]).tz_localize("Europe/Berlin"),
         "price": [1.0, 2.0], "volume": [1.0, 1.0]}
    ).to_parquet(path)
    ingest_file(data_dir, path, "X-USDT", now=NOW)
    assert stored(data_dir, "X-USDT")["ts"].tolist() == [1_741_564_801_000 - 3_600_000, 1_741_564_802_000 - 3_600_000]


def test_lake_writes_leave_no_temp_files(data_dir, tmp_path):
    ingest_file(data_dir, write_file(tmp_path, "csv", "ms"), "BTC-USDT", now=NOW)
    assert [p.name for p in data_dir.lake.rglob("*") if p.is_file() and not p.name.endswith(".parquet")] == []


@pytest.mark.parametrize(
    "raw, expected", [("btc/usdt:usdt", "BTC-USDT"), ("BTC-USDT-SWAP", "BTC-USDT"), ("eth_usdt", "ETH-USDT")]
)
def test_normalize_symbol(raw, expected):
    assert normalize_symbol(raw) == expected


@pytest.mark.parametrize("raw", ["../etc", "BTC USDT", "a=b", ""])
def test_normalize_symbol_refuses_unsafe_names(raw):
    with pytest.raises(ValueError, match="invalid symbol"):
        normalize_symbol(raw)


@pytest.mark.parametrize("text", [
    "ts,price,size,side,trade_id\n1704067200000,100.5,0.1,buy,a1\n1704067200001,100.25,2,sell,a2\n",
    "1704067200000,100.5,0.1,buy\r\n1704067200001,100.25,2,sell\r\n",  # headerless, CRLF
    'time,px,qty,note\n1704067200000,"1,000.5",1," a, quoted ""note"" "\n1704067200001,99,1,"one line"\n',
    "\ufeffts,price,size\n1704067200000,100,1\n",  # Excel's UTF-8 byte-order mark
    " Timestamp , Price ,Amount\n2024-01-01T00:00:00Z, 1e2 ,  3 \n2024-01-01T00:00:01+00:00,101,-1\n",
    "ts,price,size\n1,2,3",  # no final newline
    "ts,price,size\n",  # header only
    "ts,prix,größe\n1704067200000,100,1\n",  # non-ASCII names
    "1704067200000,,1\n1704067200001,100,1\n1704067200002,100,1\n",  # headerless, its first line damaged
])
def test_the_fast_csv_reader_gives_the_line_readers_rows(tmp_path, text):
    from python_assets.ingest.read import _read_csv_fast, _read_csv_lines

    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    fast, slow = _read_csv_fast(path), _read_csv_lines(path)
    assert fast is not None
    pd.testing.assert_frame_equal(fast[0].reset_index(drop=True), slow[0].reset_index(drop=True), check_dtype=False)
    assert len(fast[1]) == len(slow[1]) == 0


@pytest.mark.parametrize("text", [
    "ts,price,size\n1,2,3\n\n4,5,6\n",  # a blank line
    "ts,price,size\n1,2,3\n , ,\n",  # a line of separators
    "ts,price,size\n1,2,3,4\n5,6,7\n",  # a row too wide
    "ts,price,size\n1,2\n",  # a row too short
    '"ts",price,size\n1,2,3\n',  # a quoted header
    'time,px,qty,note\n1704067200000,99,1,"two\nlines"\n',  # a row spanning two lines
    'ts,price,size\n1,2,"3\n',  # a quote left open on the last line
])
def test_odd_files_go_to_the_line_reader_which_numbers_and_quarantines_their_lines(tmp_path, text):
    from python_assets.ingest.read import _read_csv, _read_csv_fast, _read_csv_lines

    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    assert _read_csv_fast(path) is None
    got, want = _read_csv(path), _read_csv_lines(path)
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])


def test_large_plain_files_take_the_fast_reader_and_small_ones_the_line_reader(tmp_path, monkeypatch):
    from python_assets.ingest import read as ingest
    def no_line_reader(path):
        raise AssertionError(f"line reader used for {path}")

    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    body = "".join(f"{T0 + i},100.5,0.25,buy,t{i}\n" for i in range(12_000))
    big.write_text("ts,price,size,side,trade_id\n" + body)
    small.write_text("ts,price,size,side,trade_id\n" + body[:200].rsplit("\n", 1)[0] + "\n")
    assert big.stat().st_size >= ingest.FAST_CSV_MIN_BYTES > small.stat().st_size
    monkeypatch.setattr(ingest, "_read_csv_lines", no_line_reader)
    frame, malformed = ingest._read_csv(big)
    assert len(frame) == 12_000 and frame["__row"].tolist()[:2] == [2, 3] and len(malformed) == 0
    with pytest.raises(AssertionError, match="line reader used"):
        ingest._read_csv(small)


def test_a_large_file_reports_its_steps_and_a_bar_over_its_days(data_dir: Paths, tmp_path: Path, capfd, monkeypatch) -> None:
    import python_assets.ingest.trades as ingest

    rows = [{"trade_id": f"d{d}-{k}", "ts": T0 + d * 86_400_000 + k * 1_000, "price": 100.0 + k, "size": 1.0, "side": "buy"}
            for d in range(3) for k in range(4)]
    path = write_file(tmp_path, "csv", "ms", rows)
    ingest_file(data_dir, path, "BTC-USDT", now=NOW, progress=True)  # under PROGRESS_FILE_BYTES: quiet
    assert capfd.readouterr().out == ""
    monkeypatch.setattr(ingest, "PROGRESS_FILE_BYTES", path.stat().st_size)
    again = tmp_path / "again.csv"
    write_file(tmp_path, "csv", "ms", [{**r, "trade_id": "x" + r["trade_id"], "ts": r["ts"] + 500} for r in rows]).rename(again)
    r = ingest_file(data_dir, again, "BTC-USDT", now=NOW, progress=True)
    out = capfd.readouterr().out.splitlines()
    assert r.rows_added == 12 and len(r.partitions) == 3
    assert out[0].startswith("1 of 2 OK read and validate again.csv ") and " 12 rows [" in out[0]
    assert [ln.split("]")[1].strip() for ln in out[1:-1]][-1].startswith("3/3 in ")
    assert out[1].startswith("BTC-USDT days [") and out[-1].startswith("2 of 2 OK store BTC-USDT (3 days) ")
    assert " 12 rows [" in out[-1]
