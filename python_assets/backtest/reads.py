"""The backtest's warehouse reads: bars, funding settlements and contract specs, per symbol or batched for
many symbols over one window (what the engine can reach, nothing after the window's last bar)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import numpy as np
import pandas as pd

from python_assets.backtest.engine import Instruments
from python_assets.platform.timeframes import MINUTE_MS, TIMEFRAME_MS, bar_spacing_ms
from python_assets.warehouse.connection import table_exists

NO_FUNDING = (np.zeros(0, np.int64), np.zeros(0))


@dataclass(frozen=True)
class Bars:
    """One symbol's bars on one timeframe, sorted by open time."""

    symbol: str
    timeframe: str
    bar_len_ms: int
    ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def window(self, start_ms: int, end_ms: int) -> "Bars":
        keep = (self.ms >= start_ms) & (self.ms < end_ms)
        return replace(self, ms=self.ms[keep], open=self.open[keep], high=self.high[keep], low=self.low[keep],
                       close=self.close[keep])


def _bars(symbol: str, timeframe: str, df: pd.DataFrame) -> Bars:
    """Bars from a frame of one symbol's bar_at_ms and OHLC, sorted by time."""
    arr = lambda c: df[c].to_numpy(dtype=np.float64, copy=True)  # noqa: E731
    return Bars(symbol, timeframe, TIMEFRAME_MS.get(timeframe) or _spacing(df["bar_at_ms"]),
                df["bar_at_ms"].to_numpy(dtype=np.int64, copy=True), arr("open"), arr("high"), arr("low"), arr("close"))


def _spacing(ms) -> int:
    """The bar length of a timeframe the seed does not name, as a file's bars were measured (files.read_ohlcv)."""
    return bar_spacing_ms(ms) if len(ms) > 1 else MINUTE_MS


def _by_symbol(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A frame sorted by symbol split into one frame per symbol (a scan, not a groupby per call)."""
    if df.empty:
        return {}
    syms = df["symbol"].to_numpy()
    cuts = np.flatnonzero(syms[1:] != syms[:-1]) + 1
    starts, stops = np.r_[0, cuts], np.r_[cuts, len(df)]
    return {str(syms[a]): df.iloc[a:b].reset_index(drop=True) for a, b in zip(starts, stops)}


def span_sql(column: str, start_ms: int | None, end_ms: int | None) -> tuple[str, list[int]]:
    """SQL conditions keeping column in [start_ms, end_ms) (a None bound leaves that side open) and their
    parameters: plain comparisons, so DuckDB can skip row groups and Parquet files by their min/max."""
    sql, params = "", []
    if start_ms is not None:
        sql, params = f" and {column} >= ?", [start_ms]
    if end_ms is not None:
        sql, params = sql + f" and {column} < ?", [*params, end_ms]
    return sql, params


def load_bars(con: duckdb.DuckDBPyConnection, relation: str, symbol: str, timeframe: str) -> Bars:
    """Bars of one symbol and timeframe from a relation with symbol, timeframe, bar_at_ms and OHLC."""
    df = con.execute(
        f"select bar_at_ms, open, high, low, close from {relation} where symbol = ? and timeframe = ? order by bar_at_ms",
        [symbol, timeframe],
    ).df()
    return _bars(symbol, timeframe, df)


def window_symbols(con: duckdb.DuckDBPyConnection, relation: str, timeframe: str, start_ms: int, end_ms: int) -> list[str]:
    """The symbols with a bar in [start_ms, end_ms), sorted (a symbol without one has nothing to backtest)."""
    span, params = span_sql("bar_at_ms", start_ms, end_ms)
    return sorted(r[0] for r in con.execute(f"select distinct symbol from {relation} where timeframe = ?{span}",
                                            [timeframe, *params]).fetchall())


def window_bars(con: duckdb.DuckDBPyConnection, relation: str, symbols: list[str], timeframe: str, start_ms: int,
                end_ms: int) -> dict[str, Bars]:
    """Every symbol's bars in [start_ms, end_ms) in one query (a symbol without bars gets empty Bars)."""
    span, params = span_sql("bar_at_ms", start_ms, end_ms)
    df = con.execute(f"select symbol, bar_at_ms, open, high, low, close from {relation} where timeframe = ?{span} "
                     "and symbol in (select unnest(?)) order by symbol, bar_at_ms", [timeframe, *params, list(symbols)]).df()
    parts = _by_symbol(df)
    return {s: _bars(s, timeframe, parts.get(s, df.iloc[:0])) for s in symbols}


def window_funding(con: duckdb.DuckDBPyConnection, symbols: list[str], start_ms: int | None,
                   end_ms: int | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Funding settlements in [start_ms, end_ms) per symbol in one query (None: unbounded). The engine pays
    nothing for settlements before a window's first bar (every window starts flat), nor reaches one at or
    after its last bar's close, so the bars' span bounds what it needs."""
    if not table_exists(con, "stg_funding_rates"):
        return {s: NO_FUNDING for s in symbols}
    span, params = span_sql("funding_at_ms", start_ms, end_ms)
    df = con.execute("select symbol, funding_at_ms, funding_rate from stg_funding_rates where symbol in "
                     f"(select unnest(?)){span} order by symbol, funding_at_ms", [list(symbols), *params]).df()
    parts = _by_symbol(df)
    return {s: (parts[s]["funding_at_ms"].to_numpy(np.int64, copy=True), parts[s]["funding_rate"].to_numpy(np.float64, copy=True))
            if s in parts else NO_FUNDING for s in symbols}


def window_instruments(con: duckdb.DuckDBPyConnection, symbols: list[str], start_ms: int | None,
                       end_ms: int | None) -> dict[str, Instruments | None]:
    """Contract-spec versions per symbol in one query: the one valid at start_ms and those starting before
    end_ms (None: unbounded); versions without a positive contract value or lot size are left out, a
    missing min_size counts as 0; None for a symbol without any (the engine then sizes without lots)."""
    if not table_exists(con, "dim_instruments"):
        return dict.fromkeys(symbols)
    span, params = span_sql("valid_from_ms", None, end_ms)
    df = con.execute(
        "with v as (select symbol, valid_from_ms, contract_value, lot_size, coalesce(min_size, 0) as min_size, "
        "max(case when valid_from_ms <= ? then valid_from_ms end) over (partition by symbol) as at_start "
        f"from dim_instruments where symbol in (select unnest(?)) and contract_value > 0 and lot_size > 0{span}) "
        "select symbol, valid_from_ms, contract_value, lot_size, min_size from v "
        "where valid_from_ms >= coalesce(at_start, valid_from_ms) order by symbol, valid_from_ms",
        [start_ms, list(symbols), *params]).df()
    parts, col = _by_symbol(df), lambda d, c: d[c].to_numpy(np.float64, copy=True)  # noqa: E731
    return {s: Instruments(parts[s]["valid_from_ms"].to_numpy(np.int64, copy=True), col(parts[s], "contract_value"),
                           col(parts[s], "lot_size"), np.maximum(col(parts[s], "min_size"), 0.0))
            if s in parts else None for s in symbols}


def load_funding(con: duckdb.DuckDBPyConnection, symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """Every funding settlement of a symbol (empty when the warehouse has none)."""
    return window_funding(con, [symbol], None, None)[symbol]


def load_instruments(con: duckdb.DuckDBPyConnection, symbol: str) -> Instruments | None:
    """Every contract-spec version of a symbol (see window_instruments)."""
    return window_instruments(con, [symbol], None, None)[symbol]
