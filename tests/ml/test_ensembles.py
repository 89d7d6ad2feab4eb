"""The ensembles trade only P(up) known at each bar: the stacked weights are fitted on rows whose
12-bar label closed by the first evaluation bar's close, never on a label that closes after it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from python_assets.ml.dataset import HORIZON_BARS
from python_assets.ml.ensembles import MEMBERS, build_ensembles

BAR_MS = 300_000
N = 400


def _closes(seed: int = 0) -> np.ndarray:
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.002, N)))


def _frames(close: np.ndarray, label_end: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """Members whose predictions use closes up to their bar only (past 3-bar return plus fixed noise),
    labelled with the 12-bar direction (rows without a closed label dropped), as train_model's oos."""
    y = np.r_[(close[HORIZON_BARS:] > close[:-HORIZON_BARS]).astype(float), np.full(HORIZON_BARS, np.nan)]
    ok = np.isfinite(y)
    past = np.r_[np.zeros(3), close[3:] / close[:-3] - 1]
    noise = np.random.default_rng(1).normal(size=(3, N))
    up = 1 / (1 + np.exp(-(30 * past + noise[1])))
    keys = {"bar_at_ms": np.arange(N)[ok] * BAR_MS, "symbol": "S", "label": y[ok]}
    if label_end is not None:
        keys["label_end_ms"] = label_end[ok]
    return {"direction_predictor": pd.DataFrame({**keys, "prediction": 1 / (1 + np.exp(-(50 * past + noise[0])))[ok]}),
            "momentum_classifier": pd.DataFrame({**keys, "p_down": (1 - up[ok]) / 2, "p_flat": 0.5, "p_up": up[ok] / 2}),
            "price_predictor": pd.DataFrame({**keys, "prediction": (0.001 * past + 0.001 * noise[2])[ok]})}


def _stacked(rows: list[dict]) -> dict:
    return next(r for r in rows if r["ensemble"] == "ensemble_stacked")["weights"]


def test_closes_after_the_first_evaluation_bar_change_no_weight_and_no_p_up_known_before_them():
    close_a = _closes()
    rows_a, a = build_ensembles(_frames(close_a))
    cut = rows_a[0]["eval_start_ms"]
    ci = cut // BAR_MS
    close_b = close_a.copy()  # the same history up to the cut bar's close, a jump right after it
    close_b[ci + 1:] = close_a[ci] * np.exp(np.r_[0.02, np.zeros(N - ci - 2)].cumsum())
    rows_b, b = build_ensembles(_frames(close_b))
    assert rows_b[0]["eval_start_ms"] == cut
    assert _stacked(rows_a) == _stacked(rows_b)
    same = np.all(np.isclose(a[list(MEMBERS)], b[list(MEMBERS)]), axis=1)  # rows whose members' inputs agree
    evaluated = ~a["ensemble_fitted_on"].to_numpy()
    assert (same & evaluated).any() and a.loc[evaluated, "bar_at_ms"].min() == cut
    for col in ("ensemble_stacked", "ensemble_average"):
        np.testing.assert_array_equal(a.loc[same & evaluated, col], b.loc[same & evaluated, col])
    # every row before the cut is kept out of the evaluation (fitted on, or purged from the fit)
    assert (a.loc[a["ensemble_fitted_on"], "bar_at_ms"] < cut).all() and (a.loc[evaluated, "bar_at_ms"] >= cut).all()


