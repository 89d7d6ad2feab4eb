"""The HTML report: one self-contained file per day (inline CSS and SVG, no scripts, no external
requests) plus an index of all days. Charts: equity vs buy-and-hold and drawdown of the top
strategies, price with regime shading, each model metric vs its baseline; the top strategies'
recent trades. Numbers are formatted by kind (fmt), never in scientific notation."""

from __future__ import annotations

import html
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from python_assets.lake.atomic import write_bytes_atomic
from python_assets.reports import fmt, portfolio_section, robustness
from python_assets.reports.charts import DRAWDOWN_ZERO_SPAN, bar_chart, line_chart
from python_assets.reports.recorder import recorder_html
from python_assets.reports.fill_section import fill_sensitivity_html
from python_assets.reports.sections import WALK_FORWARD_EXPLAINED, WALK_FORWARD_NONE, recent_trades, relation, table_exists
from python_assets.platform.timeframes import TIMEFRAME_MS

REGIME_COLORS = {"trend_up": "#d8f3dc", "trend_down": "#ffd6d6", "range": "#eeeeee", "high_vol": "#fff3bf"}
CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1160px}h1{margin-bottom:0}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.chart{margin:6px 0 18px;display:block}
td.t{text-align:left}td[title]{text-decoration:underline dotted;cursor:help}h3{margin:10px 0 4px;font-size:15px}
.warning{color:#a00}.caution{color:#a60}.info{color:#246}"""
TOP_CHARTED = 3


def esc(v: Any) -> str:
    """Escaped text of a value (numbers by fmt.number; None -> a dash)."""
    return html.escape(fmt.by_kind(v, None))


def table(rows: list[dict[str, Any]], columns: list[str], titles: dict[str, str] | None = None,
          headers: dict[str, str] | None = None, empty: str = "none") -> str:
    """A table of rows; each cell formatted by its column's kind; titles maps a column to the column
    whose text becomes that cell's tooltip (e.g. a design's spec); empty: what no rows says."""
    if not rows:
        return f"<p><em>{html.escape(empty)}</em></p>"
    titles, headers = titles or {}, headers or {}
    head = "".join(f"<th>{html.escape(headers.get(c, c.replace('_', ' ')))}</th>" for c in columns)

    def td(r: dict[str, Any], c: str) -> str:
        tip = r.get(titles[c]) if c in titles else None
        attr = f' title="{html.escape(str(tip), quote=True)}"' if tip else ""
        cls = ' class="t"' if isinstance(r.get(c), str) else ""
        return f"<td{attr}{cls}>{fmt.cell(c, r.get(c))}</td>"

    body = "".join("<tr>" + "".join(td(r, c) for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def strategy_label(s: dict[str, Any]) -> str:
    """'sma_cross BTC-USDT 1h': the strategy by name, never by its hash."""
    return f"{s['strategy']} {s['symbol']} {s.get('timeframe') or ''}".strip()


def _equity_charts(con: duckdb.DuckDBPyConnection, strategies: list[dict[str, Any]]) -> str:
    """Equity of each top strategy beside buying and holding its symbol (report_equity.buy_and_hold_equity:
    the same start and rule as the table's buy & hold), and drawdowns."""
    if not table_exists(con, "report_equity"):
        return ""
    series, drawdowns, dashed, equity = [], [], set(), relation(con, "report_equity")
    for s in strategies[:TOP_CHARTED]:
        pts = con.execute(f"select bar_at_ms, equity, buy_and_hold_equity from {equity} "
                          "where backtest_id = ? order by bar_at_ms", [s["backtest_id"]]).fetchall()
        if not pts:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        peak, dd = -float("inf"), []
        for y in ys:
            peak = max(peak, y)
            dd.append(y / peak - 1)
        label = strategy_label(s)
        series.append((label, xs, ys))
        hold = f"buy & hold {s['symbol']}"
        if pts[0][2] is not None and hold not in dashed:  # bought at the window's first open, as the table's
            dashed.add(hold)
            series.append((hold, xs, [p[2] for p in pts]))
        drawdowns.append((label, xs, dd))
    return (line_chart(series, "Equity of the top strategies vs buy & hold (quote currency)", fmt.number,
                       dashed=frozenset(dashed))
            + line_chart(drawdowns, "Drawdown from the running peak", lambda v: fmt.pct(v, 1),
                         zero_span=DRAWDOWN_ZERO_SPAN))


def _price_charts(con: duckdb.DuckDBPyConnection, day: date, symbols: list[str]) -> str:
    if not table_exists(con, "features"):
        return ""
    out = []
    for symbol in symbols:
        rows = con.execute("""select bar_at_ms, close, regime from features where timeframe = '1h' and symbol = ?
                              and bar_date between ? and ? order by bar_at_ms""", [symbol, day - timedelta(days=6), day]).fetchall()
        if not rows:
            continue
        shading = [(r[0], r[0] + TIMEFRAME_MS["1h"], REGIME_COLORS.get(r[2], "#ffffff")) for r in rows if r[2]]
        out.append(line_chart([(f"{symbol} close (1h)", [r[0] for r in rows], [r[1] for r in rows])],
                              f"{symbol}: last 7 days, background = regime", fmt.price, shading))
    legend = " ".join(f'<span style="background:{c};padding:0 6px">{k}</span>' for k, c in REGIME_COLORS.items())
    return f"<p>{legend}</p>" + "".join(out)


def _model_charts(models: list[dict[str, Any]]) -> str:
    """One chart per metric (log_loss, rmse): each on its own scale, model vs naive baseline."""
    out = []
    for metric in ("log_loss", "rmse"):
        groups: dict[str, dict[str, float]] = {}
        for m in models:
            if m.get(metric) is not None:
                groups.setdefault(m["model"], {})[m["scorer"]] = m[metric]
        if groups:
            out.append(bar_chart(sorted(groups.items()), f"Out-of-sample {metric}: model vs naive baseline (lower is better)"))
    return "".join(out)


def trained_label(model: dict[str, Any]) -> str | None:
    """'2025-03-09 (reused)': the day the scored version was trained, and whether the report's day reused it (its
    scores then repeat that day's walk-forward; an ensemble's: its newest member's, every member reused); None
    (a dash) for rows written before either was recorded."""
    day = model.get("trained_on")
    return None if day is None else f"{day} (reused)" if model.get("reused") else day


def _trades(con: duckdb.DuckDBPyConnection, strategies: list[dict[str, Any]]) -> str:
    """The last trades of the top strategies, named by strategy."""
    top = strategies[:TOP_CHARTED]
    names = {s["backtest_id"]: strategy_label(s) for s in top}
    trades = [{**t, "strategy": names[t["backtest_id"]]} for t in recent_trades(con, list(names))]
    return "<h3>Recent trades of the top strategies</h3>" + table(
        trades, ["strategy", "side", "entry_at", "entry_price", "exit_at", "exit_price", "held_seconds", "return_pct",
                 "exit_reason"],
        headers={"entry_at": "entry (UTC)", "exit_at": "exit (UTC)", "held_seconds": "held", "return_pct": "return"},
    ) if trades else "<h3>Recent trades of the top strategies</h3><p><em>none</em></p>"


def _findings(review: dict[str, Any]) -> str:
    items = "".join(f'<li class="{html.escape(f["severity"])}"><b>{html.escape(f["topic"])}</b>: {html.escape(f["text"])}</li>'
                    for f in review["findings"])
    return f"<ul>{items}</ul>" if items else "<p>No findings.</p>"


def _checks(report: dict[str, Any]) -> str:
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report["warnings"])
    return ("<h2>Warnings and failed checks</h2><h3>Warnings</h3>" + (f"<ul>{warnings}</ul>" if warnings else "<p>none</p>")
            + "<h3>Failed asset checks</h3>" + (table(report["failed_checks"], ["asset", "check"])
                                                if report["failed_checks"] else "<p>none: every asset check passed</p>"))


def _research_counts(research: dict[str, Any]) -> str:
    """One line: how many designs the day ranked, by lifecycle status, and how many it proposed."""
    counts = research.get("status_counts") or {}
    if not counts:
        return ""
    by_status = ", ".join(f"{n:,} {esc(status)}" for status, n in sorted(counts.items()))
    top = len(research.get("ranking") or [])
    return (f"<p>{sum(counts.values()):,} designs ranked: {by_status}; {len(research.get('new_designs') or []):,} "
            f"new today.{f' The top {top}:' if top else ''}</p>")


def _rendered_by(report: dict[str, Any]) -> str:
    """' (rendered by <code>)' for a report rendered again by other code than computed its numbers, else ''."""
    by = (report.get("run") or {}).get("rendered_by_code")
    return f" (rendered by {esc(by)})" if by and by != report["code_version"] else ""


def render(report: dict[str, Any], con: duckdb.DuckDBPyConnection) -> str:
    day = date.fromisoformat(report["report_date"])
    review = report["review"]
    strategies = [{**s, "name": strategy_label(s)} for s in report["strategies"]]
    sections = [
        f"<h1>blofin-stack daily report {esc(report['report_date'])}</h1>",
        f"<p>generated {esc(report['generated_at'])} · code {esc(report['code_version'])}{_rendered_by(report)} · "
        f"schema {esc(report['schema_version'])}</p>",
        f"<h2>Review ({esc(review['analyst'])})</h2><p>{esc(review['summary'])}</p>{_findings(review)}",
        "<h2>Market</h2>" + table(report["symbols"], ["symbol", "close", "return_1d", "range_pct", "volume", "trade_count",
                                                      "regime", "regime_previous", "quarantined_rows"],
                                  headers={"return_1d": "return 1d", "range_pct": "range"}),
        _price_charts(con, day, [s["symbol"] for s in report["symbols"]]),
        "<h2>Top strategies</h2>" + table(strategies, ["name", "kind", "trade_count", "total_return",
                                                       "buy_and_hold_return", "sharpe", "max_drawdown",
                                                       "composite_score", "composite_change"],
                                          titles={"name": "params"},
                                          headers={"name": "strategy", "buy_and_hold_return": "buy & hold"}),
        _equity_charts(con, report["strategies"]),
        _trades(con, report["strategies"]),
        f"<h2>Walk-forward</h2><p>{esc(WALK_FORWARD_EXPLAINED)}</p>" + table(report["walk_forward"], ["strategy", "symbol", "folds", "scored_folds", "in_sample_sharpe",
                                                                 "out_of_sample_sharpe"], empty=WALK_FORWARD_NONE),
        "<h2>Models</h2>" + _model_charts(report["ml"]["models"])
        + table([{**m, "trained": trained_label(m)} for m in report["ml"]["models"]],
                ["model", "scorer", "trained", "test_rows", "accuracy", "log_loss", "auc", "rmse", "rank_ic"])
        + table([{**e, "trained": trained_label(e)} for e in report["ml"]["ensembles"]],
                ["ensemble", "scorer", "trained", "eval_rows", "accuracy", "auc", "log_loss"])
        + table(report["ml"]["predictions"], ["model", "symbol", "bar_at", "prediction", "p_up"]),
        "<h2>Strategy research</h2>" + _research_counts(report["research"]) + table(report["research"]["ranking"], ["rank", "design_key", "origin", "score",
                                                                             "deflated_sharpe", "oos_sharpe_annual",
                                                                             "oos_trades", "status"],
                                             titles={"design_key": "spec"}, headers={"design_key": "design"})
        + "<h3>Lifecycle changes</h3>" + table(report["research"]["transitions"], ["design_key", "status", "status_reason"],
                                               titles={"design_key": "spec"}, headers={"design_key": "design"}),
        robustness.render(report, table),
        recorder_html(report.get("recorder")),
        portfolio_section.render(report.get("portfolio"), con, report["report_date"]),
        fill_sensitivity_html(report.get("fill_sensitivity", [])),
        _checks(report),
    ]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>blofin-stack {esc(report["report_date"])}</title>'
            f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>\n")


def write_index(paths) -> Path:
    """data/reports/index.html, linking every day's HTML and JSON report (atomic write)."""
    days = sorted((p.stem for p in paths.reports.glob("????-??-??.html")), reverse=True)
    links = "".join(f'<li><a href="{d}.html">{d}</a> (<a href="{d}.json">json</a>)</li>' for d in days)
    target = paths.reports / "index.html"
    write_bytes_atomic((f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>blofin-stack reports</title>'
                        f"<style>{CSS}</style></head><body><h1>blofin-stack daily reports</h1><ul>{links}</ul></body></html>\n"
                        ).encode(), target)
    return target
