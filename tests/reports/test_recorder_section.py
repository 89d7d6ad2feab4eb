"""The report's "Recorder coverage" section read from the marts (hand-made rows), and its one line
when the warehouse has no recorder data (the synthetic demo)."""

from __future__ import annotations

from datetime import date

import duckdb
import jsonschema
import pytest

from python_assets.reports.recorder import NO_RECORDER_DATA, recorder_html, recorder_section, recorder_warnings
from python_assets.reports.schema import report_schema

DAY = date(2025, 3, 10)
D0 = 1_741_564_800_000


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("""create table recorder_coverage as select * from (values
        ('BTC-USDT', date '2025-03-10', 'trades', 86400.0, 1.0, 1, 0.0, 1, 0, 0, 0.0, '01:00:00-01:00:30 disconnect recovered', true, null),
        ('BTC-USDT', date '2025-03-10', 'books', 86370.0, 0.99965, 1, 30.0, 0, 0, 1, 30.0, '01:00:00-01:00:30 disconnect lost', true, null),
        ('ETH-USDT', date '2025-03-10', 'trades', 43200.0, 0.5, 0, 0.0, 0, 0, 0, 0.0, null, false, 'trades: recorded 50.0% of the day (< 99.0%)'),
        ('ETH-USDT', date '2025-03-09', 'trades', 86400.0, 1.0, 0, 0.0, 0, 0, 0, 0.0, null, true, null))
        as t(symbol, coverage_date, dataset, seconds_covered, coverage_fraction, gap_count, gap_seconds,
             recovered_gaps, partial_gaps, lost_gaps, lost_seconds, gaps, is_usable, unusable_reason)""")
    c.execute(f"""create table feat_book as select * from (values
        ('BTC-USDT', '1m', date '2025-03-10', {D0 + 60_000}, {D0 + 119_000}, 'sample', 100.0, 2.0, 100.003, 5.0, 1.0, 0.6667, 0.3333),
        ('BTC-USDT', '1m', date '2025-03-10', {D0 + 120_000}, {D0 + 179_000}, 'sample', 101.0, 3.0, 101.001, 6.0, 2.0, 0.5, 0.1),
        ('BTC-USDT', '1m', date '2025-03-10', {D0 + 180_000}, null, null, null, null, null, null, null, null, null),
        ('BTC-USDT', '5m', date '2025-03-10', {D0 + 300_000}, {D0 + 599_000}, 'sample', 999.0, 9.0, 999.0, 1.0, 1.0, 0.0, 0.0))
        as t(symbol, timeframe, bar_date, bar_at_ms, book_at_ms, book_kind, mid, spread_bps, microprice,
             bid_depth_10bps, ask_depth_10bps, imbalance_10bps, imbalance_l1)""")
    return c


def test_section_lists_the_days_coverage_and_the_last_fresh_book(con: duckdb.DuckDBPyConnection) -> None:
    section = recorder_section(con, DAY)
    assert section["note"] is None
    assert [(r["symbol"], r["dataset"], r["is_usable"]) for r in section["coverage"]] == [
        ("BTC-USDT", "books", True), ("BTC-USDT", "trades", True), ("ETH-USDT", "trades", False)]
    # the last 1m bar with a book (the 00:03 bar has none; the 5m bar is another timeframe)
    assert [(b["symbol"], b["book_at_ms"], b["mid"]) for b in section["books"]] == [("BTC-USDT", D0 + 179_000, 101.0)]
    page = recorder_html(section)
    assert "<h2>Recorder coverage</h2>" in page and "no: trades: recorded 50.0% of the day" in page
    assert "12h" in page and "01:00:00-01:00:30 disconnect lost" in page and "101.001" in page
    jsonschema.validate(section, report_schema()["properties"]["recorder"])
    assert recorder_warnings(section) == [
        "ETH-USDT: recorder data not usable for research today (trades: recorded 50.0% of the day (< 99.0%))"]


def test_without_recorder_data_the_section_is_one_line(con: duckdb.DuckDBPyConnection) -> None:
    empty = duckdb.connect()  # the demo's warehouse: no recorder tables at all
    assert recorder_section(empty, DAY) == {"coverage": [], "books": [], "note": NO_RECORDER_DATA, "backtest_spans": []}
    assert recorder_section(con, date(2025, 3, 12))["note"] == NO_RECORDER_DATA  # tables, but nothing that day
    assert recorder_html(recorder_section(empty, DAY)) == f"<h2>Recorder coverage</h2><p>{NO_RECORDER_DATA}</p>"
    assert NO_RECORDER_DATA in recorder_html(None)  # a report built without the section
    assert recorder_warnings(recorder_section(empty, DAY)) == []


def _backtests(con: duckdb.DuckDBPyConnection, *rows: str) -> None:
    con.execute(f"""create table strategy_backtest_results as select * from (values {', '.join(rows)})
                    as t(backtest_id, symbol, partition_date, window_start, window_end)""")


def test_backtests_of_the_day_over_an_earlier_unusable_day_are_warned(con: duckdb.DuckDBPyConnection) -> None:
    # the 03-11 report: ETH's backtests span 03-10, which the recorder left unusable; BTC's 03-10 was usable
    window = "timestamptz '2025-02-10 00:00:00+00', timestamptz '2025-03-12 00:00:00+00'"
    _backtests(con, f"('eth_a', 'ETH-USDT', date '2025-03-11', {window})", f"('eth_b', 'ETH-USDT', date '2025-03-11', {window})",
               f"('btc', 'BTC-USDT', date '2025-03-11', {window})")
    section = recorder_section(con, date(2025, 3, 11))
    jsonschema.validate(section, report_schema()["properties"]["recorder"])
    assert recorder_warnings(section) == [
        "ETH-USDT: 2 backtests span 2025-03-10 (trades: recorded 50.0% of the day (< 99.0%)), "
        "a day the recorder left unusable"]


def test_no_warning_when_the_backtests_span_only_usable_days(con: duckdb.DuckDBPyConnection) -> None:
    # ETH's backtest ends before 03-10 (window_end exclusive), BTC's spans its usable 03-10
    _backtests(con, "('eth', 'ETH-USDT', date '2025-03-11', timestamptz '2025-02-10 00:00:00+00', timestamptz '2025-03-10 00:00:00+00')",
               "('btc', 'BTC-USDT', date '2025-03-11', timestamptz '2025-02-10 00:00:00+00', timestamptz '2025-03-12 00:00:00+00')")
    section = recorder_section(con, date(2025, 3, 11))
    assert section["backtest_spans"] == [] and recorder_warnings(section) == []
