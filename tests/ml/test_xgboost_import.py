"""Boosters are trained and scored without importing scikit-learn (xgboost's import pulls it in for its
sklearn-API wrappers only), and give the same bits as with scikit-learn loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("xgboost")

ROOT = Path(__file__).resolve().parents[2]  # the tree under test, not whatever the venv's editable install names

_TRAIN = """
import hashlib, sys
from pathlib import Path
import numpy as np
{preload}
from python_assets.ml.learners import XgbLearner, load_learner
rng = np.random.default_rng(5)
X = rng.normal(size=(600, 6)); X[::7, 2] = np.nan
y = (X[:, 0] + 0.3 * rng.normal(size=600) > 0).astype(float)
learner = XgbLearner("binary", seed=3, threads=1, rounds=25).fit(X, y)
learner.save(Path(sys.argv[1]))
again = load_learner(Path(sys.argv[1])).predict(X)
assert np.array_equal(again, learner.predict(X))
import sklearn.base  # still importable afterwards
print(hashlib.sha256(again.tobytes()).hexdigest())
"""


def _run(tmp: Path, preload: str) -> str:
    """The hash of a saved-and-reloaded booster's predictions, trained in a fresh process."""
    return subprocess.run([sys.executable, "-c", _TRAIN.format(preload=preload), str(tmp)], capture_output=True,
                          text=True, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.strip()


def test_training_and_scoring_a_booster_import_no_sklearn_until_asked(tmp_path):
    """A fit and a prediction leave no sklearn module loaded, and xgboost's own record says it saw none."""
    pytest.importorskip("sklearn")
    code = """
import sys
import numpy as np
from python_assets.ml.learners import XgbLearner
XgbLearner("regression", rounds=3).fit(np.arange(40.0).reshape(20, 2), np.arange(20.0))
import xgboost.compat
print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'), xgboost.compat.SKLEARN_INSTALLED)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[] False"


def test_a_booster_gives_the_same_bits_with_and_without_sklearn_loaded(tmp_path):
    """Trained, saved, reloaded and scored in a fresh process each: with scikit-learn imported before xgboost
    (xgboost's wrappers built on it) and without (the path the pipeline takes); sklearn imports afterwards."""
    pytest.importorskip("sklearn")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    without = _run(tmp_path / "a", "")
    with_sklearn = _run(tmp_path / "b", "import sklearn.base")
    assert without == with_sklearn and len(without) == 64
    assert (tmp_path / "a" / "model.ubj").read_bytes() == (tmp_path / "b" / "model.ubj").read_bytes()
