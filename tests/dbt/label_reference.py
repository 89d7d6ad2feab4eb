"""An independent reference for labels_h12 (numpy, one loop per bar) and the awkward 1m candles it is
checked on: missing bars and holes, flat runs longer than sigma_h's 100 returns, prices near 1e-8, a
100x trend, a wipe-out to a billionth, a symbol listed mid-history whose data ends mid-day.

The horizon is 12 rows of the (symbol, timeframe) series, as the model documents: across missing bars
a label reaches further than 12 bar lengths, and label_known_at_ms says how far.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY0_MS = 1741564800000  # 2025-03-10 00:00 UTC
MINUTE_MS = 60_000
H = 12
LABEL_COLUMNS = ["label_known_at_ms", "sigma_h", "baseline_vol_12", "fwd_return_12", "fwd_direction_12",
                 "fwd_momentum_class_12", "fwd_realized_vol_12", "fwd_mae_12", "fwd_adverse_12"]
EXACT = {"label_known_at_ms", "fwd_direction_12", "fwd_momentum_class_12", "fwd_adverse_12"}


def _candles(close: np.ndarray, rng: np.random.Generator, spread: float, first_minute: int = 0) -> pd.DataFrame:
    """1m OHLCV candles around a close path (open = previous close, wicks of about spread x price)."""
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, spread, (2, len(close)))) * close
    frame = pd.DataFrame({"bar_at_ms": DAY0_MS + MINUTE_MS * (first_minute + np.arange(len(close), dtype=np.int64)),
                          "open": open_, "high": np.maximum(open_, close) + wick[0],
                          "low": np.minimum(open_, close) - wick[1], "close": close,
                          "volume": rng.uniform(1, 10, len(close)).round(3), "source": "edge"})
    return frame.assign(volume_quote=frame["volume"] * frame["close"])


def _flatten(frame: pd.DataFrame, start: int, length: int) -> None:
    """Rows start .. start+length-1 flat (open = high = low = close) at the previous close."""
    frame.loc[start:start + length - 1, ["open", "high", "low", "close"]] = frame.loc[start - 1, "close"]
    frame["volume_quote"] = frame["volume"] * frame["close"]


def awkward_candles(days: int = 2) -> dict[str, pd.DataFrame]:
    """{symbol: 1m candles} over `days` days from DAY0_MS (deterministic)."""
    n = days * 1440
    rng = np.random.default_rng(5)

    def walk(start: float, sd: float, length: int = n) -> np.ndarray:
        return start * np.exp(np.cumsum(rng.normal(0, sd, length)))

    minute = np.arange(n)
    keep = (rng.random(n) > 0.2) & ~((minute >= 700) & (minute < 900)) & ~((minute >= 1430) & (minute < 1450))
    gaps = _candles(np.round(walk(60.0, 0.0015), 3), rng, 0.0008)[keep].reset_index(drop=True)
    flat = _candles(np.round(walk(30.0, 0.002), 2), rng, 0.001)
    for start, length in [(300, 250), (1000, 130), (1380, 120), (n - 40, 40)]:
        _flatten(flat, start, length)
    wipe = walk(100.0, 0.002)
    wipe[1500:1530] = wipe[1499] * np.geomspace(1, 1e-8, 30)
    wipe[1530:] = wipe[1529] * np.exp(np.cumsum(rng.normal(0, 0.01, n - 1530)))
    listed, ends = 797, n - 377  # listed at 13:17 on the first day, data ends at 17:43 on the last
    return {
        "GAPS-USDT": gaps,
        "FLAT-USDT": flat,
        "TINY-USDT": _candles(walk(3e-8, 0.003), rng, 0.002),
        "TREND-USDT": _candles(np.exp(np.linspace(0, np.log(100), n) + np.cumsum(rng.normal(0, 0.002, n))), rng, 0.001),
        "WIPE-USDT": _candles(wipe, rng, 0.001),
        "LATE-USDT": _candles(walk(5.0, 0.002, ends - listed), rng, 0.001, first_minute=listed),
    }


def series_labels(timeframe_ms: int, bar_at_ms: np.ndarray, low: np.ndarray, close: np.ndarray) -> dict[str, np.ndarray]:
    """Every label column of one series in time order, from the yml's definitions, bar by bar."""
    n = len(close)
    r = np.r_[np.nan, np.log(close[1:] / close[:-1])]
    out = {c: np.full(n, np.nan) for c in LABEL_COLUMNS}
    for i in range(n):
        if i >= 100:
            out["sigma_h"][i] = np.std(r[i - 99:i + 1], ddof=1) * np.sqrt(H)
        if i >= H:
            out["baseline_vol_12"][i] = np.sqrt(np.mean(r[i - H + 1:i + 1] ** 2))
        if i + H >= n:
            continue
        ahead, lowest, sigma = close[i + H], low[i + 1:i + H + 1].min(), out["sigma_h"][i]
        out["label_known_at_ms"][i] = bar_at_ms[i + H] + timeframe_ms
        out["fwd_return_12"][i] = ahead / close[i] - 1
        out["fwd_direction_12"][i] = float(ahead > close[i])
        out["fwd_realized_vol_12"][i] = np.sqrt(np.mean(r[i + 1:i + H + 1] ** 2))
        out["fwd_mae_12"][i] = lowest / close[i] - 1
        if not np.isnan(sigma):
            move = np.log(ahead / close[i])
            out["fwd_momentum_class_12"][i] = 2 if move > 0.5 * sigma else 0 if move < -0.5 * sigma else 1
            out["fwd_adverse_12"][i] = float(np.log(lowest / close[i]) < -sigma)  # falls beyond: strictly
    return out


def reference_labels(bars: pd.DataFrame) -> pd.DataFrame:
    """labels_h12 recomputed from bars (symbol, timeframe, timeframe_ms, bar_at_ms, low, close)."""
    parts = []
    for _, g in bars.sort_values(["symbol", "timeframe", "bar_at_ms"]).groupby(["symbol", "timeframe"], sort=False):
        cols = series_labels(int(g["timeframe_ms"].iloc[0]), g["bar_at_ms"].to_numpy(np.int64),
                             g["low"].to_numpy(float), g["close"].to_numpy(float))
        parts.append(g[["symbol", "timeframe", "bar_at_ms"]].reset_index(drop=True).assign(**cols))
    return pd.concat(parts, ignore_index=True)


def differences(got: pd.DataFrame, want: pd.DataFrame, rtol: float = 1e-12) -> dict[str, pd.DataFrame]:
    """{column: rows where got and want differ}: NULL against a value, a class or time not equal, a value
    beyond rtol."""
    m = got.merge(want, on=["symbol", "timeframe", "bar_at_ms"], how="outer", suffixes=("", "_ref"), indicator=True)
    out = {"rows": m[m["_merge"] != "both"]} if (m["_merge"] != "both").any() else {}
    for col in LABEL_COLUMNS:
        a, b = m[col].to_numpy(float, na_value=np.nan), m[col + "_ref"].to_numpy(float, na_value=np.nan)
        same = (a == b) if col in EXACT else np.isclose(a, b, rtol=rtol, atol=0)
        bad = ~(same | (np.isnan(a) & np.isnan(b)))
        if bad.any():
            out[col] = m.loc[bad, ["symbol", "timeframe", "bar_at_ms", col, col + "_ref"]]
    return out
