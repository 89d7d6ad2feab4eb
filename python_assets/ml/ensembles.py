"""Ensembles of the direction-like models' out-of-sample predictions: a plain average and a
stacked logistic regression, both fitted on the earlier half of the out-of-sample rows (the stacked
weights only on rows whose label is known by the first evaluation bar's close) and scored against
their members on the later half."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from python_assets.ml import metrics
from python_assets.ml.dataset import HORIZON_BARS

MEMBERS = ("direction_predictor", "momentum_classifier", "price_predictor")
KEYS = ["bar_at_ms", "symbol"]


def up_probability(model: str, oos: pd.DataFrame, scale: float | None = None) -> np.ndarray:
    """Each member as P(up over 12 bars): classifier probabilities as they are, the momentum
    classes as (1 + P(up) - P(down)) / 2, a return forecast through a logistic of forecast / scale."""
    if model == "direction_predictor":
        return oos["prediction"].to_numpy()
    if model == "momentum_classifier":
        return (1 + oos["p_up"].to_numpy() - oos["p_down"].to_numpy()) / 2
    return 1 / (1 + np.exp(-oos["prediction"].to_numpy() / (scale or 1.0)))


def fit_logistic(Z: np.ndarray, y: np.ndarray, ridge: float = 1e-3, iters: int = 50) -> np.ndarray:
    """Weights (intercept first) of a ridge-regularised logistic regression by Newton's method."""
    A = np.column_stack([np.ones(len(Z)), Z])
    w = np.zeros(A.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-A @ w))
        grad = A.T @ (p - y) + ridge * np.r_[0, w[1:]]
        H = (A * (p * (1 - p))[:, None]).T @ A + ridge * np.eye(len(w))
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def bar_spacing(times: np.ndarray) -> int:
    """The bar length of sorted distinct bar times (their smallest gap): the horizon's unit where the
    caller gives none."""
    gaps = np.diff(times)
    return int(gaps[gaps > 0].min()) if (gaps > 0).any() else 1


def label_known_by(joined: pd.DataFrame, bar_ms: int) -> np.ndarray:
    """When each row's label window closes: label_end_ms as the walk-forward purged by (the model's
    out-of-sample rows carry it; later than 12 bars across missing bars), else 12 bars after the bar's close."""
    gapless = joined["bar_at_ms"].to_numpy(np.int64) + (HORIZON_BARS + 1) * bar_ms
    if "label_end_ms" not in joined:
        return gapless
    ends = joined["label_end_ms"].to_numpy(np.float64, na_value=np.nan)
    return np.where(np.isfinite(ends) & (ends > 0), ends, gapless).astype(np.int64)


def build_ensembles(oos: dict[str, pd.DataFrame],
                    bar_ms: int | None = None) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """(ml_ensembles rows, per-row ensemble P(up) on every joined out-of-sample row). The stacked weights
    are fitted only on rows before the cut whose label closed by the first evaluation bar's close, so
    every evaluation row's P(up) depends on data known at its bar (bar_ms: the bars' length; None: inferred)."""
    members = [m for m in MEMBERS if m in oos and len(oos[m])]
    if len(members) < 2:
        return [], pd.DataFrame()
    direction = oos["direction_predictor"] if "direction_predictor" in members else None
    if direction is None:
        return [], pd.DataFrame()
    label = direction[KEYS + ["label"] + (["label_end_ms"] if "label_end_ms" in direction else [])]
    joined = label.rename(columns={"label": "y"})
    for m in members:  # the rows every member scored: the cut halves these, not one member's span
        joined = joined.merge(oos[m][KEYS], on=KEYS, how="inner")
    times = np.sort(joined["bar_at_ms"].unique())
    if len(times) < 2:
        return [], pd.DataFrame()
    cut = times[len(times) // 2]
    for m in members:
        frame = oos[m].copy()
        fit_part = frame[frame["bar_at_ms"] < cut]
        scale = float(fit_part["prediction"].std()) if m == "price_predictor" and len(fit_part) > 1 else None
        frame[m] = up_probability(m, frame, scale)
        joined = joined.merge(frame[KEYS + [m]], on=KEYS, how="inner")
    joined = joined.sort_values(KEYS).reset_index(drop=True)
    before = (joined["bar_at_ms"] < cut).to_numpy()
    # purge: a label closing after the first evaluation bar's close would put later closes into the weights
    bar = bar_ms or bar_spacing(times)
    fit = before & (label_known_by(joined, bar) <= cut + bar)
    if fit.sum() < 50 or (~before).sum() < 50:
        return [], pd.DataFrame()
    P = joined[members].to_numpy()
    y = joined["y"].to_numpy()
    w = fit_logistic(_logit(P[fit]), y[fit])
    joined["ensemble_average"] = P.mean(axis=1)
    joined["ensemble_stacked"] = 1 / (1 + np.exp(-(w[0] + _logit(P) @ w[1:])))
    ev = ~before
    window = {"fit_start_ms": int(joined.loc[fit, "bar_at_ms"].min()), "eval_start_ms": int(cut),
              "eval_end_ms": int(joined["bar_at_ms"].max()), "eval_rows": int(ev.sum())}
    rows = []
    for name, method, weights in (("ensemble_average", "average", {m: 1 / len(members) for m in members}),
                                  ("ensemble_stacked", "stacked_logistic",
                                   {"intercept": float(w[0]), **{m: float(v) for m, v in zip(members, w[1:])}})):
        for scorer in (name, *members):
            s = metrics.classification(y[ev], joined.loc[ev, scorer].to_numpy())
            rows.append({"ensemble": name, "method": method, "members": members, "weights": weights,
                         "scorer": scorer, **window, **s})
    # rows before the cut (fitted on, or purged from the fit): not out-of-sample for the ensembles
    joined["ensemble_fitted_on"] = before
    return rows, joined[KEYS + ["y", *members, "ensemble_average", "ensemble_stacked", "ensemble_fitted_on"]]
