"""The report's fill-sensitivity section from the fill_sensitivity mart: JSON per design and the HTML table."""

from __future__ import annotations

from datetime import date

import duckdb
import jsonschema

from python_assets.reports.fill_section import fill_sensitivity, fill_sensitivity_html
from python_assets.reports.schema import report_schema

DAY = date(2025, 3, 10)


def test_section_pivots_the_mart_per_design_and_flags_a_lost_edge():
    with duckdb.connect() as con:
        assert fill_sensitivity(con, DAY) == []  # no mart yet: an empty section
        con.execute("""create table fill_sensitivity (run_date date, design_id varchar, design_key varchar,
                       fill_mode varchar, rank integer, net_return double, sharpe double, trades integer,
                       edge_survives boolean)""")
        rows = [("d2", "long|rsi", m, 2, r, s, 3, None) for m, r, s in
                (("next_open", -0.01, -0.1), ("signal_close", 0.0, None), ("worst", -0.05, -0.3), ("spread", -0.02, -0.2))]
        rows += [("d1", "long|sma", m, 1, r, s, 4, False) for m, r, s in
                 (("next_open", 0.137, 0.2), ("signal_close", -0.02, -0.1), ("worst", -0.2, -0.5), ("spread", -0.01, -0.05))]
        con.executemany("insert into fill_sensitivity values (?, ?, ?, ?, ?, ?, ?, ?, ?)", [[DAY, *r] for r in rows])
        con.execute("insert into fill_sensitivity values (?, 'd9', 'x', 'next_open', 1, 0.5, 0.5, 1, true)",
                    [date(2025, 3, 9)])  # another day: left out
        entries = fill_sensitivity(con, DAY)
    assert [e["design_id"] for e in entries] == ["d1", "d2"]
    assert entries[0]["net_return"] == {"next_open": 0.137, "signal_close": -0.02, "worst": -0.2, "spread": -0.01}
    assert entries[0]["edge_survives"] is False and entries[1]["edge_survives"] is None
    assert entries[1]["sharpe"]["signal_close"] is None
    jsonschema.validate(entries, report_schema()["properties"]["fill_sensitivity"])
    page = fill_sensitivity_html(entries)
    assert "<h2>Fill sensitivity</h2>" in page and "long|sma" in page
    assert "+13.70% (+0.200)" in page and "LOST under a strict fill" in page and "no edge at next open" in page
    assert "<em>none</em>" in fill_sensitivity_html([])


def test_section_reports_the_share_of_the_spread_fills_priced_from_a_recorded_book():
    with duckdb.connect() as con:
        con.execute("""create table fill_sensitivity (run_date date, design_id varchar, design_key varchar,
                       fill_mode varchar, rank integer, net_return double, sharpe double, trades integer,
                       edge_survives boolean, book_spread_share double)""")
        rows = [("d1", "long|sma", m, 1, 0.1, 0.2, 4, True, 0.75 if m == "spread" else None)
                for m in ("next_open", "signal_close", "worst", "spread")]
        rows += [("d2", "long|rsi", m, 2, 0.1, 0.2, 0, True, None) for m in ("next_open", "spread")]
        con.executemany("insert into fill_sensitivity values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [[DAY, *r] for r in rows])
        entries = fill_sensitivity(con, DAY)
    assert [e["book_spread_share"] for e in entries] == [0.75, None]
    jsonschema.validate(entries, report_schema()["properties"]["fill_sensitivity"])
    page = fill_sensitivity_html(entries)
    assert "<th>spread from book</th>" in page and "75.0%" in page
