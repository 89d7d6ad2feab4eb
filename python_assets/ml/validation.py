"""Purged walk-forward splits: train strictly before test with a gap (embargo) of at least the
label horizon, so no training label overlaps a test bar; plus the leakage check."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from python_assets.ml.lookahead import check_lookahead
from python_assets.ml.ranks import RankIndex, masked_ranks

if TYPE_CHECKING:
    from python_assets.ml.dataset import Dataset


class LeakageError(RuntimeError):
    """A feature that tracks a forward label too closely to be known at t."""


def purged_walk_forward(ts: np.ndarray, n_folds: int, horizon_ms: int, embargo_ms: int,
                        first_train_fraction: float = 0.5,
                        label_end: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) per fold: test blocks tile the times after the first training share;
    training rows end embargo_ms before the test block starts (embargo >= horizon is required) and,
    with label_end (when each row's label window closes), are purged when that window reaches past the
    test block's start less the embargo beyond the horizon: a label is 12 rows ahead, which is later
    than 12 bars where bars are missing (AFML 7.4.1: no training label overlaps the test period)."""
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
        keep = ts < block[0] - embargo_ms
        if label_end is not None:
            keep &= label_end <= block[0] - (embargo_ms - horizon_ms)
        train = np.flatnonzero(keep)
        if len(train) and len(test):
            folds.append((train, test))
    return folds


def embargo_respected(ts: np.ndarray, train: np.ndarray, test: np.ndarray, horizon_ms: int,
                      label_end: np.ndarray | None = None) -> bool:
    """No training row lies within the label horizon of any test row (either side) and, with label_end,
    no earlier training row's label window closes after the first test bar opens."""
    if label_end is not None and len(train) and len(test):
        before = ts[train] < ts[test].min()
        if before.any() and label_end[train][before].max() > ts[test].min():
            return False
    tr, te = np.sort(ts[train]), np.sort(ts[test])
    idx = np.searchsorted(tr, te)
    left = np.where(idx > 0, te - tr[np.maximum(idx - 1, 0)], np.iinfo(np.int64).max)
    right = np.where(idx < len(tr), tr[np.minimum(idx, len(tr) - 1)] - te, np.iinfo(np.int64).max)
    return bool(np.all(np.minimum(np.abs(left), np.abs(right)) > horizon_ms))


def rank(a: np.ndarray) -> np.ndarray:
    """1-based average ranks (ties share the mean rank), as scipy's rankdata."""
    return pd.Series(a).rank(method="average").to_numpy(dtype=np.float64)


def label_known_at(label: np.ndarray, ts: np.ndarray, symbol: np.ndarray, horizon_bars: int) -> np.ndarray:
    """The same symbol's label horizon_bars rows earlier in its time order (NaN where absent): its window
    (the rows after it up to this one) closes with this bar, so a causal feature may track it as closely
    as it likes. Rows, not horizon_bars x bar_ms: across missing bars the label that much time earlier
    still looks past this bar."""
    frame = pd.DataFrame({"symbol": symbol, "ts": ts, "label": label})
    if frame.duplicated(["symbol", "ts"]).any():  # not one series per symbol: no past value to compare with
        return np.full(len(label), np.nan)
    ordered = frame.sort_values(["symbol", "ts"], kind="stable")
    past = ordered.groupby("symbol", sort=False)["label"].shift(horizon_bars)
    return past.reindex(frame.index).to_numpy(dtype=np.float64, na_value=np.nan)


# A label with at most this many distinct values is a class label: its strength is 2|AUC - 0.5| averaged
# over the cuts between its classes. A rank correlation with few tied classes caps below 1 even for a
# feature that orders them perfectly (sqrt(1 - sum p^3): 0.87 for 0/1, 0.92 for a 25/50/25 three-class
# label), so a perfect leak could score under the threshold.
MAX_CLASSES = 5


def _class_strength(a: np.ndarray, b: np.ndarray, classes: np.ndarray) -> float:
    """Mean over the cuts y > c (each class but the last) of 2|AUC - 0.5| of ranks a against labels b."""
    out = []
    for c in classes[:-1]:
        pos = b > c
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos and n_neg:
            out.append(2 * abs((a[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg) - 0.5))
    return float(np.mean(out)) if out else 0.0


def strengths(index: RankIndex, label: np.ndarray) -> np.ndarray:
    """Per feature column, how closely it tracks label: |rank correlation|, or for a class label (at
    most MAX_CLASSES values; binary too) 2|AUC - 0.5| averaged over its cuts; NaN with fewer than 30
    rows where both are finite."""
    ok = np.isfinite(label)
    classes = np.unique(label[ok])
    discrete = 2 <= classes.size <= MAX_CLASSES
    label_order = np.argsort(label, kind="stable")
    out = np.full(index.X.shape[1], np.nan)
    for j, order in enumerate(index.orders):
        m = ok & index.finite[:, j]
        if m.sum() < 30:
            continue
        a = masked_ranks(order, index.X[:, j], m)
        b = label[m]
        if discrete:
            out[j] = _class_strength(a, b, classes)
            continue
        rb = masked_ranks(label_order, label, m)
        sa, sb = a.std(), rb.std()
        out[j] = abs(np.mean((a - a.mean()) * (rb - rb.mean())) / (sa * sb)) if sa > 0 and sb > 0 else 0.0
    return out


def check_leakage(X: np.ndarray, features: list[str], label: np.ndarray, past: np.ndarray | None = None,
                  threshold: float = 0.9, margin: float = 0.02, index: RankIndex | None = None) -> list[str]:
    """Features that track a forward label too closely to be known at t: strength (|rank correlation|,
    or 2|AUC - 0.5| over a class label's cuts: see MAX_CLASSES) >= threshold
    and, when the label's already-closed value `past` is given, more than `margin` above the
    feature's strength against that. A persistent label (volatility clusters) lets honest features
    reach 0.9 against the future; they then match the past at least as well, a leaked one does not."""
    index = index or RankIndex(X)
    ahead = strengths(index, label)
    suspects = [j for j in range(len(features)) if ahead[j] >= threshold]
    if not suspects or past is None:
        return [features[j] for j in suspects]
    behind = strengths(index, past)
    return [features[j] for j in suspects if not behind[j] >= ahead[j] - margin]


LOOKAHEAD = "fwd_returns_1_12"  # leakage_report's key for check_lookahead's finds


def leakage_report(data: "Dataset", horizon_bars: int) -> dict[str, list[str]]:
    """{label: leaking features} over every label, and under LOOKAHEAD the features that track a forward
    return of 1..12 bars (check_lookahead); empty when the training set is clean."""
    index = RankIndex(data.X)
    found = {name: check_leakage(data.X, data.features, y, label_known_at(y, data.ts, data.symbol, horizon_bars),
                                 index=index)
             for name, y in data.labels.items()}
    found[LOOKAHEAD] = check_lookahead(data.X, data.features, data.close, data.ts, data.symbol, index=index)
    return {k: v for k, v in found.items() if v}
