"""recursive.py resumed from carried states, cut anywhere (warm-ups included), equals one pass bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from python_assets.features.recursive import FEATURE_COLUMNS, KELTNER_MIN_WIDTH, STATE_FIELDS, recursive_columns, series_features
from python_assets.platform.timeframes import DAY_MS, MINUTE_MS


def bars(n: int, symbol: str, bars_per_day: int, seed: int) -> dict[str, np.ndarray]:
    """n bars of a random walk with a flat run (zero range, unchanged close) in the middle."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    high, low = close * (1 + np.abs(rng.normal(0, 0.001, n))), close * (1 - np.abs(rng.normal(0, 0.001, n)))
    flat = slice(n // 3, n // 3 + 60)
    close[flat] = high[flat] = low[flat] = close[n // 3]
    step = DAY_MS // bars_per_day
    return {"symbol": np.array([symbol] * n, dtype=object), "timeframe": np.array(["1m"] * n, dtype=object),
            "bar_at_ms": np.arange(n, dtype=np.int64) * step, "high": high, "low": low, "close": close,
            "volume": rng.lognormal(0, 1, n)}


def join(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def bits(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), np.nan, x).view(np.int64)


def day_by_day(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each UTC day's rows in its own call, continued from the resume_state the previous calls left."""
    day = columns["bar_at_ms"] // DAY_MS
    carried, out = {}, {name: np.full(len(day), np.nan) for name in FEATURE_COLUMNS}
    for d in np.unique(day):
        rows = np.flatnonzero(day == d)
        part = recursive_columns({k: v[rows] for k, v in columns.items()}, carried)
        for name in FEATURE_COLUMNS:
            out[name][rows] = part[name]
        for row, state in zip(part["resume_rows"], part["resume_state"]):
            carried[(part["symbol"][row], part["timeframe"][row])] = state
    return out


@pytest.mark.parametrize("bars_per_day", [1, 5, 7, 300])
def test_resuming_every_day_equals_one_pass(bars_per_day):
    """Days of 1, 5 and 7 bars cut every warm-up (EMA50, ADX's 27 bars, MACD's seed at bar 25) into pieces."""
    columns = join(bars(900, "A", bars_per_day, 1), bars(400, "B", bars_per_day, 2))
    one_pass, pieces = recursive_columns(columns), day_by_day(columns)
    assert np.isfinite(one_pass["adx_14"]).sum() > 1000
    for name in FEATURE_COLUMNS:
        assert np.array_equal(bits(pieces[name]), bits(one_pass[name])), name


def test_a_series_resumed_after_a_gap_and_one_starting_later_match_one_pass():
    a, b = bars(600, "A", 100, 3), bars(300, "B", 100, 4)
    a["bar_at_ms"][300:] += 5 * DAY_MS  # five days without bars in the middle of A
    b["bar_at_ms"] += 4 * DAY_MS + 7 * MINUTE_MS  # B starts on A's fifth day
    columns = join(a, b)
    one_pass, pieces = recursive_columns(columns), day_by_day(columns)
    for name in FEATURE_COLUMNS:
        assert np.array_equal(bits(pieces[name]), bits(one_pass[name])), name


def test_resume_state_is_on_each_series_last_bar_of_a_day():
    columns = join(bars(50, "A", 20, 5), bars(30, "B", 20, 6))
    out = recursive_columns(columns)
    assert out["resume_rows"].tolist() == [19, 39, 49, 69, 79]
    assert out["resume_state"].shape == (5, len(STATE_FIELDS))
    assert out["resume_state"][2, STATE_FIELDS.index("bars")] == 50
    assert out["resume_state"][3, STATE_FIELDS.index("prev_close")] == columns["close"][69]


def test_one_pass_matches_talib():
    """Independent reference: TA-Lib itself (bit for bit where its arithmetic is reproduced)."""
    c = bars(700, "A", 300, 7)
    out = recursive_columns(c)
    h, lo, cl, v = c["high"], c["low"], c["close"], c["volume"]
    exact = {"ema_26": talib.EMA(cl, 26), "macd_12_26": talib.MACD(cl)[0], "adx_14": talib.ADX(h, lo, cl, 14),
             "obv": talib.OBV(cl, v), "ad_line": talib.AD(h, lo, cl, v), "trix_15": talib.TRIX(cl, 15)}
    for name, want in exact.items():
        assert np.array_equal(bits(out[name]), bits(want)), name
    for name, want in {"rsi_14": talib.RSI(cl, 14), "atr_14": talib.ATR(h, lo, cl, 14)}.items():
        assert np.array_equal(np.isnan(out[name]), np.isnan(want))
        np.testing.assert_allclose(out[name], want, rtol=1e-12, err_msg=name)


def test_keltner_position_is_null_once_a_flat_run_closes_the_channel():
    """On a flat run ATR10 decays by 0.9 a bar while EMA20 stalls a few ulp off the close, so the position was
    that rounding noise over a vanishing width (1e46 after a long run, found by an independent check). Below
    KELTNER_MIN_WIDTH of the close it is NULL; while the channel is wider it is TA-Lib's inputs' ratio."""
    n_move, n_flat = 300, 3000
    rng = np.random.default_rng(3)
    close = np.round(np.exp(np.cumsum(rng.normal(0, 0.002, n_move))), 4)
    close = np.r_[close, np.full(n_flat, close[-1])]
    high, low = close.copy(), close.copy()
    high[:n_move] += 0.0005
    low[:n_move] -= 0.0005
    keltner = series_features(high, low, close, np.ones_like(close))[0]["keltner_pos_20"]
    ema20, atr10 = talib.EMA(close, 20), talib.ATR(high, low, close, 10)
    wide = atr10 > KELTNER_MIN_WIDTH * close
    assert wide[n_move] and not wide[-1]  # the channel closes within the flat run
    assert np.array_equal(np.isnan(keltner[20:]), ~wide[20:])
    assert np.nanmax(np.abs(keltner)) < 5
    np.testing.assert_allclose(keltner[20:][wide[20:]], ((close - ema20) / (2 * atr10))[20:][wide[20:]], rtol=1e-6, atol=1e-9)
