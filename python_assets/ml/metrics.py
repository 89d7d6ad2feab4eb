"""Scores for classifiers (accuracy, balanced accuracy, log loss, AUC) and regressors (MAE, RMSE,
R2, IC, rank IC), computed with numpy so every number is reproducible without extra packages. A
prediction or label that is not finite makes every score NaN (n still counts the rows): a NaN is no call
(or nothing to call), and dropping it from one score but not another (AUC's ranks, argmax's class 0) gave
scores of different rows; a NaN label raised IndexError (cast to int, it indexed column -2**63)."""

from __future__ import annotations

import math

import numpy as np

from python_assets.ml.validation import rank

EPS = 1e-15


def _auc_binary(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties; NaN when one class is absent."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    r = rank(score)  # 1-based average ranks
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """y in 0..k-1; proba (n,) = P(class 1) for binary or (n, k) class probabilities; all NaN (but n)
    when any probability or label is not finite."""
    if not (np.isfinite(proba).all() and np.isfinite(y).all()):
        return {**dict.fromkeys(("accuracy", "balanced_accuracy", "log_loss", "auc"), math.nan), "n": float(len(y))}
    y = y.astype(int)
    p = np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba
    k = p.shape[1]
    pred = p.argmax(axis=1)
    recalls = [float((pred[y == c] == c).mean()) for c in range(k) if (y == c).any()]
    clipped = np.clip(p[np.arange(len(y)), y], EPS, 1.0)
    if k == 2:
        auc = _auc_binary(y, p[:, 1])
    else:
        aucs = [_auc_binary((y == c).astype(int), p[:, c]) for c in range(k)]
        aucs = [a for a in aucs if not math.isnan(a)]
        auc = float(np.mean(aucs)) if aucs else math.nan
    return {"accuracy": float((pred == y).mean()), "balanced_accuracy": float(np.mean(recalls)),
            "log_loss": float(-np.log(clipped).mean()), "auc": auc, "n": float(len(y))}


def regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R2, IC and rank IC of pred against y; all NaN (but n) when any prediction or label is not
    finite (an infinite label gave MAE inf beside a rank IC of 0.5)."""
    if not (np.isfinite(pred).all() and np.isfinite(y).all()):
        return {**dict.fromkeys(("mae", "rmse", "r2", "ic", "rank_ic"), math.nan), "n": float(len(y))}
    # constant: max == min (NumPy's stddev of a constant series can come out a rounding above 0, which
    # gave a constant prediction an IC of ~1e-17 and a constant label an R^2 of -1e30 instead of NaN)
    varies = len(y) > 1 and np.ptp(y) > 0 and np.ptp(pred) > 0
    err = pred - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ic = float(np.corrcoef(pred, y)[0, 1]) if varies else math.nan
    ry, rp = rank(y), rank(pred)
    ric = float(np.corrcoef(rp, ry)[0, 1]) if varies else math.nan
    return {"mae": float(np.abs(err).mean()), "rmse": float(math.sqrt((err ** 2).mean())),
            "r2": 1 - float((err ** 2).sum()) / ss_tot if len(y) > 1 and np.ptp(y) > 0 else math.nan, "ic": ic,
            "rank_ic": ric,
            "n": float(len(y))}


def prior_probabilities(y_train: np.ndarray, n_classes: int, n: int) -> np.ndarray:
    """The base-rate baseline: the training class frequencies, Laplace-smoothed ((count + 1) / (rows + k)),
    for every row. Unsmoothed, a training fold without a class gave it P = 0, a log loss of 34.5 (the
    clip at 1e-15) per test row of it, and any model beat the baseline."""
    freq = (np.bincount(y_train.astype(int), minlength=n_classes) + 1.0) / (len(y_train) + n_classes)
    p = np.tile(freq, (n, 1))
    return p[:, 1] if n_classes == 2 else p


def mean_of_folds(fold_scores: list[dict[str, float]]) -> dict[str, float]:
    """The overall score of a walk-forward: each metric's mean over the folds where it is defined (NaN where
    none is), n the rows of all folds. Not the folds' predictions pooled: each fold has its own model and
    prior, so pooled rows rank one fold's calls against another's (a constant baseline scored an AUC of 0.44
    to 0.48 instead of 0.5); a fold's mean keeps every fold's no-skill line where it is."""
    out = {}
    for key in fold_scores[0]:
        values = np.array([s[key] for s in fold_scores], dtype=np.float64)
        defined = values[~np.isnan(values)]
        out[key] = float(values.sum()) if key == "n" else (float(defined.mean()) if len(defined) else math.nan)
    return out
