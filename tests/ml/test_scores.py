"""Scores a model is judged by: a NaN prediction scores nothing, the base-rate baseline is smoothed (a
class missing from a training fold is not impossible), and the overall row is the mean of the folds
(a constant baseline stays at exactly no skill however the base rate drifts between folds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from python_assets.ml.dataset import Dataset
from python_assets.ml.metrics import classification, mean_of_folds, prior_probabilities, regression
from python_assets.ml.models import MODELS
from python_assets.ml.train import TrainConfig, train_model
from test_models import planted


@pytest.mark.parametrize("proba", [[np.nan, 0.9, 0.2, 0.8], [0.1, np.nan, 0.2, 0.8]])
def test_a_nan_probability_makes_every_classification_score_nan(proba):
    """A NaN on a negative gave AUC 0.5 (its rank left the positives' sum but it still counted as a
    negative) and accuracy 1.0 (argmax of NaN is class 0)."""
    m = classification(np.array([0, 1, 0, 1]), np.array(proba))
    assert m["n"] == 4 and all(math.isnan(m[k]) for k in ("accuracy", "balanced_accuracy", "log_loss", "auc"))
    three = np.array([[0.2, 0.3, 0.5], [np.nan, 0.5, 0.5], [0.6, 0.2, 0.2]])
    assert math.isnan(classification(np.array([2, 1, 0]), three)["auc"])


def test_a_nan_prediction_makes_every_regression_score_nan():
    m = regression(np.array([0.1, -0.2, 0.3, 0.05]), np.array([0.1, np.nan, 0.2, 0.0]))
    assert m["n"] == 4 and all(math.isnan(m[k]) for k in ("mae", "rmse", "r2", "ic", "rank_ic"))


@pytest.mark.parametrize("label", [np.nan, np.inf])
def test_a_label_that_is_not_finite_makes_every_score_nan(label):
    # y = [0, 1, nan] raised IndexError (NaN cast to int indexes column -2**63); an infinite regression
    # label gave MAE inf beside a rank IC of 0.5: no label, no score, as for a NaN prediction
    m = classification(np.array([0, 1, label]), np.array([0.2, 0.8, 0.5]))
    assert m["n"] == 3 and all(math.isnan(m[k]) for k in ("accuracy", "balanced_accuracy", "log_loss", "auc"))
    m = classification(np.array([0.0, 1.0, label]), np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]))
    assert m["n"] == 3 and all(math.isnan(m[k]) for k in ("accuracy", "balanced_accuracy", "log_loss", "auc"))
    m = regression(np.array([0.0, 1.0, label]), np.array([0.2, 0.8, 0.5]))
    assert m["n"] == 3 and all(math.isnan(m[k]) for k in ("mae", "rmse", "r2", "ic", "rank_ic"))


def test_the_base_rate_is_laplace_smoothed_so_a_class_absent_in_training_is_not_impossible():
    sk = pytest.importorskip("sklearn.metrics")
    p = prior_probabilities(np.zeros(1000), 2, 100)
    assert p[0] == 1 / 1002  # (0 + 1) / (1000 + 2)
    y = np.r_[np.ones(5), np.zeros(95)]
    loss = classification(y, p)["log_loss"]
    assert loss == pytest.approx(sk.log_loss(y, p), rel=1e-12)
    assert loss == pytest.approx(-(5 * math.log(1 / 1002) + 95 * math.log(1001 / 1002)) / 100, rel=1e-12)
    assert loss < 0.4  # unsmoothed: P(1) = 0, clipped at 1e-15: 34.5 per positive, 1.73 here
    np.testing.assert_array_equal(prior_probabilities(np.array([0, 2, 2, 1, 2]), 3, 2),
                                  np.tile([2 / 8, 2 / 8, 4 / 8], (2, 1)))


def drifting(n_times: int = 1200) -> Dataset:
    """planted(), but the share of up moves rises from 20 % to 80 % over time: each fold's training prior
    differs from the next fold's test rate."""
    data = planted(n_times=n_times)
    rng = np.random.default_rng(9)
    share = np.linspace(0.2, 0.8, len(data.ts))
    data.labels["fwd_direction_12"] = (rng.random(len(data.ts)) < share).astype(float)
    return data


def test_the_overall_row_is_the_mean_of_the_folds_and_a_constant_baseline_stays_at_no_skill(tmp_path):
    """Pooling the folds' predictions ranked one fold's constant against another's: the base-rate
    baseline got a pooled AUC away from 0.5 on a drifting base rate (the review: 0.44 to 0.48)."""
    result = train_model(MODELS["direction_predictor"], drifting(), tmp_path, TrainConfig(n_folds=4, fast=True))
    for scorer in ("model", "baseline"):
        folds = [s for s in result.scores if s["scorer"] == scorer and s["fold"] != "overall"]
        (overall,) = [s for s in result.scores if s["scorer"] == scorer and s["fold"] == "overall"]
        assert len(folds) == 4 and overall["n"] == sum(s["n"] for s in folds) == overall["test_rows"]
        for key in ("accuracy", "balanced_accuracy", "log_loss", "auc"):
            assert overall[key] == pytest.approx(np.mean([s[key] for s in folds]), rel=1e-12), key
        if scorer == "baseline":
            assert overall["auc"] == 0.5 and all(s["auc"] == 0.5 for s in folds)


def test_the_mean_of_folds_leaves_out_a_fold_where_a_score_is_undefined():
    folds = [{"auc": math.nan, "log_loss": 0.5, "n": 10.0}, {"auc": 0.7, "log_loss": 0.7, "n": 30.0}]
    assert mean_of_folds(folds) == {"auc": 0.7, "log_loss": pytest.approx(0.6), "n": 40.0}
    assert math.isnan(mean_of_folds([{"auc": math.nan, "n": 5.0}])["auc"])
