"""A backtest run as one self-contained interactive HTML page (Bokeh, JS and CSS inlined: nothing is
fetched when it is opened), like backtesting.py's `bt.plot()`: per symbol, the close with the
indicators the spec reads that live on the price scale and the entry/exit markers, one panel per other
indicator (RSI, NATR, ...), equity against buy-and-hold, and the drawdown, on one zoomable time axis."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, Div, HoverTool
from bokeh.plotting import figure
from bokeh.resources import INLINE

from python_assets.backtest.artifacts import RunData
from python_assets.backtest.report import pct, when
from python_assets.lake.atomic import write_bytes_atomic

TOOLS = "xpan,xwheel_zoom,box_zoom,reset,save"
LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


def _time(ms) -> pd.Series:
    return pd.to_datetime(pd.Series(ms, dtype="int64"), unit="ms")


def glyph_name(label: str) -> str:
    """A renderer name for an indicator label: 'sma(close, 10)' -> 'ind_sma_close_10'."""
    return "ind_" + re.sub(r"\W+", "_", label).strip("_")


def _price_figure(eq: pd.DataFrame, trades: pd.DataFrame, overlays: list[str], title: str):
    """Close, the price-scale indicators, and one marker per entry and exit (long up, short down; exits by outcome)."""
    p = figure(title=title, x_axis_type="datetime", height=320, sizing_mode="stretch_width", tools=TOOLS,
               active_scroll="xwheel_zoom", y_axis_label="price")
    t = _time(eq["bar_at_ms"])
    p.line(t, eq["close"], color="#444444", legend_label="close", name="close")
    for k, label in enumerate(overlays):
        p.line(t, eq[label].astype(float), color=LINE_COLOURS[k % len(LINE_COLOURS)], legend_label=label,
               name=glyph_name(label))
    if len(trades):
        src = ColumnDataSource({
            "entry_at": _time(trades["entry_at_ms"]), "exit_at": _time(trades["exit_at_ms"]),
            "entry_price": trades["entry_price"], "exit_price": trades["exit_price"],
            "marker": np.where(trades["side"] == "long", "triangle", "inverted_triangle"),
            "side": trades["side"], "reason": trades["exit_reason"], "no": trades["trade_no"],
            "ret": [pct(v) for v in trades["return_pct"]],
            "entry_txt": [when(v) for v in trades["entry_at_ms"]], "exit_txt": [when(v) for v in trades["exit_at_ms"]],
            "colour": np.where(trades["pnl"] > 0, "#2ca02c", "#d62728"),
        })
        p.segment("entry_at", "entry_price", "exit_at", "exit_price", source=src, color="colour", line_dash="dashed")
        entries = p.scatter("entry_at", "entry_price", source=src, marker="marker", size=11, color="#17becf",
                            line_color="black", legend_label="entry", name="entries")
        exits = p.scatter("exit_at", "exit_price", source=src, marker="circle", size=8, color="colour",
                          line_color="black", legend_label="exit", name="exits")
        p.add_tools(HoverTool(renderers=[entries, exits], tooltips=[
            ("trade", "#@no @side"), ("entry", "@entry_txt @entry_price{0.[000000]}"),
            ("exit", "@exit_txt @exit_price{0.[000000]}"), ("return", "@ret %"), ("exit reason", "@reason")]))
    p.legend.location = "top_left"
    p.legend.click_policy = "hide"
    return p


def _equity_figures(eq: pd.DataFrame, initial: float, x_range):
    """Equity against buy-and-hold (same initial equity, bought at the first open), and the drawdown in %."""
    t = _time(eq["bar_at_ms"])
    e = eq["equity"].to_numpy(float)
    hold = initial * eq["close"].to_numpy(float) / float(eq["open"].iloc[0])
    p = figure(x_axis_type="datetime", x_range=x_range, height=220, sizing_mode="stretch_width", tools=TOOLS,
               active_scroll="xwheel_zoom", y_axis_label="equity")
    p.line(t, e, color="#1f77b4", line_width=2, legend_label="strategy", name="equity")
    p.line(t, hold, color="#7f7f7f", legend_label="buy & hold", name="buy_and_hold")
    p.legend.location = "top_left"
    peak = np.maximum.accumulate(np.r_[initial, e])[1:]
    dd = (e / peak - 1) * 100
    q = figure(x_axis_type="datetime", x_range=x_range, height=150, sizing_mode="stretch_width", tools=TOOLS,
               active_scroll="xwheel_zoom", y_axis_label="drawdown %")
    q.varea(t, dd, np.zeros(len(dd)), color="#d62728", alpha=0.4, name="drawdown")
    return p, q


def _indicator_figure(eq: pd.DataFrame, label: str, k: int, x_range):
    """One indicator on its own scale (an RSI beside a price would flatten one of them)."""
    p = figure(x_axis_type="datetime", x_range=x_range, height=130, sizing_mode="stretch_width", tools=TOOLS,
               active_scroll="xwheel_zoom", y_axis_label=label)
    p.line(_time(eq["bar_at_ms"]), eq[label].astype(float), color=LINE_COLOURS[k % len(LINE_COLOURS)],
           name=glyph_name(label))
    return p


def _with_indicators(eq: pd.DataFrame, indicators: pd.DataFrame | None, symbol: str) -> tuple[pd.DataFrame, list[str]]:
    """The equity rows with the symbol's indicator values at the same bars, and the indicator labels."""
    if indicators is None or indicators.empty:
        return eq, []
    labels = [c for c in indicators.columns if c not in ("symbol", "bar_at_ms")]
    own = indicators[indicators["symbol"] == symbol].drop(columns="symbol")
    return eq.merge(own, on="bar_at_ms", how="left", suffixes=("", " (indicator)")), labels


