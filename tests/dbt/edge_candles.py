"""1m candles of the series a crypto warehouse meets, for the feature parity tests: a pair priced
~0.001-0.01 with volumes below 1, long runs of flat bars, missing bars, a price that trends 100x.

Deterministic (fixed seeds); prices sit on a tick grid and volumes on a lot grid, as exchange
candles do, so equal prices (flat bars, ties in rolling extremes) happen exactly.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd

DAY_START_MS = int(datetime(2025, 3, 10, tzinfo=timezone.utc).timestamp() * 1000)
MINUTES = 1440  # one UTC day of 1m bars per symbol


def _on_grid(x: np.ndarray, step: float) -> np.ndarray:
    """x rounded to a multiple of step (the exchange's price tick or size lot)."""
    return np.round(x / step) * step


def _candles(close: np.ndarray, rng: np.random.Generator, tick: float, spread: float, volume: np.ndarray) -> pd.DataFrame:
    """OHLCV around a close path: open = previous close, wicks of about spread x price."""
    close = _on_grid(close, tick)
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, spread, (2, len(close)))) * close
    high = _on_grid(np.maximum(open_, close) + wick[0], tick)
    low = _on_grid(np.minimum(open_, close) - wick[1], tick)
    return pd.DataFrame({
        "bar_at_ms": DAY_START_MS + 60_000 * np.arange(len(close), dtype=np.int64),
        "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "volume_quote": volume * (high + low + close) / 3, "source": "edge",
    })


def _walk(rng: np.random.Generator, start: float, sigma: float, n: int = MINUTES) -> np.ndarray:
    """Geometric random walk of n steps with log-step sd sigma, from start."""
    return start * np.exp(np.cumsum(rng.normal(0, sigma, n)))


def _flatten(frame: pd.DataFrame, start: int, length: int, tick: float, jump: float = 1.0) -> None:
    """Bars start .. start+length-1 become flat (open = high = low = close) at the previous close x jump."""
    level = _on_grid(np.array([frame.loc[start - 1, "close"] * jump]), tick)[0]
    frame.loc[start : start + length - 1, ["open", "high", "low", "close"]] = level
    frame["volume_quote"] = frame["volume"] * frame["close"]


def low_priced(rng: np.random.Generator) -> pd.DataFrame:
    """Price ~0.002 (tick 1e-6), volumes 0.001-0.9: money flows far below 1 per bar. A flat run of
    400 bars lets the Wilder averages (ATR, RSI, DI) decay to ~1e-18, where any absolute zero test
    would fire (TA-Lib 0.8 has none)."""
    close = np.clip(_walk(rng, 0.002, 0.004), 0.001, 0.01)
    frame = _candles(close, rng, 1e-6, 0.002, _on_grid(rng.uniform(0.001, 0.9, MINUTES), 1e-4))
    _flatten(frame, 700, 400, 1e-6)
    return frame


def flat_runs(rng: np.random.Generator) -> pd.DataFrame:
    """Price ~30 with runs of 40-200 flat bars (open = high = low = close, the last close) that
    outlast every window; some runs start at a new level (a jump, then nothing moves)."""
    frame = _candles(_walk(rng, 30.0, 0.002), rng, 0.01, 0.001, _on_grid(rng.uniform(0.5, 50, MINUTES), 0.01))
    for k, (start, length) in enumerate([(100, 60), (300, 200), (620, 40), (800, 150), (1100, 120)]):
        _flatten(frame, start, length, 0.01, 1.0 if k % 2 == 0 else 1.01)
    return frame


def with_gaps(rng: np.random.Generator) -> pd.DataFrame:
    """Price ~60 with a fifth of the minutes missing at random and two holes of several hours."""
    frame = _candles(_walk(rng, 60.0, 0.0015), rng, 0.001, 0.0008, _on_grid(rng.uniform(0.1, 20, MINUTES), 0.1))
    minute = np.arange(MINUTES)
    keep = (rng.random(MINUTES) > 0.2) & ~((minute >= 200) & (minute < 380)) & ~((minute >= 900) & (minute < 1150))
    return frame[keep].reset_index(drop=True)


def trending(rng: np.random.Generator) -> pd.DataFrame:
    """Price that trends from 1 to 100 over the day (tick 1e-4), with noise."""
    close = np.exp(np.linspace(0, np.log(100), MINUTES) + np.cumsum(rng.normal(0, 0.002, MINUTES)))
    return _candles(close, rng, 1e-4, 0.001, _on_grid(rng.uniform(1, 500, MINUTES), 0.01))


def edge_candles() -> dict[str, pd.DataFrame]:
    """{symbol: 1m candles} of every edge series."""
    makers = {"LOWP-USDT": low_priced, "FLAT-USDT": flat_runs, "GAPS-USDT": with_gaps, "TREND-USDT": trending}
    return {symbol: make(np.random.default_rng(seed)) for seed, (symbol, make) in enumerate(makers.items())}
