"""The report's fill-sensitivity section: per top-ranked design of the day, its out-of-sample net return
and Sharpe under each fill assumption and whether its edge survives the strict fills (fill_sensitivity mart)."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

from python_assets.backtest.fills import FILL_MODES, SPREAD_RANGE_FRACTION
from python_assets.reports import fmt
from python_assets.reports.sections import clean, relation, table_exists


def fill_sensitivity(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """One entry per stressed design, best rank first: returns, Sharpes and trades by fill mode, the flag and
    the share of the spread fill's fills priced from a recorded book (None: no such fill, or a mart before it)."""
    if not table_exists(con, "fill_sensitivity"):
        return []
    out: dict[str, dict[str, Any]] = {}
    for did, key, mode, rank, ret, sharpe, trades, survives, book in con.execute(
            f"""select design_id, design_key, fill_mode, rank, net_return, sharpe, trades, edge_survives,
                       book_spread_share from {relation(con, 'fill_sensitivity')}
                where run_date = ? order by rank, design_id, fill_mode""", [day]).fetchall():
        entry = out.setdefault(did, {"rank": rank, "design_id": did, "design_key": key, "net_return": {},
                                     "sharpe": {}, "trades": {}, "edge_survives": survives, "book_spread_share": None})
        entry["net_return"][mode] = clean(ret)
        entry["sharpe"][mode] = clean(sharpe)
        entry["trades"][mode] = clean(trades)
        if mode == "spread":
            entry["book_spread_share"] = clean(book)
    return list(out.values())


def _flag(survives: bool | None) -> str:
    if survives is None:
        return "no edge at next open"
    return "survives" if survives else "LOST under a strict fill"


def fill_sensitivity_html(entries: list[dict[str, Any]]) -> str:
    """The section as an HTML table: return under each fill (Sharpe per bar in brackets) and the flag."""
    from python_assets.reports.html import table  # html imports the section modules, not the other way round

    rows = [{"rank": str(e["rank"]), "design": e["design_key"] or e["design_id"],
             **{m: f"{fmt.pct(e['net_return'].get(m))} ({fmt.signed(e['sharpe'].get(m))})" for m in FILL_MODES},
             "spread_from_book": e.get("book_spread_share"), "edge": _flag(e["edge_survives"])} for e in entries]
    note = ("<p>Out-of-sample net return (per-bar Sharpe) of the day's top-ranked designs when signal orders fill "
            "at the next open (the engine's rule), the signal bar's close, the worst of the next bar's first minute "
            "(buy at its high, sell at its low) or the next open plus half the recorded order book's spread at the "
            f"signal bar's close where the live recorder wrote a book, else a spread of {SPREAD_RANGE_FRACTION:.0%} of "
            "the range over the close of the signal bar's last minute (the whole bar's where the minute has no "
            "trades). Spread from book: the share of the spread fill's fills priced from a recorded book. "
            "LOST: an edge (return and Sharpe &gt; 0) at the next open that worst or spread erases.</p>")
    return "<h2>Fill sensitivity</h2>" + note + table(rows, ["rank", "design", *FILL_MODES, "spread_from_book", "edge"],
                                                      headers={m: m.replace("_", " ") for m in FILL_MODES})
