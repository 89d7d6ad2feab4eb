"""The lookahead check: features that track the price's own forward returns (1..12 bars ahead, per
symbol in bar order) more than the past can explain: one-bar-ahead, centred-window or noisy copies of a
future return, which the label check (near-copies of the 12-bar label only) lets through."""

from __future__ import annotations

import numpy as np
import pandas as pd

from python_assets.ml.ranks import RankIndex, masked_ranks

HORIZONS = 12  # forward and backward log returns over 1..12 rows of each symbol's series
THRESHOLD = 0.5  # |rank correlation| with a forward return a feature must reach to be a suspect
MARGIN = 0.2  # ... and by how much it must beat what the best past return predicts of that forward return
MIN_ROWS = 30  # ... over at least this many independent observations (see lookahead_strengths)


def series_order(ts: np.ndarray, symbol: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(order, series code of each ordered row): the rows by symbol then time; None where a symbol has two
    rows at one time (not one series per symbol: no bar order)."""
    codes = pd.factorize(pd.Series(symbol, dtype=object))[0]
    order = np.lexsort((ts, codes))
    seg, t = codes[order], ts[order]
    if np.any((seg[1:] == seg[:-1]) & (t[1:] == t[:-1])):
        return None
    return order, seg


def series_returns(close: np.ndarray, ts: np.ndarray, symbol: np.ndarray,
                   horizons: int = HORIZONS) -> tuple[np.ndarray, np.ndarray]:
    """(forward, backward) log returns, each (n, horizons) in row order: column h-1 is
    log(close h rows ahead / close) and log(close / close h rows back) in the same symbol's time order
    (rows, as the labels count them); NaN past a series' end or where a symbol has two rows at one time."""
    n = len(close)
    fwd, bwd = np.full((n, horizons), np.nan), np.full((n, horizons), np.nan)
    ordered = series_order(ts, symbol)
    if ordered is None:
        return fwd, bwd
    order, seg = ordered
    with np.errstate(divide="ignore", invalid="ignore"):
        lc = np.log(np.where(close > 0, close, np.nan).astype(np.float64))[order]
    for h in range(1, min(horizons, n - 1) + 1):
        step = np.where(seg[h:] == seg[:-h], lc[h:] - lc[:-h], np.nan)
        fwd[order[:-h], h - 1] = step
        bwd[order[h:], h - 1] = step
    return fwd, bwd


def centred_ranks(A: np.ndarray, index: RankIndex | None = None) -> np.ndarray:
    """Per column, average ranks (ties share the mean rank) over its finite values, scaled to
    (rank - (m+1)/2) / m for m finite values; NaN elsewhere. index: A's RankIndex when one is built already."""
    index = index or RankIndex(A)
    out = np.full(A.shape, np.nan)
    for j in range(A.shape[1]):
        m = index.finite[:, j]
        count = int(m.sum())
        out[m, j] = (masked_ranks(index.orders[j], A[:, j], m) - (count + 1) / 2) / max(count, 1)
    return out


def rank_correlations(X: np.ndarray, T: np.ndarray, index: RankIndex | None = None,
                      min_shared: np.ndarray | int = MIN_ROWS) -> np.ndarray:
    """(p, k) Pearson correlations of the ranks of X's and T's columns over the rows where both are finite
    (ranks taken once per column over all its finite rows; index: X's RankIndex); NaN under min_shared shared
    rows (per column of T when an array) or no spread."""
    rx, rt = centred_ranks(X, index), centred_ranks(T)
    mx, mt = np.isfinite(rx).astype(np.float64), np.isfinite(rt).astype(np.float64)
    zx, zt = np.nan_to_num(rx), np.nan_to_num(rt)
    n = mx.T @ mt
    with np.errstate(divide="ignore", invalid="ignore"):
        sx, st = (zx.T @ mt) / n, (mx.T @ zt) / n
        cov = (zx.T @ zt) / n - sx * st
        vx, vt = (zx ** 2).T @ mt / n - sx ** 2, mx.T @ zt ** 2 / n - st ** 2
        c = cov / np.sqrt(vx * vt)
    return np.where((n >= min_shared) & (vx > 0) & (vt > 0), c, np.nan)


def value_runs(X: np.ndarray, ts: np.ndarray, symbol: np.ndarray) -> np.ndarray:
    """Per column, its finite values that differ from the row before in the same series (a series' first
    finite value counts): how many times it says something new (a 1h feature on 5m rows: once an hour)."""
    ordered = series_order(ts, symbol)
    if ordered is None:
        return np.zeros(X.shape[1])
    order, seg = ordered
    starts = np.r_[True, seg[1:] != seg[:-1]]
    runs = np.zeros(X.shape[1])
    for j in range(X.shape[1]):  # a column at a time: no second copy of the whole matrix
        a = X[order, j]
        runs[j] = np.count_nonzero(np.isfinite(a) & (starts | np.r_[True, a[1:] != a[:-1]]))
    return runs


def lookahead_strengths(X: np.ndarray, close: np.ndarray, ts: np.ndarray, symbol: np.ndarray,
                        index: RankIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ahead, explained), each (p, HORIZONS): |rank correlation| of each feature with the forward return
    over h bars, NaN under MIN_ROWS independent observations: rows both have / h (h-bar forward returns
    overlap: n/h of them do not), and the feature's value_runs (two smooth series over a few hours correlate
    by chance: a 1h RSI held over 5m rows of one symbol's day, 10 values, 0.71); and the most any past return
    (1..HORIZONS bars back) rank-correlates with that forward return."""
    fwd, bwd = series_returns(close, ts, symbol)
    ahead = np.abs(rank_correlations(X, fwd, index, min_shared=MIN_ROWS * np.arange(1, fwd.shape[1] + 1)))
    ahead[value_runs(X, ts, symbol) < MIN_ROWS] = np.nan
    explained = np.nanmax(np.abs(rank_correlations(bwd, fwd)), axis=0, initial=0.0)
    return ahead, np.broadcast_to(explained, ahead.shape)


def check_lookahead(X: np.ndarray, features: list[str], close: np.ndarray | None, ts: np.ndarray,
                    symbol: np.ndarray, threshold: float = THRESHOLD, margin: float = MARGIN,
                    index: RankIndex | None = None) -> list[str]:
    """Features whose |rank correlation| with some forward return (1..12 bars) is >= threshold and more than
    margin above the most a past return predicts of it. A causal feature tracks the future only through what
    the past says of it; its own correlation with the past is no guide (a centred window matches both), so the
    bar is the series' own predictability. Empty without close prices. index: X's RankIndex when built."""
    if close is None or len(close) == 0:
        return []
    ahead, explained = lookahead_strengths(X, close, ts, symbol, index)
    flagged = np.nan_to_num(ahead) >= np.maximum(threshold, explained + margin)
    return [name for name, hit in zip(features, flagged.any(axis=1)) if hit]
