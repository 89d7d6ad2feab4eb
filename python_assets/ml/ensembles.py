"""Ensembles of the direction-like models' out-of-sample predictions: a plain average and a
stacked logistic regression, both fitted on the earlier half of the out-of-sample rows and
scored against their members on the later half."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from python_assets.ml import metrics

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


def build_ensembles(oos: dict[str, pd.DataFrame]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """(ml_ensembles rows, per-row ensemble P(up) on every joined out-of-sample row)."""
    members = [m for m in MEMBERS if m in oos and len(oos[m])]
    if len(members) < 2:
        return [], pd.DataFrame()
    label = oos["direction_predictor"][KEYS + ["label"]] if "direction_predictor" in members else None
    if label is None:
        return [], pd.DataFrame()
    joined = label.rename(columns={"label": "y"})
    times = np.sort(joined["bar_at_ms"].unique())
    cut = times[len(times) // 2]
    for m in members:
        frame = oos[m].copy()
        fit_part = frame[frame["bar_at_ms"] < cut]
        scale = float(fit_part["prediction"].std()) if m == "price_predictor" and len(fit_part) > 1 else None
        frame[m] = up_probability(m, frame, scale)
        joined = joined.merge(frame[KEYS + [m]], on=KEYS, how="inner")
    joined = joined.sort_values(KEYS).reset_index(drop=True)
    fit = joined["bar_at_ms"] < cut
    if fit.sum() < 50 or (~fit).sum() < 50:
        return [], pd.DataFrame()
    P = joined[members].to_numpy()
    y = joined["y"].to_numpy()
    w = fit_logistic(_logit(P[fit]), y[fit])
    joined["ensemble_average"] = P.mean(axis=1)
    joined["ensemble_stacked"] = 1 / (1 + np.exp(-(w[0] + _logit(P) @ w[1:])))
    ev = ~fit
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
    joined["ensemble_fitted_on"] = fit  # rows the ensembles were fitted on: not out-of-sample for them
    return rows, joined[KEYS + ["y", *members, "ensemble_average", "ensemble_stacked", "ensemble_fitted_on"]]
