"""The indicators a strategy spec reads (its features and window terms such as `sma(close, fast)` or
`highest(high, 20)`), computed by the same SQL compiler and over the same relation as its signals, so the
backtest chart draws exactly the values the entries and exits were decided on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from python_assets.backtest import expr
from python_assets.backtest.artifacts import RunData
from python_assets.backtest.catalog import feature_columns, price_scale_features
from python_assets.backtest.files import closed_bars, read_ohlcv
from python_assets.backtest.spec import CONDITIONS, OHLCV, StrategySpec, resolve_params
from python_assets.config import Paths
from python_assets.warehouse.connection import connect_utc, connect_warehouse

PRICE_COLUMNS = OHLCV - {"volume"}


def render(node: expr.Node, params: dict[str, Any]) -> str:
    """An expression as text with its parameters filled in: ('call', 'sma', [close, fast]) -> 'sma(close, 10)'."""
    kind = node[0]
    if kind == "num":
        return repr(node[1])
    if kind == "str":
        return f"'{node[1]}'"
    if kind == "name":
        return repr(params[node[1]]) if node[1] in params else node[1]
    if kind == "call":
        return f"{node[1]}({', '.join(render(a, params) for a in node[2])})"
    if kind == "neg":
        return f"-{render(node[1], params)}"
    if kind == "not":
        return f"not {render(node[1], params)}"
    return f"({render(node[2], params)} {node[1]} {render(node[3], params)})"


def _terms(node: expr.Node, columns: frozenset[str], params: dict[str, Any]) -> list[expr.Node]:
    """The indicator nodes of one expression: window calls whole, features by name; lag() and cross_*()
    are looked through (the chart draws the series they shift or compare)."""
    kind = node[0]
    if kind == "name":
        name = node[1]
        return [node] if name in columns and name not in OHLCV and name not in params else []
    if kind == "call":
        if node[1] in expr.WINDOW_FUNCTIONS:
            return [node]
        args = node[2][:1] if node[1] == "lag" else node[2]
        return [t for a in args for t in _terms(a, columns, params)]
    if kind == "bin":
        return _terms(node[2], columns, params) + _terms(node[3], columns, params)
    if kind in ("not", "neg"):
        return _terms(node[1], columns, params)
    return []


def indicator_terms(spec: StrategySpec, params: dict[str, Any], columns: frozenset[str]) -> dict[str, expr.Node]:
    """{label: expression} of every indicator the spec's enabled conditions read, in the order they appear."""
    out: dict[str, expr.Node] = {}
    for key in CONDITIONS:
        text = spec.conditions.get(key)
        if text is None or not (spec.side == "both" or key.endswith(spec.side)):
            continue
        for node in _terms(expr.parse(text), columns, params):
            out.setdefault(render(node, params), node)
    return out


def indicator_frame(con: duckdb.DuckDBPyConnection, relation: str, terms: dict[str, expr.Node],
                    params: dict[str, Any], columns: frozenset[str], timeframe: str,
                    symbols: list[str]) -> pd.DataFrame:
    """(symbol, bar_at_ms, one column per label) over `relation`, by the signal compiler's causal windows."""
    if not terms:
        return pd.DataFrame(columns=["symbol", "bar_at_ms"])
    compiler = expr.SignalCompiler(frozenset(columns) | OHLCV)
    sqls = [compiler.compile(node, params)[0] for node in terms.values()]
    where = f"timeframe = {expr.sql_literal(timeframe)} and symbol in ({', '.join(map(expr.sql_literal, symbols))})"
    body, last = compiler.ctes(relation, where)
    cols = ", ".join(f"{sql} as i{k}" for k, sql in enumerate(sqls))
    frame = con.execute(f"with {body}\nselect symbol, bar_at_ms, {cols} from {last} order by symbol, bar_at_ms").df()
    return frame.rename(columns={f"i{k}": label for k, label in enumerate(terms)})


def on_price_axis(node: expr.Node, price_features: frozenset[str]) -> bool:
    """Whether an indicator is a price level (drawn over the close) rather than on its own scale (RSI, NATR):
    a price column or price-scale feature, or sma/highest/lowest/lag of one. A rule, not a guess from the
    values: an RSI of 50 on a coin priced 50 is still an oscillator."""
    kind = node[0]
    if kind == "name":
        return node[1] in PRICE_COLUMNS or node[1] in price_features
    if kind == "call" and node[1] in ("sma", "highest", "lowest", "lag"):
        return on_price_axis(node[2][0], price_features)
    return False


def chart_indicators(paths: Paths, strategy: str, params: dict[str, Any], run: RunData, data: Path | None = None,
                     symbol: str | None = None, now: int | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The run's indicators, from the file it read (OHLCV windows only; its bars closed by `now`, as the run
    read them) or the warehouse's features, and the labels of those drawn over the close."""
    from python_assets.backtest.service import find_spec  # service runs backtests; this module only reads

    columns = frozenset() if data is not None else feature_columns()
    spec = find_spec(strategy, columns)
    resolved = resolve_params(spec, params)
    terms = indicator_terms(spec, resolved, columns)
    price = price_scale_features()
    overlays = [label for label, node in terms.items() if on_price_axis(node, price)]
    timeframe, symbols = run.results[0]["timeframe"], sorted({r["symbol"] for r in run.results})
    if data is not None:
        bars, bar_ms = read_ohlcv(data, symbol)
        bars = bars if now is None else closed_bars(bars, bar_ms, now, data)[0]
        with connect_utc() as con:
            con.register("file_bars", bars)
            return indicator_frame(con, "file_bars", terms, resolved, columns, timeframe, symbols), overlays
    with connect_warehouse(paths.warehouse, read_only=True) as con:
        return indicator_frame(con, "features", terms, resolved, columns, timeframe, symbols), overlays
