"""Train one model: purged walk-forward out-of-sample predictions and scores beside the naive
baseline, then a final fit on every labelled row, saved as a version with its metadata."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from python_assets.lake.atomic import TEMP_PREFIX, fsync_folder, fsync_path
from python_assets.ml import metrics
from python_assets.ml.dataset import HORIZON_BARS, Dataset
from python_assets.ml.learners import load_learner
from python_assets.ml.models import ModelSpec
from python_assets.ml.validation import (LeakageError, check_leakage, embargo_respected, label_known_at,
                                         leakage_report, purged_walk_forward)
from python_assets.platform.version import code_fingerprint, code_version


@dataclass(frozen=True)
class TrainConfig:
    n_folds: int = 4
    embargo_bars: int = HORIZON_BARS  # >= the label horizon
    seed: int = 7
    threads: int = 1
    fast: bool = False  # fewer rounds/epochs (tests)
    history_days: int = 0  # the trailing window (days) the rows were exported under, 0: all history (recorded)


@dataclass
class TrainResult:
    model: str
    version: str
    directory: Path
    scores: list[dict[str, Any]]  # one row per fold (and 'overall') x scorer (model | baseline)
    oos: pd.DataFrame  # bar_at_ms, symbol, label, label_end_ms (when the label closed), prediction columns
    latest: pd.DataFrame  # the newest bar per symbol with its prediction


def _target(spec: ModelSpec, data: Dataset) -> np.ndarray:
    return data.labels[spec.label]


def _baseline(spec: ModelSpec, data: Dataset, train: np.ndarray, test: np.ndarray, y: np.ndarray) -> np.ndarray:
    if spec.baseline in ("majority_class", "base_rate"):
        return metrics.prior_probabilities(y[train], spec.n_classes, len(test))
    if spec.baseline == "persistence":
        return np.nan_to_num(data.baseline_vol[test], nan=float(np.nanmean(y[train])))
    return np.zeros(len(test))


def score(spec: ModelSpec, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return metrics.regression(y, pred) if spec.task == "regression" else metrics.classification(y, pred)


def _prediction_columns(spec: ModelSpec, pred: np.ndarray) -> dict[str, np.ndarray]:
    if spec.task == "multiclass":
        return {"p_down": pred[:, 0], "p_flat": pred[:, 1], "p_up": pred[:, 2]}
    return {"prediction": pred}


def train_model(spec: ModelSpec, data: Dataset, root: Path, config: TrainConfig = TrainConfig()) -> TrainResult:
    """Walk-forward, final fit, save under root/<name>/<version>/; raises LeakageError on a leaking feature."""
    y_all = _target(spec, data)
    labelled = np.flatnonzero(np.isfinite(y_all))
    d = data.subset(labelled)
    y = y_all[labelled]
    past = label_known_at(y_all, data.ts, data.symbol, HORIZON_BARS)[labelled]
    leaks = check_leakage(d.X, d.features, y, past)
    if leaks:
        raise LeakageError(f"{spec.name}: feature(s) {leaks} track the forward label {spec.label}: not known at t")
    horizon_ms = HORIZON_BARS * data.bar_ms
    folds = purged_walk_forward(d.ts, config.n_folds, horizon_ms, config.embargo_bars * data.bar_ms,
                                label_end=d.label_end_ms)
    scores, oos_parts, by_scorer = [], [], {"model": [], "baseline": []}
    for k, (train, test) in enumerate(folds, 1):
        assert embargo_respected(d.ts, train, test, horizon_ms, d.label_end_ms)
        learner = spec.learner(config.seed, config.threads, config.fast).fit(d.X[train], y[train])
        pred = learner.predict(d.X[test])
        base = _baseline(spec, d, train, test, y)
        window = {"fold": f"f{k}", "train_rows": len(train), "test_rows": len(test),
                  "train_start_ms": int(d.ts[train].min()), "train_end_ms": int(d.ts[train].max()),
                  "test_start_ms": int(d.ts[test].min()), "test_end_ms": int(d.ts[test].max())}
        by_scorer["model"].append(score(spec, y[test], pred))
        by_scorer["baseline"].append(score(spec, y[test], base))
        scores.extend({**window, "scorer": s, **by_scorer[s][-1]} for s in ("model", "baseline"))
        oos_parts.append(pd.DataFrame({"bar_at_ms": d.ts[test], "symbol": d.symbol[test], "fold": f"f{k}",
                                       "label": y[test], "label_end_ms": d.label_end_ms[test],
                                       **_prediction_columns(spec, pred),
                                       "baseline": base if base.ndim == 1 else base[:, -1]}))
    oos = pd.concat(oos_parts, ignore_index=True) if oos_parts else pd.DataFrame()
    if len(oos):  # the mean of the folds' scores (metrics.mean_of_folds), not one score of their rows pooled
        overall = {"fold": "overall", "train_rows": None, "test_rows": len(oos), "train_start_ms": None,
                   "train_end_ms": None, "test_start_ms": int(oos.bar_at_ms.min()), "test_end_ms": int(oos.bar_at_ms.max())}
        scores.extend({**overall, "scorer": s, **metrics.mean_of_folds(by_scorer[s])} for s in ("model", "baseline"))
    final = spec.learner(config.seed, config.threads, config.fast).fit(d.X, y)
    # everything the version's folder holds depends on: every row (the newest, unlabelled ones give latest),
    # the baseline's inputs, the folds, the code by content (a docs-only commit trains the same version), and the
    # seed and thread count (the learners are deterministic for both: torch's sums split by thread differ in bits)
    version = hashlib.sha256(json.dumps([spec.name, data.data_hash, code_fingerprint(), config.seed, config.threads,
                                         config.fast, config.n_folds, config.embargo_bars]).encode()).hexdigest()[:12]
    directory = root / spec.name / version
    latest = latest_predictions(spec, final, data)
    meta = {"model": spec.name, "version": version, "task": spec.task, "label": spec.label, "backend": spec.backend,
            "features": d.features, "timeframe": data.timeframe, "horizon_bars": HORIZON_BARS,
            "training_window_ms": [int(d.ts.min()), int(d.ts.max())], "training_rows": int(len(y)),
            "data_hash": data.data_hash, "code_version": code_version(), "code_fingerprint": code_fingerprint(),
            "seed": config.seed, "threads": config.threads, "n_folds": config.n_folds,
            "embargo_bars": config.embargo_bars, "fast": config.fast, "history_days": config.history_days,
            "scores": scores}

    def write(staging: Path) -> None:
        """The version's files: the fitted model, its metadata, out-of-sample and latest predictions."""
        final.save(staging)
        (staging / "metadata.json").write_bytes(json.dumps(_clean(meta), indent=2).encode())
        oos.to_parquet(staging / "oos.parquet")
        latest.to_parquet(staging / "latest.parquet")

    save_version(directory, write)
    return TrainResult(spec.name, version, directory, scores, oos, latest)


