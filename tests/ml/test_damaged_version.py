"""A saved version whose files do not read back (a truncated model file, torn metadata, a missing
out-of-sample file) is no version: the daily run says so in one line and retrains it, and the retrain
replaces the damaged folder with the files a clean run saves. Before, only metadata.json's existence was
checked, so a damaged version failed every day that reused it and a retrain kept the damaged files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from python_assets.ml import train
from python_assets.ml.learners import load_learner
from python_assets.ml.models import MODELS
from python_assets.ml.train import TrainConfig, reusable_version, train_model
from test_models import planted

CONFIG = TrainConfig(n_folds=2, fast=True, history_days=180)  # MlConfig(fast=True, n_folds=2)'s


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = [
    pytest.param("direction_predictor", "model.ubj", _truncate, "model.ubj differs from its saved checksum",
                 id="xgboost-model-truncated"),
    pytest.param("risk_scorer", "weights.npz", _truncate, "weights.npz differs from its saved checksum",
                 id="torch-weights-truncated"),
    pytest.param("direction_predictor", "metadata.json", _truncate, "metadata.json differs from its saved checksum",
                 id="metadata-torn"),
    pytest.param("risk_scorer", "oos.parquet", Path.unlink, "oos.parquet is missing", id="oos-missing"),
]


@pytest.mark.parametrize("name, file, damage, error", DAMAGES)
def test_a_damaged_version_is_not_reused_and_a_retrain_replaces_it_with_a_clean_runs_files(
        tmp_path, name, file, damage, error):
    data, spec = planted(n_times=400), MODELS[name]
    clean = train_model(spec, data, tmp_path / "clean", CONFIG)
    saved = train_model(spec, data, tmp_path / "models", CONFIG)
    damage(saved.directory / file)
    assert not reusable_version(spec, data.features, data.timeframe, saved.directory, CONFIG)  # no exception
    assert train.version_problem(saved.directory).startswith(error)
    again = train_model(spec, data, tmp_path / "models", CONFIG)
    assert again.version == clean.version == saved.version and again.directory == saved.directory
    assert train.version_problem(again.directory) is None
    assert reusable_version(spec, data.features, data.timeframe, again.directory, CONFIG)
    assert sorted(p.name for p in again.directory.iterdir()) == sorted(p.name for p in clean.directory.iterdir())
    for f in clean.directory.iterdir():
        if f.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(again.directory / f.name), pd.read_parquet(f))
        else:
            assert (again.directory / f.name).read_bytes() == f.read_bytes(), f.name
    assert (load_learner(again.directory).predict(data.X) == load_learner(clean.directory).predict(data.X)).all()
    assert not [p.name for p in (tmp_path / "models" / name).iterdir() if p.name != saved.version]  # nothing aside


def test_a_readable_saved_version_is_kept_as_it_is(tmp_path):
    """A retrain naming a version that reads back leaves its folder alone (a run may be reading it)."""
    data, spec = planted(n_times=400), MODELS["direction_predictor"]
    saved = train_model(spec, data, tmp_path, CONFIG)
    inode = (saved.directory / "model.ubj").stat().st_ino
    train_model(spec, data, tmp_path, CONFIG)
    assert (saved.directory / "model.ubj").stat().st_ino == inode


def test_a_versions_files_and_folder_are_fsynced_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    """As the lake's files: a crash after the rename must not find a saved version of empty files."""
    synced: list[str] = []
    fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), fsync(fd))[1])
    renamed: list[str] = []
    replace = os.replace
    monkeypatch.setattr(train.os, "replace", lambda a, b: (renamed.append(str(a)), replace(a, b))[1])
    result = train_model(MODELS["direction_predictor"], planted(n_times=400), tmp_path, CONFIG)
    staging = renamed[-1]
    assert {f"{staging}/{p.name}" for p in result.directory.iterdir()} | {staging} <= set(synced)
    assert str(result.directory.parent) in synced  # the rename itself


