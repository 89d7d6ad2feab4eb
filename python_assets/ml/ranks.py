"""Average ranks of feature columns (ties share the mean rank, as scipy's rankdata), each column sorted
once: the label leak check (validation.py) and the forward-return check (lookahead.py) rank the same
training set's features, from one RankIndex."""

from __future__ import annotations

import numpy as np


class RankIndex:
    """Each feature column sorted once (NaN last), so its average ranks over any subset of rows come
    from one pass over the sorted order instead of a new sort per label."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self.finite = np.isfinite(X)
        self.orders = [np.argsort(X[:, j], kind="stable") for j in range(X.shape[1])]


def masked_ranks(order: np.ndarray, values: np.ndarray, m: np.ndarray) -> np.ndarray:
    """1-based average ranks (ties share the mean rank, as scipy's rankdata) of values[m], returned in
    row order of the rows where m holds; order is argsort(values)."""
    rows = order[m[order]]
    v = values[rows]
    starts = np.r_[0, np.flatnonzero(v[1:] != v[:-1]) + 1]
    ends = np.r_[starts[1:], len(v)]
    out = np.empty(len(values))
    out[rows] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return out[m]