def fit_version(spec: ModelSpec, source: Any, root: Path, config: TrainConfig, min_rows: int) -> TrainResult | int:
    """train_model on source (a Dataset, or what loads one: the exported training set, read by the process that
    trains), its oos and latest frames left out (saved in the version's folder), or, under min_rows labelled
    rows, their count (nothing trained). The model steps run it in a child process, so their Dagster process
    never holds torch, xgboost, the rows or a fit's high-water mark."""
    data = source if isinstance(source, Dataset) else source.load()
    labelled = int(np.count_nonzero(~np.isnan(data.labels[spec.label])))
    if labelled < min_rows:
        return labelled
    result = train_model(spec, data, root, config)
    return replace(result, oos=result.oos.iloc[:0], latest=result.latest.iloc[:0])


def source_leaks(source: Any) -> dict[str, list[str]]:
    """leakage_report of the training set source loads (run in a child process by the leak check)."""
    return leakage_report(source.load(), HORIZON_BARS)


def save_version(directory: Path, write: Callable[[Path], None]) -> None:
    """Have write fill a staging folder beside directory, fsync it, then rename it into place: a killed run
    (or a crash) never leaves a half-saved version, and a failed one (a full disk) leaves no staging folder
    either. A saved version that reads back is kept as it is: its id hashes its data, code and settings, so a
    retrain that names it made the same files, and replacing them would pull them from under a run reading
    them. One that does not (a truncated model file, torn metadata, a missing out-of-sample file) is
    replaced: it could only fail every day that reuses it."""
    if directory.exists() and version_problem(directory) is None:
        return
    staging = directory.parent / f"{TEMP_PREFIX}{directory.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        write(staging)
        (staging / CHECKSUMS).write_text(json.dumps(_file_digests(staging), sort_keys=True))
        fsync_folder(staging)
        _swap_in(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, directory: Path) -> None:
    """Rename staging to directory, a damaged folder there moved aside first and removed only once the new
    one is in place; another process that saved a readable copy of the same version first wins."""
    if directory.exists() and version_problem(directory) is None:  # saved readable since save_version looked
        shutil.rmtree(staging, ignore_errors=True)
        return
    aside = directory.parent / f"{TEMP_PREFIX}damaged-{directory.name}-{os.getpid()}"  # swept as staging is
    shutil.rmtree(aside, ignore_errors=True)
    try:
        os.replace(directory, aside)  # unreadable: checked just above
    except FileNotFoundError:
        pass  # nothing saved yet, or another process moved it aside first
    try:
        os.replace(staging, directory)
    except OSError:
        if version_problem(directory) is not None:  # not another process saving the same version first
            raise
        shutil.rmtree(staging, ignore_errors=True)
    fsync_path(directory.parent)
    shutil.rmtree(aside, ignore_errors=True)


