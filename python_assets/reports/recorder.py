"""Report section "Recorder coverage": per symbol and dataset the seconds of the day the live recorder
received, its gaps (recovered / lost) and the day's usable verdict (mart recorder_coverage), and the
last book features of the day per symbol (feat_book). Lakes without a recorder get one line."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import duckdb

from python_assets.exchange.recorder_quality import span_lines, unusable_spans
from python_assets.reports import fmt
from python_assets.reports.sections import rows, table_exists

NO_RECORDER_DATA = "No recorder data in the warehouse for this day (market data came from imports or the synthetic generator)."
BOOK_COLUMNS = ("symbol", "bar_at_ms", "book_at_ms", "book_kind", "mid", "spread_bps", "microprice", "bid_depth_10bps",
                "ask_depth_10bps", "imbalance_10bps", "imbalance_l1")


def coverage(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """The day's recorder_coverage rows, one per symbol and dataset."""
    if not table_exists(con, "recorder_coverage"):
        return []
    return rows(con, """select symbol, dataset, seconds_covered, coverage_fraction, gap_count, recovered_gaps,
                        partial_gaps, lost_gaps, lost_seconds, gaps, is_usable, unusable_reason
                        from recorder_coverage where coverage_date = ? order by symbol, dataset""", [day])


def last_books(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Per symbol, the book features of the day's last 1m bar that had a (fresh) book."""
    if not table_exists(con, "feat_book"):
        return []
    return rows(con, f"""select {', '.join(BOOK_COLUMNS)} from feat_book
                         where timeframe = '1m' and bar_date = ? and book_at_ms is not null
                         qualify row_number() over (partition by symbol order by bar_at_ms desc) = 1
                         order by symbol""", [day])


def recorder_section(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    """{"coverage": [...], "books": [...], "note": one line when the warehouse has no recorder data for the day,
    "backtest_spans": per symbol the day's backtests whose window spans an unusable recorder day (an earlier day:
    the check that says so runs after the report, so the report asks the warehouse itself)}."""
    cov, books = coverage(con, day), last_books(con, day)
    return {"coverage": cov, "books": books, "note": None if cov or books else NO_RECORDER_DATA,
            "backtest_spans": unusable_spans(con, day)}


def recorder_warnings(section: dict[str, Any]) -> list[str]:
    """One warning per symbol whose day the recorder left unusable for research, and one per symbol whose
    backtests of the day span a day it left unusable."""
    reasons = {r["symbol"]: r["unusable_reason"] for r in section["coverage"] if r["is_usable"] is False}
    today = [f"{symbol}: recorder data not usable for research today ({why})" for symbol, why in sorted(reasons.items())]
    return today + span_lines(section.get("backtest_spans") or [])


def _coverage_cells(r: dict[str, Any]) -> dict[str, Any]:
    """A coverage row with its numbers as the text people read (durations, shares, yes/no)."""
    return {"symbol": r["symbol"], "dataset": r["dataset"], "covered": fmt.duration(r["seconds_covered"]),
            "of_day": fmt.share(r["coverage_fraction"], 2), "gaps": r["gap_count"], "recovered": r["recovered_gaps"],
            "lost": r["lost_gaps"] + r["partial_gaps"], "lost_time": fmt.duration(r["lost_seconds"]),
            "usable": "yes" if r["is_usable"] else f"no: {r['unusable_reason']}", "holes": r["gaps"] or "–"}


def _book_cells(r: dict[str, Any]) -> dict[str, Any]:
    return {"symbol": r["symbol"], "book_at": fmt.utc_time(r["book_at_ms"]), "kind": r["book_kind"],
            "mid": fmt.price(r["mid"]), "spread_bps": fmt.number(r["spread_bps"], 3),
            "microprice": fmt.price(r["microprice"]), "bid_depth_10bps": fmt.number(r["bid_depth_10bps"]),
            "ask_depth_10bps": fmt.number(r["ask_depth_10bps"]), "imbalance_10bps": fmt.signed(r["imbalance_10bps"]),
            "imbalance_l1": fmt.signed(r["imbalance_l1"])}


def _table(cells: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f'<td class="t">{html.escape(str(v))}</td>' for v in r.values()) + "</tr>"
                   for r in cells)
    return f"<table><tr>{head}</tr>{body}</table>"


def recorder_html(section: dict[str, Any] | None) -> str:
    """The HTML of the section (its one line when there is no recorder data)."""
    section = section or {"coverage": [], "books": [], "note": NO_RECORDER_DATA}
    out = "<h2>Recorder coverage</h2>"
    if section.get("note"):
        return out + f"<p>{html.escape(section['note'])}</p>"
    out += _table([_coverage_cells(r) for r in section["coverage"]]) if section["coverage"] else "<p><em>none</em></p>"
    out += "<h3>Last order book of the day</h3>"
    return out + (_table([_book_cells(r) for r in section["books"]]) if section["books"] else "<p><em>none</em></p>")
