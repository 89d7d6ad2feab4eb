"""The report's portfolio section: each allocation rule's account beside its members (their own runs),
the rules' equity over the window and the correlation of the members' returns (the matrix up to 16
members, else a summary and the most and least correlated pairs), read from the portfolio marts (JSON)
and rendered as self-contained HTML (inline SVG, no scripts)."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import duckdb

from python_assets.reports import fmt
from python_assets.reports.charts import line_chart
from python_assets.reports.sections import relation, rows, table_exists

# max_drawdown was stored >= 0 before 113515d: its landing rows are flipped before a run's dbt build, but a
# mart built before it keeps the old sign until the next materialize, and a report rebuilt from it failed the
# schema (<= 0). -abs reads both as the loss they are.
DRAWDOWN = "-abs(max_drawdown) as max_drawdown"
RESULT_COLUMNS = (f"rule, members, total_return, sharpe, {DRAWDOWN}, gross_leverage_mean, gross_leverage_max, "
                  "fees_paid, liquidated, final_equity, lookback, max_weight, gross_leverage_cap, min_history, "
                  "rebalances, fallback_rebalances, "
                  "strftime(window_start, '%Y-%m-%dT%H:%M:%SZ') as window_start, "
                  "strftime(window_end, '%Y-%m-%dT%H:%M:%SZ') as window_end")


FORWARD_COLUMNS = ("rule, selected_on, members, bars, day_return, fees_paid, fee_drag, liquidated, days_recorded, "
                   "cumulative_return, sharpe_daily, min_history, rebalances, fallback_rebalances")


def empty() -> dict[str, Any]:
    return {"results": [], "members": [], "correlation": {"members": [], "matrix": []}, "forward": []}


def load(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    """The day's portfolio runs, members and correlation matrix (empty before the portfolio marts exist)."""
    if not table_exists(con, "portfolio_backtest_results"):
        return empty()
    members = rows(con, f"""select member_id, design_id, symbol, total_return, sharpe, {DRAWDOWN}, trades,
                         weight_equal, weight_inverse_vol, weight_risk_parity from portfolio_member_results
                         where run_date = ? order by member_id""", [day])
    ids = [m["member_id"] for m in members]
    cells = {(r["member_a"], r["member_b"]): r["correlation"] for r in rows(
        con, "select member_a, member_b, correlation from portfolio_member_correlations where run_date = ?", [day])}
    forward = rows(con, f"select {FORWARD_COLUMNS} from {relation(con, 'portfolio_forward')} where run_date = ? "
                        "order by rule", [day]) if table_exists(con, "portfolio_forward") else []
    return {"results": rows(con, f"select {RESULT_COLUMNS} from {relation(con, 'portfolio_backtest_results')} "
                            "where run_date = ? order by rule", [day]),
            "forward": [{**f, "selected_on": str(f["selected_on"])} for f in forward],
            "members": members,
            "correlation": {"members": ids, "matrix": [[cells.get((a, b)) for b in ids] for a in ids]}}


def _table(items: list[dict[str, Any]], columns: list[str], headers: dict[str, str]) -> str:
    head = "".join(f"<th>{html.escape(headers.get(c, c.replace('_', ' ')))}</th>" for c in columns)
    td = lambda r, c: ('<td class="t">' if isinstance(r.get(c), str) else "<td>") + fmt.cell(c, r.get(c)) + "</td>"  # noqa: E731
    body = "".join("<tr>" + "".join(td(r, c) for c in columns) + "</tr>" for r in items)
    return f"<table><tr>{head}</tr>{body}</table>"


