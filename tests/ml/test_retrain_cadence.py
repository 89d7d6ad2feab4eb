"""Models retrain every `retrain_every_days`; in between a day's run scores new rows with the saved
version, and only a version trained by the same code, seed, features, timeframe, label, folds, embargo
and training window."""

from __future__ import annotations

import json

import pytest

from dagster_defs.ml.assets import _recent_pointer
from python_assets.ml.artifacts import ModelRun, TrainingSet, read_artifact, staging_file, write_artifact
from python_assets.ml import train
from python_assets.ml.models import MODELS
from python_assets.ml.train import TrainConfig, reusable_version, train_model
from test_models import planted


def _pointer(data_dir, day: str, model: str, **fields) -> None:
    write_artifact(data_dir.ml_runs, day, f"ml_{model}", ModelRun(model, {"version": "v", "directory": "d", **fields}))


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
    # a day that skipped the model (too few labelled rows) names no version: the one before it counts
    write_artifact(data_dir.ml_runs, "2025-03-06", "ml_risk_scorer", ModelRun("risk_scorer", None))
    assert _recent_pointer("risk_scorer", "2025-03-07", 7)["trained_on"] == "2025-03-03"
    # a range run from 03-03 rebuilds the rows the 03-03 version learnt (late ticks, a revised file): it
    # retrains at its last day, as a range build without the earlier runs does; from 03-04 it reuses
    assert _recent_pointer("risk_scorer", "2025-03-07", 7, rebuilt_from="2025-03-03") is None
    assert _recent_pointer("risk_scorer", "2025-03-07", 7, rebuilt_from="2025-03-04")["trained_on"] == "2025-03-03"
    # the newest earlier pointer decides: one without a training day (older code) forces a retrain
    _pointer(data_dir, "2025-03-07", "risk_scorer")
    assert _recent_pointer("risk_scorer", "2025-03-08", 7) is None


@pytest.mark.parametrize("change, reusable", [
    ({}, True),
    ({"seed": 8}, False),
    ({"threads": 2}, False),  # torch's bits depend on the thread count: another version
    ({"fast": False}, False),
    ({"n_folds": 4}, False),  # the version's hash covers its folds and embargo: another setting, another version
    ({"embargo_bars": 48}, False),
    ({"history_days": 90}, False),  # trained on all history, not this run's 90-day window
])
def test_a_saved_version_is_reused_only_under_the_same_code_seed_and_data_shape(tmp_path, change, reusable):
    data = planted(n_times=400)
    config = TrainConfig(n_folds=2, fast=True)
    result = train_model(MODELS["risk_scorer"], data, tmp_path, config)
    other = TrainConfig(**{"n_folds": 2, "fast": True, **change})
    assert reusable_version(MODELS["risk_scorer"], data.features, data.timeframe, result.directory, other) is reusable


def test_a_version_whose_metadata_lacks_a_setting_is_not_reused(tmp_path):
    """Older metadata without the training window's length (or another setting) cannot show a match."""
    data = planted(n_times=400)
    config = TrainConfig(n_folds=2, fast=True)
    result = train_model(MODELS["risk_scorer"], data, tmp_path, config)
    meta_file = result.directory / "metadata.json"
    meta = json.loads(meta_file.read_text())
    assert reusable_version(MODELS["risk_scorer"], data.features, data.timeframe, result.directory, config)
    meta_file.write_text(json.dumps({k: v for k, v in meta.items() if k != "history_days"}))
    assert not reusable_version(MODELS["risk_scorer"], data.features, data.timeframe, result.directory, config)


def test_a_saved_version_is_not_reused_on_other_features_or_a_missing_directory(tmp_path):
    data = planted(n_times=400)
    config = TrainConfig(n_folds=2, fast=True)
    result = train_model(MODELS["risk_scorer"], data, tmp_path, config)
    fewer = data.subset(slice(None))
    fewer.features = data.features[:-1]
    assert not reusable_version(MODELS["risk_scorer"], fewer.features, fewer.timeframe, result.directory, config)
    assert not reusable_version(MODELS["price_predictor"], data.features, data.timeframe, result.directory, config)  # another label
    assert not reusable_version(MODELS["risk_scorer"], data.features, data.timeframe, tmp_path / "gone", config)


def test_the_runs_settings_reach_the_reuse_check():
    from dagster_defs.ml.assets import MlConfig, _train_config

    config = _train_config(MlConfig(n_folds=3, seed=9, fast=True, history_days=90))
    assert (config.n_folds, config.seed, config.fast, config.history_days) == (3, 9, True, 90)