CHECKSUMS = "checksums.json"  # {file: sha256} of a saved version's files, written last into its staging folder
VERSION_FILES = ("metadata.json", "learner.json", "oos.parquet", "latest.parquet")  # every version has these


def _file_digests(folder: Path) -> dict[str, str]:
    """{file name: sha256} of a version folder's files, its CHECKSUMS file left out."""
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())
            if f.is_file() and f.name != CHECKSUMS}


def version_problem(directory: Path) -> str | None:
    """Why the saved version at directory cannot be trusted, in one line (None: it can): a file missing or
    unlike the checksum it was saved with (truncated, torn, replaced). Checksums, not loads: the reuse check
    runs in the Dagster step and must not import xgboost there (~180 MiB); a version saved before its
    folder had CHECKSUMS is loaded instead."""
    try:
        if not (directory / CHECKSUMS).exists():
            return _load_problem(directory)
        want, got = json.loads((directory / CHECKSUMS).read_text()), _file_digests(directory)
    except (OSError, ValueError) as exc:
        return _one_line(exc)
    unlisted = [name for name in VERSION_FILES if name not in want]
    bad = [name for name in sorted(want) if got.get(name) != want[name]]
    if unlisted:
        return f"{CHECKSUMS} does not list {unlisted[0]}"
    return f"{bad[0]} {'is missing' if bad[0] not in got else 'differs from its saved checksum'}" if bad else None


def _load_problem(directory: Path) -> str | None:
    """version_problem of a version without CHECKSUMS: what fails to load (metadata, model, predictions)."""
    try:
        json.loads((directory / "metadata.json").read_text())
        load_learner(directory)
        for name in ("oos.parquet", "latest.parquet"):
            pq.read_table(directory / name)
    except Exception as exc:  # noqa: BLE001 - any reader's error means the same: the version is unusable
        return _one_line(exc)
    return None