def test_the_reuse_check_says_which_folder_cannot_be_read_and_why(data_dir):
    """The model's step logs one line naming the folder and the error; ml_dataset's check (no log) does not
    fail on torn metadata either: it exports the training rows, as for any model that retrains."""
    from dagster_defs.ml.assets import MlConfig, _reusable_prior
    from python_assets.ml.artifacts import ModelRun, write_artifact

    data, spec = planted(n_times=400), MODELS["direction_predictor"]
    result = train_model(spec, data, data_dir.models, CONFIG)
    write_artifact(data_dir.ml_runs, "2025-03-09", "ml_direction_predictor", ModelRun(spec.name, {
        "version": result.version, "directory": data_dir.stored(result.directory), "timeframe": "5m",
        "trained_on": "2025-03-09"}))
    config = MlConfig(fast=True, n_folds=2)

    class Log:
        lines: list[str] = []

        def warning(self, line: str) -> None:
            self.lines.append(line)

    assert _reusable_prior(spec.name, "2025-03-10", data.features, "5m", config, "2025-03-10")
    _truncate(result.directory / "metadata.json")
    assert _reusable_prior(spec.name, "2025-03-10", data.features, "5m", config, "2025-03-10") is None
    assert _reusable_prior(spec.name, "2025-03-10", data.features, "5m", config, "2025-03-10", Log()) is None
    assert len(Log.lines) == 1 and str(result.directory) in Log.lines[0] and "metadata.json differs" in Log.lines[0]
    assert "ml_version_unreadable" in data_dir.log_file.read_text()
    shutil.rmtree(result.directory)  # a pointer to a folder gone (a data dir moved): retrained, nothing to say
    assert _reusable_prior(spec.name, "2025-03-10", data.features, "5m", config, "2025-03-10", Log()) is None
    assert len(Log.lines) == 1


def test_a_readable_copy_saved_by_another_run_meanwhile_is_kept_not_moved_aside(tmp_path):
    """Two runs training one version: B looked (nothing saved), A saved a readable copy, then B swaps its
    staging in. B moved A's good copy aside unchecked (and a kill between its two renames left none);
    B's swap now finds it readable and drops its own staging."""
    saved = train_model(MODELS["direction_predictor"], planted(n_times=400), tmp_path, CONFIG)
    inode = (saved.directory / "model.ubj").stat().st_ino
    staging = saved.directory.parent / f".tmp-{saved.directory.name}-other"
    shutil.copytree(saved.directory, staging)
    train._swap_in(staging, saved.directory)
    assert (saved.directory / "model.ubj").stat().st_ino == inode and not staging.exists()
    assert [p.name for p in saved.directory.parent.iterdir()] == [saved.directory.name]


def test_a_version_saved_without_checksums_is_judged_by_loading_it(tmp_path):
    """A version saved before its folder had checksums.json (older code) is still checked: by loading it."""
    data, spec = planted(n_times=400), MODELS["direction_predictor"]
    saved = train_model(spec, data, tmp_path, CONFIG)
    (saved.directory / train.CHECKSUMS).unlink()
    assert train.version_problem(saved.directory) is None
    _truncate(saved.directory / "model.ubj")
    assert train.version_problem(saved.directory).startswith("XGBoostError")


def test_checking_a_saved_version_does_not_import_the_model_libraries(tmp_path):
    """The reuse check runs in the Dagster step (ml_dataset asks for all five models): loading an xgboost
    model there held ~180 MiB for the rest of the step; the checksums need no model library."""
    import subprocess
    import sys

    saved = train_model(MODELS["direction_predictor"], planted(n_times=400), tmp_path, CONFIG)
    code = ("import sys; from pathlib import Path; from python_assets.ml.train import version_problem; "
            f"assert version_problem(Path({str(saved.directory)!r})) is None; "
            "print(sorted(m for m in ('xgboost', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
