"""A corpus of malformed trade files: every input row is kept, a duplicate or quarantined with a reason
(in = kept + duplicates + quarantined, counted by hand per file), the rows after a bad line survive, and
`blofin-stack ingest` answers every bad file with one line, never a traceback (issue 18, item 3)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CLI

from blofin_cli.main import main
from python_assets.ingest.trades import ingest_file
from python_assets.ingest.read import FAST_CSV_MIN_BYTES, _read_csv_fast

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
NOW = T0 + 3 * 86_400_000
HEADER = "trade_id,ts,price,size,side\n"
BIG = "x" * 140_000  # over the csv module's 131,072-character field limit
BOM = "\ufeff"


def rows(n: int, start: int = 0) -> list[str]:
    """n good CSV lines t<i>, one second apart."""
    return [f"t{i},{T0 + 1000 * i},{100 + i % 7}.5,{1 + i % 3},{'buy' if i % 2 else 'sell'}\n" for i in range(start, start + n)]


def with_line(lines: list[str], at: int, line: str) -> list[str]:
    return lines[:at] + [line] + lines[at + 1:]


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    counts: tuple[int, int, int, int]  # rows in, kept, duplicates, quarantined
    reasons: dict[str, int] = field(default_factory=dict)
    suffix: str = ".csv"
    bad_lines: tuple[int, ...] = ()  # physical line numbers quarantined (when given)


CORPUS = [
    Case("unbalanced quote mid-file", HEADER + "".join(with_line(rows(202), 1, f't1,"{T0 + 1000},100.5,1,buy\n')),
         (202, 201, 0, 1), {"unbalanced_quote": 1}, bad_lines=(3,)),
    Case("unbalanced quote in a column not read", "trade_id,ts,price,size,side,note\n"
         + "".join(r.rstrip("\n") + ",ok\n" for r in rows(3)) + f't3,{T0 + 3000},100,1,buy,"never closed\n'
         + "".join(r.rstrip("\n") + ",ok\n" for r in rows(46, 4)), (50, 49, 0, 1), {"unbalanced_quote": 1}, bad_lines=(5,)),
    Case("quoted note spanning lines (standard CSV)", "trade_id,ts,price,size,side,note\n"
         f't1,{T0},100,1,buy,"two\nlines"\nt2,{T0 + 1},100,1,sell,plain\n', (2, 2, 0, 0)),
    Case("quote left open on the last line", HEADER + "".join(rows(3)) + f't9,{T0 + 9000},100,1,"buy\n',
         (4, 3, 0, 1), {"unbalanced_quote": 1}, bad_lines=(5,)),
    Case("field over the csv limit in a column not read", "trade_id,ts,price,size,side,note\n"
         + "".join(r.rstrip("\n") + ",ok\n" for r in rows(3)) + f"t3,{T0 + 3000},100,1,buy,{BIG}\n"
         + "".join(r.rstrip("\n") + ",ok\n" for r in rows(2, 4)), (6, 5, 0, 1), {"field_too_large": 1}, bad_lines=(5,)),
    Case("field over the csv limit as the price", HEADER + "".join(with_line(rows(5), 2, f"t2,{T0},{'9' * 140_000},1,buy\n")),
         (5, 4, 0, 1), {"field_too_large": 1}, bad_lines=(4,)),
    Case("open quote swallowing a huge line", HEADER + "".join(rows(2)) + f't2,"{T0},1,1,buy\n' + f"t3,{T0},{BIG},1,buy\n"
         + "".join(rows(2, 4)), (6, 4, 0, 2), {"unbalanced_quote": 1, "field_too_large": 1}, bad_lines=(4, 5)),
    Case("Excel's UTF-8 byte-order mark", BOM + "ts,price,size\n" + f"{T0},1,1\n{T0 + 1},2,1\n", (2, 2, 0, 0)),
    Case("blank and separator lines", HEADER + "\n" + "".join(rows(2)) + " , , ,,\n\n   \n" + "".join(rows(1, 2)),
         (5, 3, 0, 2), {"blank_row": 2}, bad_lines=(5, 7)),  # an empty line is no row; commas or spaces are
    Case("separator lines before the header", ",,,,\n   \n\n" + HEADER + "".join(rows(2)), (4, 2, 0, 2),
         {"blank_row": 2}, bad_lines=(1, 2)),  # once skipped uncounted, unlike the same lines after the first row
    Case("separator lines before a headerless file's first row", " , ,\n\n" + "".join(
        f"{T0 + i},100.5,1,buy,h{i}\n" for i in range(3)), (4, 3, 0, 1), {"blank_row": 1}, bad_lines=(1,)),
    Case("large file with a separator line before the header", ",,,,\n" + HEADER + "".join(rows(12_000)),
         (12_001, 12_000, 0, 1), {"blank_row": 1}, bad_lines=(1,)),
    Case("rows too wide or too short", HEADER + "".join(rows(2)) + f"t7,{T0},1,1,buy,extra\nt8,{T0},1\n",
         (4, 2, 0, 2), {"malformed_row": 2}, bad_lines=(4, 5)),
    Case("old Mac line endings", (HEADER + "".join(rows(3))).replace("\n", "\r"), (3, 3, 0, 0)),
    Case("NUL byte in a price", HEADER + "".join(rows(2)) + f"t5,{T0},10\x000,1,buy\n", (3, 2, 0, 1),
         {"non_numeric_price": 1}),
    Case("values past the DECIMAL(38,12) bounds", HEADER + "".join(rows(1)) + f"t1,{T0},1e20,1e10,buy\n"
         f"t2,{T0},1,1e16,buy\nt3,{T0},1e9,1e7,sell\nt4,{T0},1e12,1e3,sell\n", (5, 2, 0, 3),
         {"price_out_of_range": 1, "size_out_of_range": 1, "notional_out_of_range": 1}),
    Case("repeats and a conflicting id", HEADER + "".join(rows(2)) + "".join(rows(2)) + f"t0,{T0},999,1,buy\n",
         (5, 1, 1, 3), {"conflicting_trade_id_in_file": 3}, bad_lines=(2, 4, 6)),  # every row of t0, the repeat too
    Case("JSON Lines with junk lines and a byte-order mark", BOM + "".join(
        json.dumps({"id": f"j{i}", "ts": T0 + i, "price": 1.5, "size": 2}) + "\n" for i in range(3))
        + "not json\n[1, 2]\n\n", (5, 3, 0, 2), {"malformed_json": 2}, suffix=".jsonl", bad_lines=(4, 5)),
    Case("large file with an unbalanced quote", HEADER + "".join(with_line(rows(12_000), 6_000, f't6000,"{T0},1,1,buy\n')),
         (12_000, 11_999, 0, 1), {"unbalanced_quote": 1}, bad_lines=(6_002,)),
    Case("large file with a quoted line break", HEADER + "".join(with_line(rows(12_000), 10, f't10,{T0},1,1,"bu\ny"\n')),
         (12_001, 11_999, 0, 2), {"unbalanced_quote": 1, "malformed_row": 1}, bad_lines=(12, 13)),
]


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_every_row_of_a_malformed_file_is_kept_a_duplicate_or_quarantined(data_dir, tmp_path, case):
    path = tmp_path / f"corpus{case.suffix}"
    path.write_text(case.text, encoding="utf-8", newline="")
    r = ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    assert (r.rows_read, r.rows_added, r.duplicates, r.quarantined) == case.counts
    assert r.rows_read == r.rows_added + r.duplicates + r.quarantined
    assert r.reasons == case.reasons
    stored = duckdb.sql(f"select count(*) from read_parquet('{data_dir.trades}/*/*/*.parquet')").fetchall()[0][0]
    assert stored == case.counts[1]
    if case.bad_lines:
        q = pd.read_parquet(r.quarantine_file)
        assert q["source_row"].tolist() == list(case.bad_lines)
        assert q["raw_record"].str.len().max() < 5_000  # a huge line is stored cut, with its length and hash
    again = ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    assert (again.rows_added, again.duplicates, again.quarantined) == (0, case.counts[1] + case.counts[2], case.counts[3])


def test_the_rows_after_an_unbalanced_quote_are_stored_exactly(data_dir, tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text(CORPUS[0].text)
    ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    got = duckdb.sql(f"select trade_id, ts from read_parquet('{data_dir.trades}/*/*/*.parquet') order by ts").df()
    assert got["trade_id"].tolist() == ["t0"] + [f"t{i}" for i in range(2, 202)]
    assert got["ts"].tolist() == [T0] + [T0 + 1000 * i for i in range(2, 202)]


@pytest.mark.parametrize("bom", [False, True])
def test_a_large_csv_with_a_byte_order_mark_takes_the_fast_reader(tmp_path, bom):
    path = tmp_path / "excel.csv"
    path.write_text((BOM if bom else "") + HEADER + "".join(rows(12_000)), encoding="utf-8")
    assert path.stat().st_size >= FAST_CSV_MIN_BYTES
    frame, malformed = _read_csv_fast(path)
    assert list(frame.columns[:5]) == ["trade_id", "ts", "price", "size", "side"] and len(frame) == 12_000


@pytest.mark.parametrize(
    "name, body, message",
    [
        ("header.csv", f'"ts,price,size\n{T0},1,1\n', "the header, cannot be read"),
        ("wide.csv", f"ts,price,{BIG}\n{T0},1,1\n", "the header, cannot be read (field_too_large)"),
        ("cols.csv", "when,px\n1,2\n", "missing required column(s)"),
        ("junk.parquet", "PAR1 not really", "cannot read Parquet"),
        ("rows.json", "[[1, 2], {", "is not valid JSON"),
        ("deep.json", "[" * 100_000, "is not valid JSON"),
        ("empty.csv", "\n\n", "is empty"),
    ],
)
def test_a_file_that_cannot_be_ingested_is_refused_in_one_line(data_dir, tmp_path, capsys, name, body, message):
    path = tmp_path / name
    path.write_text(body)
    assert main(["ingest", str(path), "--symbol", "BTC-USDT"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and len(err) < 1_000
    assert not data_dir.trades.exists()


def test_the_cli_answers_a_corpus_file_without_a_traceback(data_dir, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text(CORPUS[6].text)
    out = subprocess.run([*CLI, "ingest", str(path), "--symbol", "BTC-USDT"], capture_output=True, text=True)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert "6 rows read, 4 added to BTC-USDT, 0 duplicates skipped, 2 quarantined" in out.stdout


def test_nanosecond_and_other_exact_times_are_floored_to_the_millisecond_in_every_format(data_dir, tmp_path):
    values = [1_700_000_000_123_999_999, 1_700_000_000_999_999_999, 1_700_000_000_000_000_001]
    want = [1_700_000_000_123, 1_700_000_000_999, 1_700_000_000_000]
    files = {
        "ns.csv": "id,ts,price,size\n" + "".join(f"a{i},{v},1,1\n" for i, v in enumerate(values)) + "a9,later,1,1\n",
        "ns.jsonl": "".join(json.dumps({"id": f"a{i}", "ts": v, "price": 1, "size": 1}) + "\n" for i, v in enumerate(values))
        + json.dumps({"id": "a9", "price": 1, "size": 1}) + "\n",  # a row without a time: the column has a null
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    table = pa.table({"id": [f"a{i}" for i in range(4)], "ts": pa.array([*values, None], pa.int64()),
                      "price": [1.0] * 4, "size": [1.0] * 4})
    pq.write_table(table, tmp_path / "ns.parquet")
    for name in (*files, "ns.parquet"):
        paths = type(data_dir)(data_dir.data_dir / name)
        r = ingest_file(paths, tmp_path / name, "BTC-USDT", now=NOW)
        assert r.rows_added == 3 and r.quarantined == 1, name
        got = duckdb.sql(f"select ts from read_parquet('{paths.trades}/*/*/*.parquet') order by trade_id").df()
        assert got["ts"].tolist() == want, name
