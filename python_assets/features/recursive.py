"""Recursive indicators (EMA family, Wilder smoothing, cumulative lines) exactly as TA-Lib seeds them.

SQL window frames cannot carry state from one row to the next, so these ~25% of the features are
computed here with first-order recursions (compiled loops: C speed, TA-Lib's update statements and
in-order seed sums) and run as the dbt Python model feat_recursive. The EMA family, MACD line,
DI/ADX, TRIX, OBV and AD match TA-Lib 0.8 bit for bit; its Wilder average (ATR, RSI) to ~1e-14
relative. Each function takes numpy arrays of one (symbol, timeframe) series in time order and
returns NaN during the warm-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

if TYPE_CHECKING:
    import pandas as pd

FEATURE_COLUMNS = (
    "ema_12", "ema_26", "ema_50", "dema_20", "tema_20", "macd_12_26", "macd_signal_9", "macd_hist",
    "rsi_14", "atr_14", "natr_14", "adx_14", "plus_di_14", "minus_di_14", "trix_15", "keltner_pos_20",
    "obv", "ad_line",
)


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


# TA-Lib's own update statements, one compiled loop each (numba: no scipy import). The arithmetic is
# theirs, not an equivalent form: k * x + (1 - k) * y rounds differently from (x - y) * k + y, and
# ratios of quantities that decay together (Keltner position in a run of flat bars) amplify that
# last-bit difference past 1e-6.
@njit(cache=True)
def _ema_steps(x: np.ndarray, out: np.ndarray, start: int, k: float) -> None:
    """out[t] = (x[t] - out[t-1]) * k + out[t-1] for t > start, in place (ta_EMA.c)."""
    y = out[start]
    for t in range(start + 1, len(x)):
        y = (x[t] - y) * k + y
        out[t] = y


@njit(cache=True)
def _wilder_average_steps(x: np.ndarray, out: np.ndarray, start: int, n: int) -> None:
    """out[t] = (out[t-1] * (n - 1) + x[t]) / n for t > start, in place (ta_ATR.c, ta_RSI.c)."""
    y = out[start]
    for t in range(start + 1, len(x)):
        y = (y * (n - 1) + x[t]) / n
        out[t] = y


@njit(cache=True)
def _wilder_sum_steps(x: np.ndarray, out: np.ndarray, start: int, n: int) -> None:
    """out[t] = out[t-1] - out[t-1] / n + x[t] for t > start, in place (DM and TR sums of ta_ADX.c)."""
    y = out[start]
    for t in range(start + 1, len(x)):
        y = y - y / n + x[t]
        out[t] = y


@njit(cache=True)
def _adx_steps(dx: np.ndarray, out: np.ndarray, start: int, n: int) -> None:
    """out[t] = (out[t-1] * (n - 1) + dx[t]) / n, or out[t-1] where dx[t] is undefined (ta_ADX.c)."""
    y = out[start]
    for t in range(start + 1, len(dx)):
        if not np.isnan(dx[t]):
            y = (y * (n - 1) + dx[t]) / n
        out[t] = y


@njit(cache=True)
def _sum_in_order(x: np.ndarray) -> float:
    """Sum from 0.0 in input order, as TA-Lib seeds its averages (numpy's sum is pairwise)."""
    total = 0.0
    for v in x:
        total += v
    return total


def _run_from(x: np.ndarray, start: int, seed: float, steps: Callable[..., None], param: float) -> np.ndarray:
    """NaN before start, seed at start, then steps(x, out, start, param) for the rest."""
    out = _nan(len(x))
    if start >= len(x):
        return out
    out[start] = seed
    steps(np.ascontiguousarray(x, dtype=np.float64), out, start, param)
    return out


def ema_seeded_at(x: np.ndarray, n: int, seed_index: int) -> np.ndarray:
    """EMA with k = 2/(n+1) whose first value, at seed_index, is the SMA of the n values ending there."""
    if seed_index >= len(x) or seed_index - n + 1 < 0:
        return _nan(len(x))
    seed = _sum_in_order(x[seed_index - n + 1 : seed_index + 1]) / n
    return _run_from(x, seed_index, seed, _ema_steps, 2.0 / (n + 1.0))


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """TA-Lib EMA: seeded with the SMA of the first n non-NaN values (input may start with NaNs)."""
    valid = np.flatnonzero(~np.isnan(x))
    if len(valid) == 0:
        return _nan(len(x))
    return ema_seeded_at(x, n, int(valid[0]) + n - 1)


def dema(x: np.ndarray, n: int) -> np.ndarray:
    e1 = ema(x, n)
    return 2 * e1 - ema(e1, n)


def tema(x: np.ndarray, n: int) -> np.ndarray:
    e1 = ema(x, n)
    e2 = ema(e1, n)
    return 3 * e1 - 3 * e2 + ema(e2, n)


def macd(x: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib MACD: both EMAs start at index slow-1 (the fast one seeded on its last `fast` values)."""
    line = ema_seeded_at(x, fast, slow - 1) - ema_seeded_at(x, slow, slow - 1)
    sig = ema(line, signal)
    line = np.where(np.isnan(sig), np.nan, line)
    return line, sig, line - sig


def wilder_average(x: np.ndarray, n: int, first: int) -> np.ndarray:
    """Wilder's average of x[first:]: SMA of its first n values, then avg = (avg*(n-1) + x) / n."""
    start = first + n - 1
    if start >= len(x):
        return _nan(len(x))
    seed = _sum_in_order(x[first : start + 1]) / n
    return _run_from(x, start, seed, _wilder_average_steps, n)


def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    change = np.diff(close, prepend=np.nan)
    gain = wilder_average(np.where(change > 0, change, 0.0), n, 1)
    loss = wilder_average(np.where(change < 0, -change, 0.0), n, 1)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 100.0 * (gain / total), np.where(np.isnan(total), np.nan, 0.0))


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """TA-Lib TRANGE: NaN on the first bar (no previous close)."""
    prev = np.roll(close, 1)
    tr = np.maximum.reduce([high - low, np.abs(high - prev), np.abs(low - prev)])
    tr[:1] = np.nan
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    return wilder_average(true_range(high, low, close), n, 1)


def _wilder_sum(x: np.ndarray, n: int) -> np.ndarray:
    """TA-Lib's DM/TR smoothing: sum of x[1..n-1], then s = s - s/n + x from index n on."""
    if n >= len(x):
        return _nan(len(x))
    out = _run_from(x, n - 1, _sum_in_order(x[1:n]), _wilder_sum_steps, n)
    out[n - 1] = np.nan
    return out


def directional(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib PLUS_DI, MINUS_DI and ADX (first DI at index n, first ADX at 2n-1)."""
    up = np.diff(high, prepend=np.nan)
    down = -np.diff(low, prepend=np.nan)
    plus_dm = np.where((up > 0) & (up > down), up, 0.0)
    minus_dm = np.where((down > 0) & (down > up), down, 0.0)
    tr = true_range(high, low, close)
    s_tr, s_plus, s_minus = _wilder_sum(tr, n), _wilder_sum(plus_dm, n), _wilder_sum(minus_dm, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        plus_di = np.where(s_tr > 0, 100.0 * (s_plus / s_tr), np.where(np.isnan(s_tr), np.nan, 0.0))
        minus_di = np.where(s_tr > 0, 100.0 * (s_minus / s_tr), np.where(np.isnan(s_tr), np.nan, 0.0))
        di_sum = minus_di + plus_di
        dx = np.where(di_sum > 0, 100.0 * (np.abs(minus_di - plus_di) / di_sum), np.nan)
    first = 2 * n - 1  # TA-Lib keeps the previous ADX where DX is undefined (no range, no movement)
    if first >= len(close):
        return plus_di, minus_di, _nan(len(close))
    initial = dx[n : first + 1]
    return plus_di, minus_di, _run_from(dx, first, _sum_in_order(initial[~np.isnan(initial)]) / n, _adx_steps, n)


def trix(x: np.ndarray, n: int = 15) -> np.ndarray:
    """TA-Lib TRIX: one-bar ROC of a triple EMA, ((e / e[-1]) - 1) * 100 (near 0 the form shows)."""
    e3 = ema(ema(ema(x, n), n), n)
    prev = np.roll(e3, 1)
    prev[:1] = np.nan
    return ((e3 / prev) - 1.0) * 100.0


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """TA-Lib OBV: starts at the first volume, then adds/subtracts volume on up/down closes."""
    step = np.sign(np.diff(close, prepend=close[:1])) * volume
    step[:1] = volume[:1]
    return np.cumsum(step)


def ad_line(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """TA-Lib AD: cumulative ((close-low) - (high-close)) / (high-low) * volume; flat bars add 0."""
    rng = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        mfv = np.where(rng > 0, ((close - low) - (high - close)) / rng * volume, 0.0)
    return np.cumsum(mfv)


def series_features(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> dict[str, np.ndarray]:
    """All recursive features of one series, keyed by column name (see FEATURE_COLUMNS)."""
    line, sig, hist = macd(close)
    plus_di, minus_di, adx = directional(high, low, close, 14)
    atr14 = atr(high, low, close, 14)
    atr10 = atr(high, low, close, 10)
    middle = ema(close, 20)
    with np.errstate(invalid="ignore", divide="ignore"):
        keltner = np.where(atr10 > 0, (close - middle) / (2.0 * atr10), np.nan)
    out = {
        "ema_12": ema(close, 12), "ema_26": ema(close, 26), "ema_50": ema(close, 50),
        "dema_20": dema(close, 20), "tema_20": tema(close, 20),
        "macd_12_26": line, "macd_signal_9": sig, "macd_hist": hist,
        "rsi_14": rsi(close, 14), "atr_14": atr14, "natr_14": atr14 / close * 100.0,
        "adx_14": adx, "plus_di_14": plus_di, "minus_di_14": minus_di, "trix_15": trix(close, 15),
        "keltner_pos_20": np.where(np.isnan(middle), np.nan, keltner),
        "obv": obv(close, volume), "ad_line": ad_line(high, low, close, volume),
    }
    return {k: out[k] for k in FEATURE_COLUMNS}


def recursive_columns(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keys plus every recursive feature, from column arrays sorted by (symbol, timeframe, bar_at_ms):
    each series is the run of rows with one (symbol, timeframe)."""
    symbol, timeframe = np.asarray(columns["symbol"]), np.asarray(columns["timeframe"])
    n = len(symbol)
    cut = np.flatnonzero((symbol[1:] != symbol[:-1]) | (timeframe[1:] != timeframe[:-1])) + 1
    bounds = np.r_[0, cut, n] if n else np.zeros(1, dtype=np.int64)
    out = {name: np.full(n, np.nan) for name in FEATURE_COLUMNS}
    series = [np.asarray(columns[c], dtype=np.float64) for c in ("high", "low", "close", "volume")]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        for name, values in series_features(*(x[lo:hi] for x in series)).items():
            out[name][lo:hi] = values
    return {"symbol": symbol, "timeframe": timeframe, "bar_at_ms": np.asarray(columns["bar_at_ms"]), **out}


def recursive_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Per (symbol, timeframe) series in bar_at_ms order: keys plus every recursive feature."""
    import pandas as pd  # imported here: the dbt model (recursive_columns) runs without pandas, ~0.8 s

    ordered = bars.sort_values(["symbol", "timeframe", "bar_at_ms"], kind="stable")
    return pd.DataFrame(recursive_columns({c: ordered[c].to_numpy() for c in ordered.columns}))
