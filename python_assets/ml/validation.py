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
    """1-based average ranks (ties share the mean rank)."""
    return rankdata(a)


def check_leakage(X: np.ndarray, features: list[str], label: np.ndarray, threshold: float = 0.9) -> list[str]:
    """Features that track a forward label too closely to be known at t: |rank correlation| >=
    threshold, or for a binary label a separation 2|AUC - 0.5| >= threshold (a rank correlation
    with a 0/1 label cannot exceed ~0.87, so it would miss a leaked return)."""
    ok = np.isfinite(label)
    binary = np.unique(label[ok]).size == 2
    leaks = []
    for j, name in enumerate(features):
        col = X[:, j].astype(np.float64)
        m = ok & np.isfinite(col)
        if m.sum() < 30:
            continue
        a, b = rank(col[m]), label[m]
        if binary:
            pos = b == b.max()
            n_pos, n_neg = int(pos.sum()), int((~pos).sum())
            strength = 2 * abs((a[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg) - 0.5)
        else:
            rb = rank(b)
            sa, sb = a.std(), rb.std()
            strength = abs(np.mean((a - a.mean()) * (rb - rb.mean())) / (sa * sb)) if sa > 0 and sb > 0 else 0.0
        if strength >= threshold:
            leaks.append(name)
    return leaks


def leakage_report(X: np.ndarray, features: list[str], labels: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """{label: leaking features} over every label; empty when the training set is clean."""
    found = {name: check_leakage(X, features, y) for name, y in labels.items()}
    return {k: v for k, v in found.items() if v}
