"""The backtest chart draws the indicators a spec reads: its features and window terms, valued by the
signal compiler's SQL (checked against pandas), price levels over the close and oscillators on their own
scale (by rule, so an RSI near 50 on a coin priced near 50 still gets its own panel)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.backtest import expr
from python_assets.backtest.artifacts import RunData
from python_assets.backtest.catalog import feature_columns, price_scale_features
from python_assets.backtest.chart import chart_html
from python_assets.backtest.indicators import indicator_frame, indicator_terms, on_price_axis
from python_assets.backtest.spec import resolve_params, spec_from_dict
from python_assets.backtest.spec_files import STRATEGY_DIR, load_spec, load_specs


def test_terms_are_the_features_and_windows_the_conditions_read():
    specs = load_specs(STRATEGY_DIR, feature_columns())
    cross = specs["sma_cross"]
    assert list(indicator_terms(cross, resolve_params(cross, {}), frozenset())) == ["sma(close, 10)", "sma(close, 30)"]
    assert list(indicator_terms(cross, resolve_params(cross, {"fast": 5}), frozenset())) == ["sma(close, 5)", "sma(close, 30)"]
    donchian = specs["donchian_atr_breakout"]
    # lag() is looked through (the channel itself is drawn); parameters and OHLCV columns are not indicators
    assert list(indicator_terms(donchian, resolve_params(donchian, {}), feature_columns())) == [
        "donchian_high_20", "natr_14", "donchian_mid_20", "donchian_low_20"]
    macd = specs["macd_momentum"]
    assert list(indicator_terms(macd, resolve_params(macd, {}), feature_columns())) == ["macd_hist", "adx_14"]
    long_only = spec_from_dict({"name": "x", "timeframe": "1h", "side": "long",
                                "entry_long": "highest(high, 5) < close", "entry_short": "rsi_14 > 70"},
                               feature_columns())
    assert list(indicator_terms(long_only, {}, feature_columns())) == ["highest(high, 5)"]  # short side disabled


def test_price_levels_share_the_price_axis_and_oscillators_do_not():
    price = price_scale_features()
    assert {"sma_10", "ema_12", "donchian_mid_20", "bb_upper_20"} <= price and not {"rsi_14", "natr_14"} & price
    axis = lambda text: on_price_axis(expr.parse(text), price)  # noqa: E731
    assert axis("sma(close, 10)") and axis("highest(high, 20)") and axis("lag(ema_12, 1)") and axis("donchian_low_20")
    assert not axis("rsi_14") and not axis("stddev(close, 20)") and not axis("sma(volume, 20)")
    assert not axis("natr_14") and not axis("close - sma(close, 5)")


def _bars() -> pd.DataFrame:
    """Two symbols of 1h bars: a low-priced one near 50 (where RSI values look like prices) and a big one."""
    rng = np.random.default_rng(3)
    out = []
    for symbol, level in (("AAA", 50.0), ("BBB", 30_000.0)):
        close = level * np.exp(np.cumsum(rng.normal(0, 0.01, 80)))
        out.append(pd.DataFrame({"symbol": symbol, "timeframe": "1h", "bar_at_ms": np.arange(80, dtype=np.int64) * 3_600_000,
                                 "open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0,
                                 "rsi_14": rng.uniform(30, 70, 80)}))
    return pd.concat(out, ignore_index=True)


def test_values_are_the_compiled_sql_per_symbol_and_match_pandas():
    bars = _bars()
    spec = spec_from_dict({"name": "x", "timeframe": "1h", "side": "long", "params": {"n": {"default": 7, "min": 2, "max": 50}},
                           "entry_long": "close > sma(close, n) and rsi_14 < 40 and close > lag(highest(high, 5), 1)"},
                          frozenset({"rsi_14"}))
    params = resolve_params(spec, {})
    terms = indicator_terms(spec, params, frozenset({"rsi_14"}))
    assert list(terms) == ["sma(close, 7)", "rsi_14", "highest(high, 5)"]
    with duckdb.connect() as con:
        con.register("bars", bars)
        got = indicator_frame(con, "bars", terms, params, frozenset({"rsi_14"}), "1h", ["AAA", "BBB"])
    assert list(got.columns) == ["symbol", "bar_at_ms", *terms] and len(got) == len(bars)
    for symbol, g in bars.groupby("symbol"):
        mine = got[got["symbol"] == symbol].reset_index(drop=True)
        want = g.reset_index(drop=True)
        # windows never reach across symbols: the first 6 bars of each have no 7-bar mean
        np.testing.assert_allclose(mine["sma(close, 7)"], want["close"].rolling(7).mean(), rtol=1e-12)
        np.testing.assert_allclose(mine["highest(high, 5)"], want["high"].rolling(5).max(), rtol=0)
        np.testing.assert_array_equal(mine["rsi_14"], want["rsi_14"])


def test_chart_puts_levels_on_price_and_each_oscillator_in_its_own_panel():
    bars = _bars()
    bars = bars[bars["symbol"] == "AAA"]
    eq = bars[["bar_at_ms", "open", "close"]].assign(backtest_id="b1", equity=10_000.0)
    trades = pd.DataFrame(columns=["backtest_id", "entry_at_ms", "exit_at_ms", "entry_price", "exit_price", "side",
                                   "exit_reason", "trade_no", "return_pct", "pnl"])
    result = {"backtest_id": "b1", "window_kind": "full", "strategy_id": "x", "symbol": "AAA", "timeframe": "1h",
              "total_return": 0.0, "buy_and_hold_return": 0.0, "max_drawdown": 0.0, "trade_count": 0,
              "initial_equity": 10_000.0}
    ind = bars[["symbol", "bar_at_ms"]].assign(**{"sma(close, 7)": bars["close"].rolling(7).mean(), "rsi_14": bars["rsi_14"]})
    page = chart_html(RunData("r1", [result], trades, eq), ind, ("sma(close, 7)",))
    assert '"name":"ind_sma_close_7"' in page and '"name":"ind_rsi_14"' in page
    # the RSI gets a figure of its own, labelled with its name; the SMA shares the price figure's legend
    assert page.count('"axis_label":"rsi_14"') == 1 and '"axis_label":"sma(close, 7)"' not in page
    assert '"label":{"type":"value","value":"sma(close, 7)"}' in page


@pytest.mark.parametrize("name", ["sma_cross", "donchian_atr_breakout", "rsi_bollinger_reversion", "vwap_reversion",
                                  "rsi_reversion", "bollinger_reversion", "williams_r_reversion", "cci_reversion",
                                  "stochastic_reversal", "short_term_reversal", "macd_signal_cross", "aroon_trend"])
def test_every_shipped_spec_compiles_its_indicators(name):
    spec = load_spec(STRATEGY_DIR / f"{name}.yaml", feature_columns())
    params = resolve_params(spec, {})
    terms = indicator_terms(spec, params, feature_columns())
    assert terms
    compiler = expr.SignalCompiler(feature_columns() | {"open", "high", "low", "close", "volume"})
    for node in terms.values():
        compiler.compile(node, params)
