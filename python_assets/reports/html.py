"""The HTML report: one self-contained file per day (inline CSS and SVG, no scripts, no external
requests) plus an index of all days. Charts: equity and drawdown of the top strategies, price
with regime shading, model vs baseline."""

from __future__ import annotations

import html
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from python_assets.lake import write_bytes_atomic
from python_assets.reports.sections import table_exists

REGIME_COLORS = {"trend_up": "#d8f3dc", "trend_down": "#ffd6d6", "range": "#eeeeee", "high_vol": "#fff3bf"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}h1{margin-bottom:0}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.chart{margin:6px 0 18px}
.warning{color:#a00}.caution{color:#a60}.info{color:#246}"""


def esc(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def line_chart(series: list[tuple[str, list[float], list[float]]], title: str, shading=None, w=720, h=220) -> str:
    """Inline SVG lines (x = epoch ms); shading: [(x0, x1, color)] drawn behind."""
    pts = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys) if y is not None]
    if not pts:
        return f"<p><em>{esc(title)}: no data</em></p>"
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-9)
    pad = 30
    sx = lambda x: pad + (x - x0) / (x1 - x0) * (w - 2 * pad)  # noqa: E731
    sy = lambda y: h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)  # noqa: E731
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">',
             f'<title>{esc(title)}</title><text x="{pad}" y="16" font-size="13">{esc(title)}</text>']
    for a, b, color in shading or []:
        parts.append(f'<rect x="{sx(a):.1f}" y="{pad}" width="{max(sx(b) - sx(a), 0.5):.1f}" height="{h - 2 * pad}" fill="{color}"/>')
    parts.append(f'<text x="2" y="{pad + 4}" font-size="10">{y1:.4g}</text><text x="2" y="{h - pad}" font-size="10">{y0:.4g}</text>')
    for i, (label, xs, ys) in enumerate(series):
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys) if y is not None)
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        parts.append(f'<text x="{w - 200}" y="{16 + 13 * i}" font-size="11" fill="{color}">{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(groups: list[tuple[str, dict[str, float]]], title: str, w=720, h=220) -> str:
    """Grouped bars: [(group label, {series: value})]."""
    values = [v for _, d in groups for v in d.values() if v is not None]
    if not values:
        return f"<p><em>{esc(title)}: no data</em></p>"
    top, pad = max(values) or 1.0, 30
    names = sorted({k for _, d in groups for k in d})
    gw = (w - 2 * pad) / len(groups)
    bw = gw * 0.8 / len(names)
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">',
             f'<title>{esc(title)}</title><text x="{pad}" y="16" font-size="13">{esc(title)}</text>']
    for gi, (label, d) in enumerate(groups):
        for si, name in enumerate(names):
            v = d.get(name)
            if v is None:
                continue
            bh = v / top * (h - 2 * pad - 20)
            x = pad + gi * gw + si * bw
            parts.append(f'<rect x="{x:.1f}" y="{h - pad - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                         f'fill="{PALETTE[si % len(PALETTE)]}"><title>{esc(label)} {esc(name)} {v:.4g}</title></rect>')
        parts.append(f'<text x="{pad + gi * gw:.1f}" y="{h - 10}" font-size="10">{esc(label)}</text>')
    for si, name in enumerate(names):
        parts.append(f'<text x="{w - 140}" y="{16 + 13 * si}" font-size="11" fill="{PALETTE[si % len(PALETTE)]}">{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _equity_charts(con: duckdb.DuckDBPyConnection, strategies: list[dict[str, Any]]) -> str:
    if not table_exists(con, "backtest_equity"):
        return ""
    series, drawdowns = [], []
    for s in strategies[:3]:
        pts = con.execute("select bar_at_ms, equity from backtest_equity where backtest_id = ? order by bar_at_ms",
                          [s["backtest_id"]]).fetchall()
        if not pts:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        peak, dd = -float("inf"), []
        for y in ys:
            peak = max(peak, y)
            dd.append(y / peak - 1)
        label = f"{s['strategy']} {s['symbol']}"
        series.append((label, xs, ys))
        drawdowns.append((label, xs, dd))
    return line_chart(series, "Equity of the top strategies (quote currency)") + line_chart(drawdowns, "Drawdown")


def _price_charts(con: duckdb.DuckDBPyConnection, day: date, symbols: list[str]) -> str:
    if not table_exists(con, "features"):
        return ""
    out = []
    for symbol in symbols:
        rows = con.execute("""select bar_at_ms, close, regime from features where timeframe = '1h' and symbol = ?
                              and bar_date between ? and ? order by bar_at_ms""", [symbol, day - timedelta(days=6), day]).fetchall()
        if not rows:
            continue
        shading = [(r[0], r[0] + 3_600_000, REGIME_COLORS.get(r[2], "#ffffff")) for r in rows if r[2]]
        out.append(line_chart([(f"{symbol} close (1h)", [r[0] for r in rows], [r[1] for r in rows])],
                              f"{symbol}: last 7 days, background = regime", shading))
    legend = " ".join(f'<span style="background:{c};padding:0 6px">{k}</span>' for k, c in REGIME_COLORS.items())
    return f"<p>{legend}</p>" + "".join(out)


def _model_chart(models: list[dict[str, Any]]) -> str:
    groups: dict[str, dict[str, float]] = {}
    for m in models:
        metric = "log_loss" if m.get("log_loss") is not None else "rmse"
        groups.setdefault(f"{m['model']} ({metric})", {})[m["scorer"]] = m.get(metric)
    return bar_chart(sorted(groups.items()), "Out-of-sample loss: model vs naive baseline (lower is better)")


def render(report: dict[str, Any], con: duckdb.DuckDBPyConnection) -> str:
    day = date.fromisoformat(report["report_date"])
    review = report["review"]
    findings = "".join(f'<li class="{esc(f["severity"])}"><b>{esc(f["topic"])}</b>: {esc(f["text"])}</li>'
                       for f in review["findings"]) or "<li>none</li>"
    sections = [
        f"<h1>blofin-stack daily report {esc(report['report_date'])}</h1>",
        f"<p>generated {esc(report['generated_at'])} · code {esc(report['code_version'])} · schema {esc(report['schema_version'])}</p>",
        f"<h2>Review ({esc(review['analyst'])})</h2><p>{esc(review['summary'])}</p><ul>{findings}</ul>",
        "<h2>Market</h2>" + table(report["symbols"], ["symbol", "close", "return_1d", "range_pct", "volume", "trade_count",
                                                      "regime", "regime_previous", "quarantined_rows"]),
        _price_charts(con, day, [s["symbol"] for s in report["symbols"]]),
        "<h2>Top strategies</h2>" + table(report["strategies"], ["strategy", "kind", "symbol", "timeframe", "trade_count",
                                                                 "total_return", "sharpe", "max_drawdown", "composite_score",
                                                                 "composite_change"]),
        _equity_charts(con, report["strategies"]),
        "<h2>Walk-forward</h2>" + table(report["walk_forward"], ["strategy", "symbol", "folds", "in_sample_sharpe",
                                                                 "out_of_sample_sharpe"]),
        "<h2>Models</h2>" + _model_chart(report["ml"]["models"])
        + table(report["ml"]["models"], ["model", "scorer", "test_rows", "accuracy", "log_loss", "auc", "rmse", "rank_ic"])
        + table(report["ml"]["ensembles"], ["ensemble", "scorer", "eval_rows", "accuracy", "auc", "log_loss"])
        + table(report["ml"]["predictions"], ["model", "symbol", "bar_at", "prediction", "p_up"]),
        "<h2>Strategy research</h2>" + table(report["research"]["ranking"], ["rank", "design_key", "origin", "score",
                                                                             "deflated_sharpe", "oos_sharpe_annual",
                                                                             "oos_trades", "status"])
        + table(report["research"]["transitions"], ["design_id", "status", "status_reason"]),
        "<h2>Warnings and failed checks</h2>" + ("<ul>" + "".join(f"<li>{esc(w)}</li>" for w in report["warnings"]) + "</ul>"
                                                if report["warnings"] else "<p>none</p>")
        + table(report["failed_checks"], ["asset", "check"]),
    ]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>blofin-stack {esc(report["report_date"])}</title>'
            f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>\n")


def write_html(paths, report: dict[str, Any], con: duckdb.DuckDBPyConnection) -> Path:
    """data/reports/YYYY-MM-DD.html and the refreshed index.html (atomic writes)."""
    target = paths.reports / f"{report['report_date']}.html"
    write_bytes_atomic(render(report, con).encode(), target)
    days = sorted((p.stem for p in paths.reports.glob("????-??-??.html")), reverse=True)
    links = "".join(f'<li><a href="{d}.html">{d}</a> (<a href="{d}.json">json</a>)</li>' for d in days)
    write_bytes_atomic((f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>blofin-stack reports</title>'
                        f"<style>{CSS}</style></head><body><h1>blofin-stack daily reports</h1><ul>{links}</ul></body></html>\n"
                        ).encode(), paths.reports / "index.html")
    return target
