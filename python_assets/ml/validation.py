"""Purged walk-forward splits: train strictly before test with a gap (embargo) of at least the
label horizon, so no training label overlaps a test bar; plus the leakage check."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


class LeakageError(RuntimeError):
    """A feature that tracks a forward label too closely to be known at t."""


def purged_walk_forward(ts: np.ndarray, n_folds: int, horizon_ms: int, embargo_ms: int,
                        first_train_fraction: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) per fold: test blocks tile the times after the first training share;
    training rows end embargo_ms before the test block starts (embargo >= horizon is required)."""
    if embargo_ms < horizon_ms:
        raise ValueError(f"embargo {embargo_ms} ms is shorter than the label horizon {horizon_ms} ms")
    times = np.unique(ts)
    if len(times) < n_folds + 2:
        return []
    start = int(len(times) * first_train_fraction)
    blocks = np.array_split(times[start:], n_folds)
    folds = []
    for block in blocks:
        if len(block) == 0:
            continue
        test = np.flatnonzero((ts >= block[0]) & (ts <= block[-1]))
        train = np.flatnonzero(ts < block[0] - embargo_ms)
        if len(train) and len(test):
            folds.append((train, test))
    return folds


def embargo_respected(ts: np.ndarray, train: np.ndarray, test: np.ndarray, horizon_ms: int) -> bool:
    """No training row lies within the label horizon of any test row (either side)."""
    tr, te = np.sort(ts[train]), np.sort(ts[test])
    idx = np.searchsorted(tr, te)
    left = np.where(idx > 0, te - tr[np.maximum(idx - 1, 0)], np.iinfo(np.int64).max)
    right = np.where(idx < len(tr), tr[np.minimum(idx, len(tr) - 1)] - te, np.iinfo(np.int64).max)
    return bool(np.all(np.minimum(np.abs(left), np.abs(right)) > horizon_ms))


def rank(a: np.ndarray) -> np.ndarray:
    """Average ranks (ties share)."""
    return rankdata(a)


def check_leakage(X: np.ndarray, features: list[str], label: np.ndarray, threshold: float = 0.9) -> list[str]:
    """Features whose rank correlation with a forward label is |rho| >= threshold: a feature known
    at t cannot track the future that closely, so such a column leaks the label."""
    ok = np.isfinite(label)
    leaks = []
    for j, name in enumerate(features):
        col = X[:, j].astype(np.float64)
        m = ok & np.isfinite(col)
        if m.sum() < 30:
            continue
        a, b = rank(col[m]), rank(label[m])
        sa, sb = a.std(), b.std()
        if sa > 0 and sb > 0 and abs(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb)) >= threshold:
            leaks.append(name)
    return leaks
