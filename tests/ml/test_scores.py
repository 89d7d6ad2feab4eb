"""Scores a model is judged by: a NaN prediction scores nothing, the base-rate baseline is smoothed (a
class missing from a training fold is not impossible)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from python_assets.ml.metrics import classification, prior_probabilities, regression


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