def test_a_model_whose_own_config_refits_on_a_scoring_only_day_reads_its_training_window(data_dir):
    """ml_dataset exported the day for scoring only (under its config every model was reusable), but this
    model's op config refits it (retrain_every_days 0, as a per-op --config may say): the step reads the
    trailing training window itself, checks it for leaks and trains, instead of training on the day."""
    import dagster as dg
    import pandas as pd

    from dagster_defs.ml.assets import MODEL_ASSETS, ml_dataset
    from dagster_defs.resources import MlArtifacts, Warehouse
    from python_assets.ml.dataset import HORIZON_BARS
    from python_assets.platform.timeframes import DAY_MS
    from python_assets.warehouse.connection import connect_warehouse

    data, start = planted(n_times=600), 1_741_392_000_000  # 2025-03-08 00:00 UTC; 600 5m bars reach 03-10
    frame = pd.DataFrame(data.X, columns=data.features).assign(
        symbol=data.symbol, timeframe="5m", bar_at_ms=data.ts + start, baseline_vol_12=data.baseline_vol, close=data.close,
        label_known_at_ms=data.ts + start + (HORIZON_BARS + 1) * data.bar_ms, **data.labels)
    with connect_warehouse(data_dir.warehouse) as con:
        con.execute("create table ml_training_set as select * from frame")
    day_rows = staging_file(data_dir.ml_runs, "2025-03-10", "ml_dataset")
    day_rows.parent.mkdir(parents=True)
    frame[frame["bar_at_ms"] >= start + 2 * DAY_MS].to_parquet(day_rows)  # the day's rows
    write_artifact(data_dir.ml_runs, "2025-03-10", "ml_dataset",
                   TrainingSet(day_rows, data.features, "5m", True, int((frame["bar_at_ms"] >= start + 2 * DAY_MS).sum())))
    asset = next(a for a in MODEL_ASSETS if a.key.path[-1] == "ml_risk_scorer")
    config = {"fast": True, "n_folds": 2, "retrain_every_days": 0}
    result = dg.materialize([ml_dataset, asset], selection=[asset.key], partition_key="2025-03-10",
                            resources={"warehouse": Warehouse(), "ml_artifacts": MlArtifacts()},
                            run_config={"ops": {"ml_risk_scorer": {"config": config}}})
    assert result.success
    pointer = read_artifact(data_dir.ml_runs, "2025-03-10", "ml_risk_scorer").pointer
    meta = json.loads((data_dir.models / "risk_scorer" / pointer["version"] / "metadata.json").read_text())
    assert "reused" not in pointer and pointer["trained_on"] == "2025-03-10"
    assert meta["training_window_ms"][0] == start  # the whole window, not the day's rows
    assert not list((data_dir.ml_runs / "2025-03-10").glob("*.staging.parquet"))  # its own export is not left behind


def test_a_commit_that_changes_no_code_keeps_the_saved_version_and_changed_code_does_not(tmp_path, monkeypatch):
    """The reuse check compares the code by content (code_fingerprint), not by commit: a new commit that touches
    only docs or tests (another code_version, the same fingerprint) keeps the version, which the version still
    stamps with the commit it was trained at; edited code (another fingerprint) retrains."""
    data = planted(n_times=400)
    config = TrainConfig(n_folds=2, fast=True)
    result = train_model(MODELS["risk_scorer"], data, tmp_path, config)
    meta = json.loads((result.directory / "metadata.json").read_text())
    assert meta["code_version"] == train.code_version() and meta["code_fingerprint"] == train.code_fingerprint()
    monkeypatch.setattr(train, "code_version", lambda: "0.1.0+g0000000")  # a README commit
    assert reusable_version(MODELS["risk_scorer"], data.features, data.timeframe, result.directory, config)
    # a day that retrains after it trains the same version (its id follows the code's content, so a rerun
    # of a training day after such a commit writes the same model_version everywhere); the saved folder is
    # kept as it is, not deleted and written again under a run that may be reading it
    inode = (result.directory / "oos.parquet").stat().st_ino
    again = train_model(MODELS["risk_scorer"], data, tmp_path, config)
    assert again.version == result.version and again.directory == result.directory
    assert again.oos.equals(result.oos) and again.latest.equals(result.latest)
    assert (again.directory / "oos.parquet").stat().st_ino == inode
    assert json.loads((again.directory / "metadata.json").read_text()) == meta  # stamped when first trained
    monkeypatch.setattr(train, "code_fingerprint", lambda: "0" * 64)  # edited code
    assert not reusable_version(MODELS["risk_scorer"], data.features, data.timeframe, result.directory, config)
    assert train_model(MODELS["risk_scorer"], data, tmp_path, config).version != result.version
