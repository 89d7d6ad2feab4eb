"""Ensembles of the direction-like models' out-of-sample predictions: a plain average and a
stacked logistic regression, both fitted on the earlier half of the out-of-sample rows (the stacked
weights only on rows whose label is known by the first evaluation bar's close) and scored against
their members on the later half."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Fitted:
    """The ensembles as fitted on a day's out-of-sample rows: members, the return forecast's P(up) scale,
    the cut, the stacked weights, and the joined rows with which were fitted on, which lie before the cut and which
    are finite (every member's P(up) and the label: a NaN row is neither fitted on nor scored)."""

    members: list[str]
    scales: dict[str, float | None]
    cut: int
    weights: np.ndarray
    joined: pd.DataFrame
    fit: np.ndarray
    before: np.ndarray
    finite: np.ndarray


def member_probabilities(members: list[str], frames: dict[str, pd.DataFrame],
                         scales: dict[str, float | None]) -> pd.DataFrame:
    """KEYS and each member's P(up) on the rows every member scored, sorted by KEYS."""
    joined = None
    for m in members:
        frame = frames[m][KEYS].assign(**{m: up_probability(m, frames[m], scales.get(m))})
        joined = frame if joined is None else joined.merge(frame, on=KEYS, how="inner")
    return joined.sort_values(KEYS).reset_index(drop=True)


def fit_ensembles(oos: dict[str, pd.DataFrame], bar_ms: int | None = None) -> Fitted | None:
    """Fit the ensembles on the earlier half of the rows every member scored: the stacked weights only on
    rows before the cut whose label closed by the first evaluation bar's close, so every evaluation row's
    P(up) depends on data known at its bar (bar_ms: the bars' length; None: inferred). None: too few rows."""
    members = [m for m in MEMBERS if m in oos and len(oos[m])]
    if len(members) < 2 or "direction_predictor" not in members:
        return None
    direction = oos["direction_predictor"]
    label = direction[KEYS + ["label"] + (["label_end_ms"] if "label_end_ms" in direction else [])]
    keys = label[KEYS]
    for m in members:  # the rows every member scored: the cut halves these, not one member's span
        keys = keys.merge(oos[m][KEYS], on=KEYS, how="inner")
    times = np.sort(keys["bar_at_ms"].unique())
    if len(times) < 2:
        return None
    cut = int(times[len(times) // 2])
    scales = {}
    for m in members:
        fit_part = oos[m][oos[m]["bar_at_ms"] < cut]
        scales[m] = float(fit_part["prediction"].std()) if m == "price_predictor" and len(fit_part) > 1 else None
    joined = label.rename(columns={"label": "y"}).merge(member_probabilities(members, oos, scales), on=KEYS)
    joined = joined.sort_values(KEYS).reset_index(drop=True)
    before = (joined["bar_at_ms"] < cut).to_numpy()
    P, y = joined[members].to_numpy(np.float64), joined["y"].to_numpy(np.float64, na_value=np.nan)
    # one NaN P(up) or label among the fitted rows made every stacked weight NaN (and the stacked P(up) NaN on
    # every row): such a row is left out of the fit and the scores, and gives NaN for itself only
    finite = np.isfinite(P).all(axis=1) & np.isfinite(y)
    # purge: a label closing after the first evaluation bar's close would put later closes into the weights
    bar = bar_ms or bar_spacing(times)
    fit = before & finite & (label_known_by(joined, bar) <= cut + bar)
    if fit.sum() < 50 or (~before & finite).sum() < 50:
        return None
    w = fit_logistic(_logit(P[fit]), y[fit])
    return Fitted(members, scales, cut, w, joined, fit, before, finite)


def with_ensembles(fitted: Fitted, joined: pd.DataFrame) -> pd.DataFrame:
    """joined (KEYS and each member's P(up)) with the average and the stacked ensemble's P(up)."""
    P = joined[fitted.members].to_numpy()
    w = fitted.weights
    return joined.assign(ensemble_average=P.mean(axis=1),
                         ensemble_stacked=1 / (1 + np.exp(-(w[0] + _logit(P) @ w[1:]))))


def trained_marker(members: list[str], pointers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """trained_on and reused of the ensembles, as a model's score rows carry them: the ensembles are fitted on
    the members' versions' out-of-sample rows, so their numbers are those the newest member's training day
    computed (trained_on, NULL when a member's pointer does not say), repeated on a day that reused every member."""
    days = [pointers[m].get("trained_on") for m in members]
    return {"trained_on": max(days) if days and all(days) else None,
            "reused": bool(members) and all(bool(pointers[m].get("reused")) for m in members)}


def build_ensembles(oos: dict[str, pd.DataFrame],
                    bar_ms: int | None = None) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """(ml_ensembles rows, per-row ensemble P(up) on every joined out-of-sample row), as fit_ensembles fits."""
    fitted = fit_ensembles(oos, bar_ms)
    if fitted is None:
        return [], pd.DataFrame()
    members, w, fit, cut = fitted.members, fitted.weights, fitted.fit, fitted.cut
    joined = with_ensembles(fitted, fitted.joined)
    y = joined["y"].to_numpy()
    ev = ~fitted.before & fitted.finite  # eval_rows: the later half's rows every member and the label have
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
    joined["ensemble_fitted_on"] = fitted.before
    return rows, joined[KEYS + ["y", *members, "ensemble_average", "ensemble_stacked", "ensemble_fitted_on"]]


def without_day_calls(members: list[str], forward: dict[str, pd.DataFrame]) -> list[str]:
    """The ensembles' members with no predictions on the day's bars: trained today rather than reused, so their
    version was fitted on (or after) those bars and has no out-of-sample call there; while any, the day trades
    no ensemble (its weights combine every member: dropping one would trade another ensemble than it scored)."""
    return [m for m in members if m not in forward or forward[m].empty]


def forward_frame(oos: dict[str, pd.DataFrame], forward: dict[str, pd.DataFrame],
                  bar_ms: int | None = None) -> tuple[pd.DataFrame, list[str]]:
    """What a day scored with saved versions trades: each reused member's predictions on the day's bars
    (forward: made by versions trained before the day, truly out of sample) as P(up), with the ensembles
    those versions' out-of-sample rows fitted (oos) where every member scored the day; no row is fitted on.
    Beside it the members (without_day_calls) that kept the day from trading the ensembles, [] when none did."""
    if "direction_predictor" not in forward or forward["direction_predictor"].empty:
        return pd.DataFrame(), []
    direction = forward["direction_predictor"]
    frame = direction[KEYS].assign(direction_predictor=up_probability("direction_predictor", direction))
    fitted = fit_ensembles(oos, bar_ms)
    missing = without_day_calls(fitted.members, forward) if fitted is not None else []
    if fitted is not None and not missing:
        scored = with_ensembles(fitted, member_probabilities(fitted.members, forward, fitted.scales))
        frame = frame.merge(scored[KEYS + ["ensemble_average", "ensemble_stacked"]], on=KEYS, how="left")
    frame = frame.sort_values(KEYS).reset_index(drop=True)
    return frame.assign(ensemble_fitted_on=False), missing
