"""A file dropped into the inbox with the name of one filed before is filed beside it, never over it: the
earlier input, its .error note and the quarantine rows naming it all stay right."""

from __future__ import annotations

import duckdb

from python_assets.config import Paths
from python_assets.ingest.inbox import inbox_dir, process_inbox

FIRST = "ts,price,size,trade_id\n1741564801000,1,1,a\n1741564801001,1,-1,b\n"  # row b is quarantined
SECOND = "ts,price,size,trade_id\n1741651201000,2,1,c\n1741651201001,2,-1,d\n"  # row d is quarantined


def drop(paths: Paths, name: str, text: str) -> None:
    """Put a file into the BTC-USDT inbox."""
    box = inbox_dir(paths) / "BTC-USDT"
    box.mkdir(parents=True, exist_ok=True)
    (box / name).write_text(text)


def test_a_second_file_of_the_same_name_is_filed_beside_the_first(data_dir: Paths):
    drop(data_dir, "trades.csv", FIRST)
    first = process_inbox(data_dir)
    drop(data_dir, "trades.csv", SECOND)
    second = process_inbox(data_dir)
    assert [(o.file, o.result.rows_added) for o in first + second] == [("trades.csv", 1), ("trades-2.csv", 1)]
    processed = inbox_dir(data_dir) / "processed" / "BTC-USDT"
    assert (processed / "trades.csv").read_text() == FIRST
    assert (processed / "trades-2.csv").read_text() == SECOND
    rows = duckdb.sql(f"select source_file, raw_record from read_parquet('{data_dir.quarantine}/*/*.parquet') "
                      "order by source_file").fetchall()
    assert [(file, '"d"' in raw) for file, raw in rows] == [("trades-2.csv", True), ("trades.csv", False)]


def test_a_second_failed_file_of_the_same_name_keeps_the_first_and_its_note(data_dir: Paths):
    drop(data_dir, "bad.csv", "")
    process_inbox(data_dir)
    drop(data_dir, "bad.csv", "x,y\n1,2\n")
    process_inbox(data_dir)
    failed = inbox_dir(data_dir) / "failed" / "BTC-USDT"
    assert sorted(p.name for p in failed.iterdir()) == ["bad-2.csv", "bad-2.csv.error", "bad.csv", "bad.csv.error"]
    assert (failed / "bad.csv").read_text() == "" and (failed / "bad-2.csv").read_text() == "x,y\n1,2\n"
    assert (failed / "bad.csv.error").read_text() == f"{failed / 'bad.csv'} is empty\n"  # where it is now
    assert "missing required column(s)" in (failed / "bad-2.csv.error").read_text()


def test_a_name_taken_in_failed_is_not_reused_in_processed(data_dir: Paths):
    drop(data_dir, "trades.csv", "")
    process_inbox(data_dir)
    drop(data_dir, "trades.csv", FIRST)
    (outcome,) = process_inbox(data_dir)
    assert outcome.file == "trades-2.csv" and outcome.error is None
    assert (inbox_dir(data_dir) / "processed" / "BTC-USDT" / "trades-2.csv").read_text() == FIRST


def test_gzipped_text_files_are_picked_up_and_filed_under_a_readable_name(data_dir: Paths):
    """The ingestion reads x.csv.gz (freqtrade's trades.json.gz): the inbox takes such files too, and a
    second of the same name is filed as trades-2.csv.gz (still .csv.gz to a reader), not trades.csv-2.gz."""
    import gzip

    box = inbox_dir(data_dir) / "BTC-USDT"
    box.mkdir(parents=True, exist_ok=True)
    (box / "trades.csv.gz").write_bytes(gzip.compress(FIRST.encode()))
    first = process_inbox(data_dir)
    (box / "trades.csv.gz").write_bytes(gzip.compress(SECOND.encode()))
    (box / "notes.gz").write_bytes(gzip.compress(b"not a data file"))
    second = process_inbox(data_dir)
    assert [(o.file, o.result.rows_added) for o in first + second] == [("trades.csv.gz", 1), ("trades-2.csv.gz", 1)]
    assert (box / "notes.gz").exists()  # not a suffix the ingestion reads: left alone


def test_a_full_disk_writing_the_error_note_leaves_no_torn_note(data_dir: Paths, monkeypatch):
    """The note was written in place after the file was moved to failed/: a full disk left half a reason."""
    import errno
    from pathlib import Path

    import pytest

    def half_then_full(self: Path, data, *args, **kwargs) -> None:
        data = data.encode() if isinstance(data, str) else data
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    drop(data_dir, "bad.csv", "x,y\n1,2\n")
    monkeypatch.setattr(Path, "write_text", half_then_full)
    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(OSError, match="No space"):
        process_inbox(data_dir)
    failed = inbox_dir(data_dir) / "failed" / "BTC-USDT"
    assert sorted(p.name for p in failed.iterdir()) == ["bad.csv"]