def _one_line(exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {detail[0][:200] if detail else ''}".rstrip(": ")


def latest_predictions(spec: ModelSpec, learner: Any, data: Dataset) -> pd.DataFrame:
    """The prediction on the newest bar of each symbol the version saw (its latest.parquet; the day's call is
    calls_of_day of it: a version is the same whichever day trained it, so it holds no day's cut)."""
    return _predictions_at(spec, learner, data, _newest_rows(data))


def day_predictions(spec: ModelSpec, learner: Any, data: Dataset, from_ms: int) -> pd.DataFrame:
    """A saved version's predictions on every bar from from_ms (the day's start) on: a day it scores with a
    version trained before it, they are forward out-of-sample calls the ML strategies trade. A symbol with
    no bar since from_ms (it stopped trading) has none: its newest bar is no call of the day."""
    return _predictions_at(spec, learner, data, np.flatnonzero(data.ts >= from_ms))


def _newest_rows(data: Dataset) -> np.ndarray:
    """The row index of each symbol's newest bar, in row order."""
    newest = pd.DataFrame({"i": np.arange(len(data.ts)), "symbol": data.symbol}).groupby("symbol")["i"].max()
    return np.sort(newest.to_numpy())


def _predictions_at(spec: ModelSpec, learner: Any, data: Dataset, idx: np.ndarray) -> pd.DataFrame:
    """symbol, bar_at_ms and the prediction columns of the rows idx (sorted row indices)."""
    pred = learner.predict(data.X[idx]) if len(idx) else np.empty((0, 3) if spec.task == "multiclass" else 0)
    return pd.DataFrame({"symbol": data.symbol[idx], "bar_at_ms": data.ts[idx], **_prediction_columns(spec, pred)})


def calls_of_day(frame: pd.DataFrame, from_ms: int) -> pd.DataFrame:
    """Today's call: each symbol's newest row among the bars opened at or after from_ms (the partition day's
    start; the rows end at its end). A symbol without a bar that day (delisted, stopped trading) gets no row:
    its newest bar, however old, was reported beside the day's calls with nothing to tell them apart."""
    return newest_per_symbol(frame[frame["bar_at_ms"] >= from_ms])


def newest_per_symbol(frame: pd.DataFrame) -> pd.DataFrame:
    """Each symbol's newest row, in (bar_at_ms, symbol) order."""
    newest = frame.sort_values(["bar_at_ms", "symbol"], kind="stable").groupby("symbol", sort=False).tail(1)
    return newest.sort_values(["bar_at_ms", "symbol"], kind="stable").reset_index(drop=True)


def reuse_settings(spec: ModelSpec, features: list[str], timeframe: str, config: TrainConfig) -> dict[str, Any]:
    """Every setting a version is trained under (its code by content, not by commit: a commit that changes no
    code keeps the saved versions; and the training window's length): a saved version scores new rows only
    where all of them match."""
    return {"code_fingerprint": code_fingerprint(), "features": list(features), "timeframe": timeframe,
            "label": spec.label, "seed": config.seed, "threads": config.threads, "fast": config.fast, "n_folds": config.n_folds,
            "embargo_bars": config.embargo_bars, "history_days": config.history_days}


def reusable_version(spec: ModelSpec, features: list[str], timeframe: str, directory: Path, config: TrainConfig) -> bool:
    """True when the saved version at `directory` was trained under these settings (reuse_settings: code by
    content, features, timeframe, label, seed, threads, folds, embargo, training window), so it can score new rows until
    the next scheduled retrain, and every file of it reads back (version_problem); metadata without one of the
    settings (older code) is not reused."""
    try:
        meta = json.loads((directory / "metadata.json").read_text())
    except (OSError, ValueError):
        return False  # missing or torn: retrained (version_problem says why)
    settings = reuse_settings(spec, features, timeframe, config)
    return all(k in meta and meta[k] == v for k, v in settings.items()) and version_problem(directory) is None


def _clean(v: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    return v


def reload_predictions(directory: Path, X: np.ndarray) -> np.ndarray:
    """Predictions of a saved version (the reproducibility check)."""
    return load_learner(directory).predict(X)
