"""A window whose prices differ only by float rounding is a flat window: willr_14, stoch_k_14 / stoch_d_3,
close_zscore_20 and bb_pctb_20 give it their flat-window value (0, 0, NULL, NULL), as TA-Lib 0.8 does for
WILLR and STOCH. A genuine tiny move (a pair priced 1e-8 moving 1e-9 of its price) still has its value.

Closes alternating between 0.3 and 0.1 + 0.2 (one ulp apart) made willr -100, stoch 100, a z-score of
+-2 and %b 0: full-scale readings of rounding noise.
"""

from __future__ import annotations

from datetime import datetime, timezone
from fractions import Fraction
from math import sqrt

import duckdb
import numpy as np
import pandas as pd
import pytest
import talib
from conftest import run_dbt

from python_assets.config import Paths
from python_assets.lake.store import write_candles

START_MS = int(datetime(2025, 3, 10, tzinfo=timezone.utc).timestamp() * 1000)
BARS = 200
COLUMNS = ["high", "low", "close", "willr_14", "stoch_k_14", "stoch_d_3", "close_zscore_20", "bb_pctb_20"]


def _candles(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> pd.DataFrame:
    """1m candles from START_MS: open = previous close."""
    return pd.DataFrame({"bar_at_ms": START_MS + 60_000 * np.arange(len(close), dtype=np.int64),
                         "open": np.r_[close[0], close[:-1]], "high": high, "low": low, "close": close,
                         "volume": np.ones(len(close)), "source": "test"})


def ulp_apart(rng: np.random.Generator) -> pd.DataFrame:
    """Closes 0.3 or 0.1 + 0.2 at random; high and low are the bar's open and close."""
    close = np.where(rng.random(BARS) < 0.5, 0.3, 0.1 + 0.2)
    assert 0.1 + 0.2 == np.nextafter(0.3, 1.0)
    open_ = np.r_[close[0], close[:-1]]
    return _candles(close, np.maximum(open_, close), np.minimum(open_, close))


def tiny_moves(rng: np.random.Generator) -> pd.DataFrame:
    """A pair priced 1e-8 whose closes walk by ~1e-9 of the price, wicks ~1e-9 wide."""
    close = 1e-8 * np.exp(np.cumsum(rng.normal(0, 1e-9, BARS)))
    open_ = np.r_[close[0], close[:-1]]
    wick = rng.uniform(0, 1e-9, (2, BARS))
    return _candles(close, np.maximum(open_, close) * (1 + wick[0]), np.minimum(open_, close) * (1 - wick[1]))


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """{symbol: its 1m bars with the four features}, one dbt run over both pairs."""
    paths = Paths(tmp_path_factory.mktemp("rounding") / "data")
    rng = np.random.default_rng(7)
    write_candles(paths, "ULP-USDT", "1m", ulp_apart(rng))
    write_candles(paths, "TINY-USDT", "1m", tiny_moves(rng))
    run_dbt(paths, "run", "--select", "+feat_technical", "+feat_price", "+feat_volatility")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        frame = con.sql(f"""
            select b.symbol, {', '.join(('b.' if c in ('high', 'low', 'close') else '') + c for c in COLUMNS)}
            from int_bars_unioned b
            join feat_technical using (symbol, timeframe, bar_at_ms)
            join feat_price using (symbol, timeframe, bar_at_ms)
            join feat_volatility using (symbol, timeframe, bar_at_ms)
            where b.timeframe = '1m' order by b.symbol, b.bar_at_ms""").df()
    return {s: g.reset_index(drop=True) for s, g in frame.groupby("symbol")}


def _exact_zscore_and_pctb(close: np.ndarray, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(close - mean) / sd and %b over n closes, mean and variance in exact rational arithmetic."""
    z, pctb = np.full(len(close), np.nan), np.full(len(close), np.nan)
    for i in range(n - 1, len(close)):
        window = [Fraction(x) for x in close[i - n + 1 : i + 1]]
        mean = sum(window) / n
        sd = sqrt(sum((x - mean) ** 2 for x in window) / n)
        z[i] = float(Fraction(close[i]) - mean) / sd
        pctb[i] = (z[i] + 2) / 4
    return z, pctb


def test_prices_one_ulp_apart_give_the_flat_window_values(series):
    g = series["ULP-USDT"]
    h, lo, c = (g[k].to_numpy(float) for k in ("high", "low", "close"))
    assert len(g) == BARS and (h > lo).sum() > 50  # the windows below do hold two prices
    k, d = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    assert (talib.WILLR(h, lo, c, 14)[13:] == 0).all() and (k[17:] == 0).all() and (d[17:] == 0).all()
    flat = {"willr_14": (g["willr_14"][13:] == 0).all(), "stoch_k_14": (g["stoch_k_14"][17:] == 0).all(),
            "stoch_d_3": (g["stoch_d_3"][17:] == 0).all(), "close_zscore_20": g["close_zscore_20"].isna().all(),
            "bb_pctb_20": g["bb_pctb_20"].isna().all()}
    assert all(flat.values()), f"not the flat-window value: {[name for name, ok in flat.items() if not ok]}"


def test_a_tiny_genuine_move_keeps_its_value(series):
    """Relative moves of 1e-9 are far above rounding: TA-Lib's WILLR and STOCH, exact z-score and %b."""
    g = series["TINY-USDT"]
    h, lo, c = (g[k].to_numpy(float) for k in ("high", "low", "close"))
    k, d = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    z, pctb = _exact_zscore_and_pctb(c)
    for name, want in [("willr_14", talib.WILLR(h, lo, c, 14)), ("stoch_k_14", k), ("stoch_d_3", d),
                       ("close_zscore_20", z), ("bb_pctb_20", pctb)]:
        got = g[name].to_numpy(float)
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
        assert np.isfinite(got).sum() >= BARS - 20, name
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=name)
