"""Fill assumptions of the engine: the price at which a signal order decided at the close of bar t-1
fills on bar t (entries, signal exits and reversals; stops, targets, liquidations and the end-of-data
close keep their own prices). Each mode gives a buy price and a sell price per bar t:

- next_open (the default, the engine's rule): buy = sell = open[t].
- signal_close: buy = sell = close[t-1], the signal bar's own close (optimistic: no delay).
- worst: buy = high[t], sell = low[t], the worst price of the fill bar's range (pessimistic).
- spread: buy = open[t] x (1 + s[t]), sell = open[t] x (1 - s[t]) with the half spread plus slippage
  s[t] = SPREAD_RANGE_FRACTION x (high[t-1] - low[t-1]) / close[t-1]: a fraction of the signal bar's
  range, a volatility-scaled estimate known when the order is sent (no lookahead). Hook: a recorded
  book spread replaces the estimate by passing `spread` (half the quoted spread over the mid at the
  signal bar's close, as a fraction; NaN where unknown falls back to the estimate).

The taker fee and Costs.slippage_bps still apply on top of every mode, as in the default.
"""

from __future__ import annotations

import numpy as np

FILL_MODES = ("next_open", "signal_close", "worst", "spread")
DEFAULT_FILL = "next_open"
STRICT_FILLS = ("worst", "spread")  # an edge that vanishes under these is flagged
SPREAD_RANGE_FRACTION = 0.1


def range_spread(high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 fraction: float = SPREAD_RANGE_FRACTION) -> np.ndarray:
    """s[t] = fraction x (high[t-1] - low[t-1]) / close[t-1]; 0 for the first bar and where undefined."""
    h, lo, c = (np.asarray(a, dtype=np.float64) for a in (high, low, close))
    with np.errstate(divide="ignore", invalid="ignore"):
        prev = fraction * (h[:-1] - lo[:-1]) / c[:-1]
    s = np.r_[0.0, prev] if len(h) else np.zeros(0)
    return np.where(np.isfinite(s) & (s > 0), s, 0.0)


def fill_prices(mode: str, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
                spread: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(buy price, sell price) per bar for a signal order filling on that bar under `mode`."""
    if mode == "next_open":
        return o, o
    if mode == "signal_close":
        prev = np.ascontiguousarray(np.r_[o[:1], c[:-1]], dtype=np.float64)
        return prev, prev
    if mode == "worst":
        return h, lo
    if mode == "spread":
        s = range_spread(h, lo, c)
        if spread is not None:
            book = np.asarray(spread, dtype=np.float64)
            if book.shape != s.shape:
                raise ValueError(f"spread has {book.shape[0]} values for {s.shape[0]} bars")
            s = np.where(np.isnan(book), s, book)
        return np.ascontiguousarray(o * (1.0 + s)), np.ascontiguousarray(o * (1.0 - s))
    raise ValueError(f"unknown fill mode {mode!r}: use one of {', '.join(FILL_MODES)}")