def heading(run_id: str, strategy_id: str) -> Div:
    """The page's title. A Div's text is rendered as HTML in the browser: the run id and the strategy name
    (from a spec file anyone may share) are escaped, or a name holding markup runs its script."""
    return Div(text=f"<h2>Backtest {html.escape(str(run_id))}: {html.escape(str(strategy_id))}</h2>",
               sizing_mode="stretch_width")


def chart_html(run: RunData, indicators: pd.DataFrame | None = None, overlays: tuple[str, ...] = ()) -> str:
    """The page: per full-window backtest, price + the `overlays` (price-scale indicators) + trades, a panel
    per other indicator, equity vs buy-and-hold, drawdown. `indicators`: (symbol, bar_at_ms, a column per label)."""
    full = [r for r in run.results if r["window_kind"] == "full"] or run.results
    parts = [heading(run.run_id, full[0]["strategy_id"])]
    for r in full:
        bid = r["backtest_id"]
        eq, labels = _with_indicators(run.equity[run.equity["backtest_id"] == bid].sort_values("bar_at_ms"),
                                      indicators, r["symbol"])
        tr = run.trades[run.trades["backtest_id"] == bid]
        title = (f"{r['symbol']} {r['timeframe']}  return {pct(r['total_return'])} %  buy & hold "
                 f"{pct(r['buy_and_hold_return'])} %  max drawdown {pct(r['max_drawdown'])} %  trades {r['trade_count']}")
        price_fig = _price_figure(eq, tr, [c for c in labels if c in overlays], title)
        panels = [_indicator_figure(eq, c, k, price_fig.x_range) for k, c in enumerate(c for c in labels if c not in overlays)]
        parts += [price_fig, *panels, *_equity_figures(eq, float(r["initial_equity"]), price_fig.x_range)]
    for fig in parts[1:]:
        fig.toolbar.logo = None  # the logo links to bokeh.org; the page links nowhere
    return file_html(column(*parts, sizing_mode="stretch_width"), resources=INLINE,
                     title=f"backtest {run.run_id} {full[0]['strategy_id']}")


def write_chart(run: RunData, indicators: pd.DataFrame | None, overlays: tuple[str, ...], path: Path) -> Path:
    """Write the page atomically (its parent folder is created): a full disk keeps the previous page whole."""
    page = chart_html(run, indicators, overlays).encode("utf-8")
    write_bytes_atomic(page, path)
    return path