def _side_by_side(section: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per rule (the account) then one per member (alone, a full account each)."""
    out = [{"name": f"portfolio: {r['rule']}", **r} for r in section["results"]]
    return out + [{"name": m["member_id"], **m} for m in section["members"]]


def _color(c: float | None) -> str:
    """Red for +1, white for 0, blue for -1 (grey when undefined)."""
    if c is None:
        return "#eeeeee"
    k = int(255 * (1 - min(abs(c), 1.0)))
    return f"rgb(255,{k},{k})" if c > 0 else f"rgb({k},{k},255)"


# The members are chosen by the day's ranking, which judged them on this same out-of-sample window: the
# account's figures are in-sample with respect to that choice (40 zero-edge members kept for a positive Sharpe
# on the window made a portfolio Sharpe of ~21). Said beside them; the forward record below is the honest one.
SELECTION_NOTE = ("Its members were picked by today's ranking, which judged them on this same window: the account's "
                  "figures are in-sample for that choice, an upper bound rather than a forecast.")
MATRIX_MAX_MEMBERS = 16  # above it the matrix is unreadable in a page: the summary and the extreme pairs instead
EXTREME_PAIRS = 5


def _pairs(corr: dict[str, Any]) -> list[tuple[str, str, float]]:
    """Each unordered pair of distinct members with a correlation (a before b in member order)."""
    ids = corr["members"]
    return [(ids[i], ids[j], c) for i, row in enumerate(corr["matrix"]) for j, c in enumerate(row)
            if j > i and c is not None]


def _summary(corr: dict[str, Any]) -> str:
    """One sentence: members, pairs with a correlation, their mean, the most and least correlated pair."""
    pairs, n = _pairs(corr), len(corr["members"])
    if not pairs:
        return f"<p>{n} member(s): no pair has a correlation (too few shared bars or a flat member).</p>"
    hi, lo = max(pairs, key=lambda p: p[2]), min(pairs, key=lambda p: p[2])
    name = lambda p: f"{html.escape(p[0])} ~ {html.escape(p[1])} {fmt.number(p[2], 2)}"  # noqa: E731
    return (f"<p>{n} members, {len(pairs):,} pairs with a correlation: mean {fmt.number(sum(p[2] for p in pairs) / len(pairs), 2)}; "
            f"most correlated {name(hi)}; most opposed {name(lo)}.</p>")


def _extremes(corr: dict[str, Any]) -> str:
    """The EXTREME_PAIRS most and least correlated pairs, as a table (the full matrix: portfolio_member_correlations)."""
    ranked = sorted(_pairs(corr), key=lambda p: (-p[2], p[0], p[1]))
    shown = ranked if len(ranked) <= 2 * EXTREME_PAIRS else ranked[:EXTREME_PAIRS] + ranked[-EXTREME_PAIRS:]
    body = "".join(f'<tr><td class="t">{html.escape(a)}</td><td class="t">{html.escape(b)}</td>'
                   f'<td style="background:{_color(c)}">{fmt.number(c, 2)}</td></tr>' for a, b, c in shown)
    return ("<p>The most and least correlated pairs (every pair: the <code>portfolio_member_correlations</code> mart).</p>"
            f"<table><tr><th>member</th><th>member</th><th>correlation</th></tr>{body}</table>")


def _matrix(corr: dict[str, Any]) -> str:
    """The correlation matrix for a few members; for more, a summary and the extreme pairs."""
    ids = corr["members"]
    if not ids:
        return ""
    title = "<h3>Correlation of the members' bar returns</h3>" + _summary(corr)
    if len(ids) > MATRIX_MAX_MEMBERS:
        return title + _extremes(corr)
    head = "".join(f"<th>{k + 1}</th>" for k in range(len(ids)))
    body = "".join(f'<tr><td class="t">{k + 1}. {html.escape(a)}</td>'
                   + "".join(f'<td style="background:{_color(c)}">{fmt.number(c, 2) if c is not None else fmt.DASH}</td>'
                             for c in row) + "</tr>" for k, (a, row) in enumerate(zip(ids, corr["matrix"])))
    return title + f"<table><tr><th>member</th>{head}</tr>{body}</table>"


def _equity_chart(con: duckdb.DuckDBPyConnection, day: str) -> str:
    if not table_exists(con, "portfolio_equity"):
        return ""
    series: dict[str, tuple[list[float], list[float | None]]] = {}
    for rule, ms, eq in con.execute("select rule, bar_at_ms, equity from portfolio_equity where run_date = ? "
                                    "order by rule, bar_at_ms", [date.fromisoformat(day)]).fetchall():
        xs, ys = series.setdefault(rule, ([], []))
        xs.append(ms)
        ys.append(eq)
    return line_chart([(rule, xs, ys) for rule, (xs, ys) in series.items()], "Portfolio equity by allocation rule")


def _fallbacks(items: list[dict[str, Any]]) -> str:
    """One line naming each rule that fell back to equal weights at some of its rebalances (no member had
    min_history own returns that moved): on a short window the three accounts were one, and nothing said so."""
    fell = [r for r in items if r.get("fallback_rebalances")
            or (r.get("rebalances") == 0 and r.get("rule") != "equal")]  # opened on equal shares, never rebalanced
    if not fell:
        return ""
    at = lambda k, n: f"all {n}" if k == n else f"{k} of its {n}"  # noqa: E731
    said = ", ".join(f"{html.escape(r['rule'])} at {at(r['fallback_rebalances'], r['rebalances'])} rebalances"
                     if r["rebalances"] else f"{html.escape(r['rule'])} throughout (no rebalance after its opening)"
                     for r in fell)
    return (f"<p><strong>Fell back to equal weights:</strong> {said}. At those no member had min_history "
            f"({fell[0].get('min_history')}) own returns that moved, so the rule weighed none (an opening reads no "
            "returns); a rule that fell back at all its rebalances ran the equal rule's account.</p>")


FORWARD_NOTE = ("The forward record is out of sample for that choice: each day, an account over the strategies the "
                "ranking before the day made active, trading to its weights from the day before's holdings at the "
                "taker fee, run on that day's bars only, chained over the days recorded (a day with nothing "
                "active holds cash).")


def _forward(items: list[dict[str, Any]]) -> str:
    """The forward record's day and its chain so far per rule (a note before its first day)."""
    if not items:
        return (f"<h3>Forward record</h3><p>{FORWARD_NOTE} <em>No forward day for this day: it needs a ranking on "
                "an earlier day (the record starts the day after the first).</em></p>")
    cols = ["rule", "selected_on", "members", "day_return", "fee_drag", "days_recorded", "cumulative_return",
            "sharpe_daily"]
    return (f"<h3>Forward record</h3><p>{FORWARD_NOTE}</p>" + _fallbacks(items)
            + _table(items, cols, {"selected_on": "members chosen on", "fee_drag": "fees",
                                   "sharpe_daily": "Sharpe (days)"}))


def render(section: dict[str, Any] | None, con: duckdb.DuckDBPyConnection, day: str) -> str:
    """The section's HTML (a short note when no design was active) and the forward record."""
    section = section or empty()
    forward = _forward(section.get("forward", []))
    if not section["results"]:
        return "<h2>Portfolio</h2><p><em>no active strategies: no portfolio</em></p>" + forward
    cols = ["name", "total_return", "sharpe", "max_drawdown", "gross_leverage_max", "fees_paid", "trades",
            "weight_equal", "weight_inverse_vol", "weight_risk_parity"]
    return ("<h2>Portfolio</h2><p>One account across the active strategies and symbols (shared margin, fees on "
            f"rebalance turnover, account liquidation), beside each member run alone. {SELECTION_NOTE}</p>"
            + _fallbacks(section["results"])
            + _table(_side_by_side(section), cols, {"name": "account / member", "gross_leverage_max": "max gross lev."})
            + _equity_chart(con, day) + _matrix(section["correlation"]) + forward)
