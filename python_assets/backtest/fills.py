"""Fill assumptions of the engine: the price at which a signal order decided at the close of bar t-1
fills on bar t (entries, signal exits and reversals; stops, targets, liquidations and the end-of-data
close keep their own prices). Each mode gives a buy price and a sell price per bar t:

- next_open (the default, the engine's rule): buy = sell = open[t].
- signal_close: buy = sell = close[t-1], the signal bar's own close (optimistic: no delay).
- worst: buy = high[t], sell = low[t], the worst price of the fill bar's range (pessimistic).
- spread: buy = open[t] x (1 + s[t]), sell = open[t] x (1 - s[t]) with the half spread plus slippage
  s[t] = SPREAD_RANGE_FRACTION x (high[t-1] - low[t-1]) / close[t-1]: a fraction of the signal bar's
  range, a volatility-scaled estimate known when the order is sent (no lookahead). A recorded book
  spread replaces the estimate by passing `spread` (half the quoted spread over the mid at the signal
  bar's close, as a fraction; NaN where unknown falls back to the estimate): `book_spread` builds it
  from the warehouse's feat_book (spread_bps / 2 / 10,000 of the last book stamped before bar t-1's close,
  used for the fill on bar t), and the daily fill stress (research/fill_stress.py) passes it wherever
  the live recorder wrote books.

Execution horizon: a market order sent at the close of bar t-1 fills within moments of bar t's open, not
anywhere in bar t, so on a research bar much longer than a minute the fill bar's whole range (worst) and a
fraction of the signal bar's whole range (spread) charge the bar's volatility, not execution: on the 30-day
synthetic demo's 1h bars the range estimate is a 13-21 bps half spread against the generator's 0.5 bps, and
worst gives up 64-107 bps a side. `execution_horizon` takes both from 1m bars instead: worst = the high
and low of the fill bar's first minute (`worst` of fill_prices), spread = the fraction of the range of the
signal bar's last minute, known when the order is sent (1.5-2.1 bps on that demo: still 3-4x the
generator's half spread, a conservative estimate). A missing minute (no trades) falls back to the bar.
Order of precedence for the spread fill's s[t]: the recorded book at the signal bar's close, else that
last minute's range estimate, else the signal bar's own.

The taker fee and Costs.slippage_bps still apply on top of every mode, as in the default.
"""

from __future__ import annotations

import numpy as np

from python_assets.platform.timeframes import MINUTE_MS

FILL_MODES = ("next_open", "signal_close", "worst", "spread")
DEFAULT_FILL = "next_open"
STRICT_FILLS = ("worst", "spread")  # an edge that vanishes under these is flagged
# Fills before the next bar opens (the signal bar's close): the engine does its orders ahead of that open's
# gap funding and liquidation check, and a stop or target the open gaps through on the entry bar fills at the open.
EARLY_FILL = "signal_close"
SPREAD_RANGE_FRACTION = 0.1


def range_spread(high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 fraction: float = SPREAD_RANGE_FRACTION) -> np.ndarray:
    """s[t] = fraction x (high[t-1] - low[t-1]) / close[t-1]; 0 for the first bar and where undefined."""
    h, lo, c = (np.asarray(a, dtype=np.float64) for a in (high, low, close))
    with np.errstate(divide="ignore", invalid="ignore"):
        prev = fraction * (h[:-1] - lo[:-1]) / c[:-1]
    s = np.r_[0.0, prev] if len(h) else np.zeros(0)
    return np.where(np.isfinite(s) & (s > 0), s, 0.0)


def execution_horizon(bar_ms: np.ndarray, minute_ms: np.ndarray, minute_high: np.ndarray, minute_low: np.ndarray,
                      minute_close: np.ndarray, fraction: float = SPREAD_RANGE_FRACTION
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(worst high, worst low, half spread) per research bar from 1m bars sorted by time: the high and low of
    the minute the bar opens with, and fraction x range / close of the minute before it (the signal bar's
    last); NaN where that minute has no bar or no range (one trade, or one price: an estimate of 0 made the
    strict fill free on thin symbols), which fill_prices reads as "use the research bar's own"."""
    bar_ms, minute_ms = np.asarray(bar_ms, dtype=np.int64), np.asarray(minute_ms, dtype=np.int64)
    mh, ml, mc = (np.asarray(a, dtype=np.float64) for a in (minute_high, minute_low, minute_close))
    with np.errstate(divide="ignore", invalid="ignore"):
        rng = fraction * (mh - ml) / mc
    rng = np.where(rng > 0, rng, np.nan)
    return (values_at(minute_ms, mh, bar_ms), values_at(minute_ms, ml, bar_ms),
            values_at(minute_ms, rng, bar_ms - MINUTE_MS))


def values_at(times: np.ndarray, values: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """values[i] where times[i] == ms (times sorted, int64), NaN where ms has no row: a bar's own row only."""
    i = np.clip(np.searchsorted(times, ms), 0, max(len(times) - 1, 0))
    hit = (times[i] == ms) if len(times) else np.zeros(len(ms), bool)
    return np.where(hit, values[i] if len(values) else np.nan, np.nan)


def book_spread(bar_ms: np.ndarray, book_bar_ms: np.ndarray, spread_bps: np.ndarray) -> np.ndarray:
    """s[t] = spread_bps / 2 / 10,000 of the book at the close of bar t-1 (the signal bar; book_bar_ms: the
    open times of the bars with a book, sorted, spread_bps theirs); NaN on the first bar, where the signal
    bar has no book and where its spread is not a number >= 0 (a crossed book): "use the estimate"."""
    bar_ms, book_bar_ms = np.asarray(bar_ms, dtype=np.int64), np.asarray(book_bar_ms, dtype=np.int64)
    half = values_at(book_bar_ms, np.asarray(spread_bps, dtype=np.float64) / 2e4, bar_ms)
    half = np.where(half >= 0, half, np.nan)
    return np.r_[np.nan, half[:-1]] if len(half) else half


def fill_prices(mode: str, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
                spread: np.ndarray | None = None,
                worst: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(buy price, sell price) per bar for a signal order filling on that bar under `mode`; worst: the
    (high, low) a worst fill takes instead of the bar's own (NaN: the bar's own), e.g. its first minute's."""
    if mode == "next_open":
        return o, o
    if mode == "signal_close":
        prev = np.ascontiguousarray(np.r_[o[:1], c[:-1]], dtype=np.float64)
        return prev, prev
    if mode == "worst":
        if worst is None:
            return h, lo
        wh, wl = (np.asarray(a, dtype=np.float64) for a in worst)
        if wh.shape != h.shape or wl.shape != h.shape:
            raise ValueError(f"worst has {wh.shape[0]} values for {h.shape[0]} bars")
        return np.ascontiguousarray(np.where(np.isnan(wh), h, wh)), np.ascontiguousarray(np.where(np.isnan(wl), lo, wl))
    if mode == "spread":
        s = range_spread(h, lo, c)
        if spread is not None:
            book = np.asarray(spread, dtype=np.float64)
            if book.shape != s.shape:
                raise ValueError(f"spread has {book.shape[0]} values for {s.shape[0]} bars")
            s = np.where(np.isnan(book), s, book)
        return np.ascontiguousarray(o * (1.0 + s)), np.ascontiguousarray(o * (1.0 - s))
    raise ValueError(f"unknown fill mode {mode!r}: use one of {', '.join(FILL_MODES)}")