def test_the_purge_follows_each_labels_own_window_across_missing_bars():
    """A label window stretched past the first evaluation bar's close (bars missing after it) is left out
    of the fit even where 12 bars would have closed in time: flipping those labels changes no weight."""
    close = _closes(3)
    gapless = np.arange(N) * BAR_MS + (HORIZON_BARS + 1) * BAR_MS
    rows, _ = build_ensembles(_frames(close, gapless))
    cut = rows[0]["eval_start_ms"]
    late = (np.arange(N) * BAR_MS < cut) & (gapless > cut - 20 * BAR_MS)  # 20 bars of windows reaching past it
    stretched = np.where(late, cut + 2 * BAR_MS, gapless)
    frames = _frames(close, stretched)
    flipped = {m: f.assign(label=np.where(late[f["bar_at_ms"] // BAR_MS], 1 - f["label"], f["label"]))
               for m, f in frames.items()}
    assert _stacked(build_ensembles(frames)[0]) == _stacked(build_ensembles(flipped)[0])


def test_train_model_hands_each_out_of_sample_row_its_label_window(tmp_path):
    from python_assets.ml.models import MODELS
    from python_assets.ml.train import TrainConfig, train_model
    from test_models import planted

    data = planted(n_times=400)
    oos = train_model(MODELS["direction_predictor"], data, tmp_path, TrainConfig(n_folds=2, fast=True)).oos
    np.testing.assert_array_equal(oos["label_end_ms"], oos["bar_at_ms"] + (HORIZON_BARS + 1) * BAR_MS)


def test_a_nan_member_prediction_is_left_out_of_the_fit_and_the_scores_and_is_nan_for_its_own_row_only():
    """One NaN P(up) in the fit half made every stacked weight NaN, so the stacked P(up) was NaN on every row
    (review_ml t_ens2.py: oos prediction[4] = NaN gave {intercept: nan, ...})."""
    clean_rows, clean = build_ensembles(_frames(_closes()))
    frames = _frames(_closes())
    cut = clean_rows[0]["eval_start_ms"]
    pred = frames["direction_predictor"]["prediction"].to_numpy().copy()
    bars = frames["direction_predictor"]["bar_at_ms"].to_numpy()
    nan_fit, nan_eval = 4, int(np.flatnonzero(bars >= cut)[3])
    pred[[nan_fit, nan_eval]] = np.nan
    frames["direction_predictor"] = frames["direction_predictor"].assign(prediction=pred)
    rows, joined = build_ensembles(frames)
    weights = _stacked(rows)
    assert all(np.isfinite(v) for v in weights.values())
    stacked = joined["ensemble_stacked"].to_numpy()
    nan_rows = np.flatnonzero(~np.isfinite(stacked))
    assert set(joined.loc[nan_rows, "bar_at_ms"]) == {bars[nan_fit], bars[nan_eval]}
    assert all(np.isfinite(r[k]) for r in rows for k in ("auc", "log_loss", "accuracy"))
    assert {r["eval_rows"] for r in rows} == {clean_rows[0]["eval_rows"] - 1}


def test_a_day_whose_direction_is_reused_but_another_member_trained_trades_no_ensemble_and_says_which():
    """forward_frame added the ensembles' columns only when every member had calls on the day's bars: with
    direction reused and momentum trained that day the frame had none, no ensemble backtest ran, and nothing
    said so. It still trades no ensemble (its weights combine all three), and names the member that kept it."""
    from python_assets.ml.ensembles import forward_frame

    oos = _frames(_closes())
    day = {m: f[f["bar_at_ms"] >= f["bar_at_ms"].max() - 20 * BAR_MS].drop(columns="label") for m, f in oos.items()}
    frame, missing = forward_frame(oos, day, BAR_MS)
    assert missing == [] and frame[["ensemble_average", "ensemble_stacked"]].notna().all().all()
    partial = {m: f for m, f in day.items() if m != "momentum_classifier"}
    frame, missing = forward_frame(oos, partial, BAR_MS)
    assert missing == ["momentum_classifier"] and "ensemble_stacked" not in frame
    assert len(frame) == len(day["direction_predictor"]) and frame["direction_predictor"].notna().all()
    empty, missing = forward_frame(oos, {}, BAR_MS)
    assert empty.empty and missing == []


def test_the_ensembles_carry_the_newest_members_training_day_and_are_reused_only_when_every_member_is():
    from python_assets.ml.ensembles import trained_marker

    members = list(MEMBERS)
    reused = {m: {"trained_on": "2025-03-09", "reused": True} for m in members}
    assert trained_marker(members, reused) == {"trained_on": "2025-03-09", "reused": True}
    mixed = {**reused, "price_predictor": {"trained_on": "2025-03-10", "reused": False}}
    assert trained_marker(members, mixed) == {"trained_on": "2025-03-10", "reused": False}
    older = {**reused, "momentum_classifier": {"trained_on": "2025-03-08", "reused": True}}
    assert trained_marker(members, older) == {"trained_on": "2025-03-09", "reused": True}
    unsaid = {**reused, "momentum_classifier": {"version": "v"}}  # a pointer written before it said
    assert trained_marker(members, unsaid) == {"trained_on": None, "reused": False}
