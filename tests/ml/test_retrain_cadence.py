"""Models retrain every `retrain_every_days`; in between a day's run scores new rows with the saved
version, and only a version trained by the same code, seed, features, timeframe and label."""

from __future__ import annotations

import json

import pytest

from dagster_defs.ml.assets import _recent_pointer
from python_assets.ml.models import MODELS
from python_assets.ml.train import TrainConfig, reusable_version, train_model
from test_models import planted


def _pointer(data_dir, day: str, model: str, **fields) -> None:
    run_dir = data_dir.ml_runs / day
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / f"{model}.json").write_text(json.dumps({"version": "v", "directory": "d", **fields}))


def test_the_newest_earlier_pointer_is_reused_until_it_is_max_age_days_old(data_dir):
    assert _recent_pointer("risk_scorer", "2025-03-10", 7) is None  # no earlier run
    _pointer(data_dir, "2025-03-03", "risk_scorer", trained_on="2025-03-03")
    assert _recent_pointer("risk_scorer", "2025-03-09", 7)["trained_on"] == "2025-03-03"  # 6 days old
    assert _recent_pointer("risk_scorer", "2025-03-10", 7) is None  # 7 days old: retrain
    assert _recent_pointer("risk_scorer", "2025-03-09", 0) is None  # cadence off: always retrain
    assert _recent_pointer("price_predictor", "2025-03-09", 7) is None  # another model
    # a later run that reused the version points to the same training day
    _pointer(data_dir, "2025-03-05", "risk_scorer", trained_on="2025-03-03", reused=True)
    assert _recent_pointer("risk_scorer", "2025-03-06", 7)["trained_on"] == "2025-03-03"
    # only earlier days count: a rerun of 03-05 looks at 03-03, not at its own pointer
    assert "reused" not in _recent_pointer("risk_scorer", "2025-03-05", 7)
    # the newest earlier pointer decides: one without a training day (older code) forces a retrain
    _pointer(data_dir, "2025-03-07", "risk_scorer")
    assert _recent_pointer("risk_scorer", "2025-03-08", 7) is None


@pytest.mark.parametrize("change, reusable", [
    ({}, True),
    ({"seed": 8}, False),
    ({"fast": False}, False),
])
def test_a_saved_version_is_reused_only_under_the_same_code_seed_and_data_shape(tmp_path, change, reusable):
    data = planted(n_times=400)
    config = TrainConfig(n_folds=2, fast=True)
    result = train_model(MODELS["risk_scorer"], data, tmp_path, config)
    other = TrainConfig(n_folds=2, **{"fast": True, **change})
    assert reusable_version(MODELS["risk_scorer"], data.features, data.timeframe, result.directory, other) is reusable


def test_a_saved_version_is_not_reused_on_other_features_or_a_missing_directory(tmp_path):
    data = planted(n_times=400)
    config = TrainConfig(n_folds=2, fast=True)
    result = train_model(MODELS["risk_scorer"], data, tmp_path, config)
    fewer = data.subset(slice(None))
    fewer.features = data.features[:-1]
    assert not reusable_version(MODELS["risk_scorer"], fewer.features, fewer.timeframe, result.directory, config)
    assert not reusable_version(MODELS["price_predictor"], data.features, data.timeframe, result.directory, config)  # another label
    assert not reusable_version(MODELS["risk_scorer"], data.features, data.timeframe, tmp_path / "gone", config)
