"""The ML assets' per-day values on disk: the store behind dagster_defs' ML IO manager. One folder per
partition day under ml/, one artifact per asset there: <asset>.json says what it is, beside its Parquet.
Nothing else reads or writes these files, so what flows between the ML assets (and on to the backtests)
is what Dagster's graph shows, and a day's value is found by its day, never by the newest folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from python_assets.lake.store import write_bytes_atomic
from python_assets.ml.dataset import Dataset, load_dataset
from python_assets.platform.timeframes import TIMEFRAME_MS


@dataclass(frozen=True)
class TrainingSet:
    """The rows a day's models may see, exported to Parquet (file), and what they hold; scoring_only:
    only the day's rows and each symbol's newest (every model scores with a saved version)."""

    file: Path
    features: list[str]
    timeframe: str
    scoring_only: bool
    rows: int

    def load(self) -> Dataset:
        return load_dataset(self.file, self.features, TIMEFRAME_MS[self.timeframe])


@dataclass(frozen=True)
class ModelRun:
    """One model's run on a day: the pointer to the version it scores with (None: not enough labelled
    rows, nothing to score with) and, when a saved version was reused, its predictions on the day's rows
    (a version trained today keeps its own under models/)."""

    model: str
    pointer: dict | None
    latest: pd.DataFrame | None = None


@dataclass(frozen=True)
class OutOfSample:
    """Ensemble P(up) per out-of-sample row of the direction models (empty: none ran) and their bar
    timeframe: what the day's ML strategies trade."""

    frame: pd.DataFrame
    timeframe: str | None


Artifact = TrainingSet | ModelRun | OutOfSample


def _files(root: Path, day: str, asset: str) -> tuple[Path, Path]:
    folder = root / day
    return folder / f"{asset}.json", folder / f"{asset}.parquet"


def staging_file(root: Path, day: str, asset: str) -> Path:
    """Where an asset exports a large Parquet before returning it (moved into place by write_artifact)."""
    return root / day / f"{asset}.staging.parquet"


def write_artifact(root: Path, day: str, asset: str, value: Artifact) -> Path:
    """Store an asset's value for a day, replacing what it held (an empty value leaves no Parquet)."""
    meta_file, data_file = _files(root, day, asset)
    data_file.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, TrainingSet):
        if Path(value.file) != data_file:
            os.replace(value.file, data_file)
        meta = {"kind": "training_set", "features": value.features, "timeframe": value.timeframe,
                "scoring_only": value.scoring_only, "rows": value.rows}
    elif isinstance(value, ModelRun):
        _write_frame(value.latest, data_file)
        meta = {"kind": "model_run", "model": value.model, "pointer": value.pointer}
    elif isinstance(value, OutOfSample):
        _write_frame(value.frame, data_file)
        meta = {"kind": "out_of_sample", "timeframe": value.timeframe}
    else:
        raise TypeError(f"{asset}: an ML artifact is a TrainingSet, ModelRun or OutOfSample, not {type(value).__name__}")
    write_bytes_atomic(json.dumps(meta, sort_keys=True).encode(), meta_file)
    return meta_file


def _write_frame(frame: pd.DataFrame | None, target: Path) -> None:
    if frame is None or frame.empty:
        target.unlink(missing_ok=True)
    else:
        write_bytes_atomic(frame.to_parquet(), target)


def read_artifact(root: Path, day: str, asset: str) -> Artifact | None:
    """The asset's stored value for the day (None: never materialized for that day)."""
    meta_file, data_file = _files(root, day, asset)
    try:
        meta = json.loads(meta_file.read_text())
    except FileNotFoundError:
        return None
    kind = meta.get("kind")
    if kind == "training_set":
        return TrainingSet(data_file, meta["features"], meta["timeframe"], meta["scoring_only"], meta["rows"])
    frame = pd.read_parquet(data_file) if data_file.exists() else None
    if kind == "model_run":
        return ModelRun(meta["model"], meta["pointer"], frame)
    if kind == "out_of_sample":
        return OutOfSample(frame if frame is not None else pd.DataFrame(), meta["timeframe"])
    raise ValueError(f"{meta_file}: not an ML artifact (kind {kind!r})")


def require_artifact(root: Path, day: str, asset: str) -> Artifact:
    """The stored value, or one clear line naming the asset and day that must be materialized first."""
    value = read_artifact(root, day, asset)
    if value is None:
        raise FileNotFoundError(f"{asset} has no value for {day}: materialize {asset} for that day first")
    return value


def stored_days(root: Path, asset: str, before: str | None = None) -> list[str]:
    """Days holding a value of the asset, newest first (only days before `before` when given)."""
    if not root.is_dir():
        return []
    days = [d.name for d in root.iterdir() if (d / f"{asset}.json").is_file() and (before is None or d.name < before)]
    return sorted(days, reverse=True)


def model_pointers(root: Path, last_day: str) -> list[tuple[str, dict]]:
    """(model, pointer) of every stored model run of a day <= last_day that names a version."""
    found = []
    for meta_file in sorted(root.glob("*/*.json")) if root.is_dir() else []:
        if meta_file.parent.name > last_day:
            continue
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            found.append((meta_file.stem, {"version": None}))  # unreadable: counts as a missing version
            continue
        if isinstance(meta, dict) and meta.get("kind") == "model_run" and meta.get("pointer"):
            found.append((meta["model"], meta["pointer"]))
    return found
