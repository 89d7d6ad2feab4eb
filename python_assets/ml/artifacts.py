"""The ML assets' per-day values on disk: the store behind dagster_defs' ML IO manager. One folder per
partition day under ml/, one artifact per asset there: <asset>.json says what it is, beside its Parquet.
Nothing else reads or writes these files, so what flows between the ML assets (and on to the backtests)
is what Dagster's graph shows, and a day's value is found by its day, never by the newest folder."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from python_assets.lake.atomic import TEMP_PREFIX, write_bytes_atomic
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
    timeframe: what the day's ML strategies trade (a day scored with saved versions: the day's bars)."""

    frame: pd.DataFrame
    timeframe: str | None


Artifact = TrainingSet | ModelRun | OutOfSample


def _meta_file(root: Path, day: str, asset: str) -> Path:
    return root / day / f"{asset}.json"


def staging_file(root: Path, day: str, asset: str) -> Path:
    """Where an asset exports a large Parquet before returning it (moved into place by write_artifact); a
    temp name (TEMP_PREFIX), so the one a killed step leaves is swept like any writer's temp file."""
    return root / day / f"{TEMP_PREFIX}{asset}.staging.parquet"


def _token(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def write_artifact(root: Path, day: str, asset: str, value: Artifact) -> Path:
    """Store an asset's value for a day, replacing what it held. The Parquet goes first, under a name
    derived from what it holds, and the JSON last names it: a crash between the two leaves the old
    JSON with the old Parquet it names, never a mix. Parquet files no JSON names are removed after."""
    meta_file = _meta_file(root, day, asset)
    meta_file.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, TrainingSet):
        meta = {"kind": "training_set", "features": value.features, "timeframe": value.timeframe,
                "scoring_only": value.scoring_only, "rows": value.rows}
        data = f"{asset}.{_token(meta, Path(value.file).stat().st_size)}.parquet"
        if Path(value.file) != meta_file.parent / data:
            os.replace(value.file, meta_file.parent / data)
    elif isinstance(value, ModelRun):
        meta = {"kind": "model_run", "model": value.model, "pointer": value.pointer}
        data = _write_frame(value.latest, meta_file.parent, asset, meta)
    elif isinstance(value, OutOfSample):
        meta = {"kind": "out_of_sample", "timeframe": value.timeframe}
        data = _write_frame(value.frame, meta_file.parent, asset, meta)
    else:
        raise TypeError(f"{asset}: an ML artifact is a TrainingSet, ModelRun or OutOfSample, not {type(value).__name__}")
    write_bytes_atomic(json.dumps({**meta, "data": data}, sort_keys=True).encode(), meta_file)
    for stale in meta_file.parent.glob(f"{asset}.*.parquet"):
        if stale.name != data:
            stale.unlink(missing_ok=True)
    return meta_file


def _write_frame(frame: pd.DataFrame | None, folder: Path, asset: str, meta: dict) -> str | None:
    """The frame's Parquet under a name from its bytes (None: no frame; an empty one is kept, empty)."""
    if frame is None:
        return None
    payload = frame.to_parquet()
    name = f"{asset}.{_token(meta, hashlib.sha256(payload).hexdigest())}.parquet"
    write_bytes_atomic(payload, folder / name)
    return name


def _read_meta(root: Path, day: str, asset: str) -> dict | None:
    try:
        return json.loads(_meta_file(root, day, asset).read_text())
    except FileNotFoundError:
        return _legacy_meta(root / day, asset)


def read_artifact(root: Path, day: str, asset: str) -> Artifact | None:
    """The asset's stored value for the day (None: never materialized for that day)."""
    meta = _read_meta(root, day, asset)
    if meta is None:
        return None
    data_file = root / day / meta["data"] if meta.get("data") else None
    kind = meta.get("kind")
    if kind == "training_set":
        return TrainingSet(data_file, meta["features"], meta["timeframe"], meta["scoring_only"], meta["rows"])
    frame = pd.read_parquet(data_file) if data_file is not None and data_file.exists() else None
    if kind == "model_run":
        return ModelRun(meta["model"], meta["pointer"], frame)
    if kind == "out_of_sample":
        return OutOfSample(frame if frame is not None else pd.DataFrame(), meta["timeframe"])
    raise ValueError(f"{_meta_file(root, day, asset)}: not an ML artifact (kind {kind!r})")


def model_pointer(root: Path, day: str, asset: str) -> dict | None:
    """A stored model run's pointer, read without its predictions (None: no run, or it named no version)."""
    meta = _read_meta(root, day, asset)
    return meta.get("pointer") if meta and meta.get("kind") == "model_run" else None


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
    days = [d.name for d in root.iterdir() if (before is None or d.name < before)
            and ((d / f"{asset}.json").is_file() or _legacy_meta(d, asset) is not None)]
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
        elif isinstance(meta, dict) and "kind" not in meta and "version" in meta:
            found.append((meta_file.stem, meta))  # a pointer of the layout before these artifacts
    return found


# ---- the layout before per-asset artifacts (data dirs made by earlier versions), read only ----------
def _legacy_meta(folder: Path, asset: str) -> dict | None:
    """A day's value as earlier versions stored it: features.json + training.parquet (ml_dataset),
    <model>.json + <model>.latest.parquet (ml_<model>), oos_direction.parquet beside the direction
    model's pointer (ml_results); None when the day has none. New runs write the new layout."""
    try:
        if asset == "ml_dataset":
            if not (folder / "training.parquet").is_file():
                return None
            meta = json.loads((folder / "features.json").read_text())
            rows = pq.ParquetFile(folder / "training.parquet").metadata.num_rows
            return {"kind": "training_set", "features": meta["features"], "timeframe": meta["timeframe"],
                    "scoring_only": bool(meta.get("scoring_only")), "rows": rows, "data": "training.parquet"}
        if asset == "ml_results":
            pointer = folder / "direction_predictor.json"
            if not (folder / "oos_direction.parquet").is_file():
                return None
            timeframe = json.loads(pointer.read_text())["timeframe"] if pointer.is_file() else None
            return {"kind": "out_of_sample", "timeframe": timeframe, "data": "oos_direction.parquet"}
        if asset.startswith("ml_"):
            model = asset[len("ml_"):]
            ref = json.loads((folder / f"{model}.json").read_text())
            latest = folder / f"{model}.latest.parquet"
            return {"kind": "model_run", "model": model, "pointer": ref,
                    "data": latest.name if latest.is_file() else None}
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None
