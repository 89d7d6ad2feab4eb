"""ML assets: the training set exported once, five model assets (separate steps, so the
multiprocess executor trains them concurrently), and the ensembles/results asset that writes
ml_model_results, ml_ensembles and ml_predictions. What flows between them (the training set, each
model's run, the out-of-sample P(up) the backtests trade) is each asset's value, stored per day by
the ml_artifacts IO manager."""

import json
import logging
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field, field_validator
import pandas as pd
from dagster_dbt import get_asset_key_for_model

from dagster_defs.computed_days import mark_days_computed
from dagster_defs.dbt.assets import warehouse_dbt_assets
from dagster_defs.partitions import daily_partitions, day_start_ms, window_days
from dagster_defs.resources import ML_ARTIFACTS, WAREHOUSE_POOL, Warehouse
from python_assets.backtest.catalog import registered_features
from python_assets.config import paths
from python_assets.platform.fanout import in_child
from python_assets.platform.logs import log_event
from python_assets.ml.artifacts import (ModelRun, OutOfSample, TrainingSet, model_pointer, require_artifact,
                                        staging_file, stored_days)
from python_assets.ml.dataset import HORIZON_BARS, Dataset, export_training_set, load_dataset, numeric_features
from python_assets.ml.ensembles import build_ensembles, forward_frame, trained_marker
from python_assets.ml.models import MODELS
from python_assets.reports import fmt
from python_assets.ml.store import write_results
from python_assets.ml.learners import load_learner
from python_assets.ml.train import (TrainConfig, calls_of_day, day_predictions, fit_version, reusable_version,
                                    source_leaks, version_problem)
from python_assets.ml.validation import leakage_report
from python_assets.platform.timeframes import DAY_MS, TIMEFRAME_MS, known_timeframe
from python_assets.warehouse.connection import connect_warehouse

MIN_ROWS = 500


class MlConfig(dg.Config):
    """Timeframe of the training rows, folds, seed; threads per model (1 lets two train at once on 2 cores);
    retrain_every_days: a model version scores new days until it is this many days old (0: retrain every run);
    history_days: the trailing window of training rows before the partition's end (0: all history), so a
    training day's export, leak check and refit read the same amount however long the history grows. timeframe:
    one of seeds/timeframes.csv; n_folds and threads >= 1, the day counts >= 0 (checked before any step runs)."""

    timeframe: str = "5m"
    n_folds: int = Field(default=4, ge=1)
    seed: int = 7
    threads: int = Field(default=1, ge=1)
    fast: bool = False
    retrain_every_days: int = Field(default=7, ge=0)
    history_days: int = Field(default=180, ge=0)

    _timeframe = field_validator("timeframe")(known_timeframe)


def _last_day(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str:
    return window_days(*context.partition_time_window)[-1].isoformat()


def _first_day(context: dg.AssetExecutionContext) -> str:
    return window_days(*context.partition_time_window)[0].isoformat()


def _end_ms(day: str) -> int:
    """The partition's end (exclusive): nothing at or after it may reach its models."""
    return day_start_ms(date.fromisoformat(day) + timedelta(days=1))


def _start_ms(day: str, history_days: int) -> int:
    """The trailing training window's start: history_days whole days before the partition's end (0: all)."""
    return _end_ms(day) - history_days * DAY_MS if history_days > 0 else 0


@dg.asset(deps=[get_asset_key_for_model([warehouse_dbt_assets], "ml_training_set")], partitions_def=daily_partitions,
          backfill_policy=dg.BackfillPolicy.single_run(), group_name="ml", kinds={"duckdb", "parquet"},
          pool=WAREHOUSE_POOL, io_manager_key=ML_ARTIFACTS)
def ml_dataset(context: dg.AssetExecutionContext, config: MlConfig, warehouse: Warehouse) -> dg.Output[TrainingSet]:
    """ml_training_set rows of one timeframe known by the partition's end (bars closed, labels whose
    horizon closed) in the trailing training window, as Parquet for the models; on a day when every model
    scores with its saved version, only the day's rows and each symbol's newest (nothing is trained)."""
    day = _last_day(context)
    registered = registered_features()
    with warehouse.locked() as p:
        with connect_warehouse(p.warehouse) as con:  # the models trained from this export are reused by later days
            mark_days_computed(context, con)
        features = numeric_features(p.warehouse, registered)
        scoring_only = all(_reusable_prior(name, day, features, config.timeframe, config, _first_day(context))
                           for name in MODELS)
        staged = staging_file(p.ml_runs, day, "ml_dataset")
        rows = export_training_set(p.warehouse, config.timeframe, features, staged,
                                   TIMEFRAME_MS[config.timeframe], _end_ms(day), _start_ms(day, config.history_days),
                                   _end_ms(day) - DAY_MS if scoring_only else None)
    log_event("ml_dataset_exported", day=day, rows=rows, features=len(features), scoring_only=scoring_only)
    return dg.Output(TrainingSet(staged, features, config.timeframe, scoring_only, rows),
                     metadata={"rows": rows, "features": len(features), "scoring_only": scoring_only})


@dg.asset_check(asset=ml_dataset, blocking=True, description="No feature tracks a forward label (|rank corr| >= 0.9) or a "
                 "forward return of 1-12 bars beyond what the past predicts (|rank corr| >= 0.5).")
def ml_features_do_not_leak(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Checks the training set of the run's own partition (not the newest day on disk). A scoring-only
    day trains nothing: the rows each saved version trained on were checked on its training day, and a
    day's few hundred rows would make the rank comparison noisy enough to fail honest features."""
    day = _last_day(context)
    exported = require_artifact(paths().ml_runs, day, "ml_dataset")
    if exported.scoring_only:
        return dg.AssetCheckResult(passed=True, metadata={"day": day, "checked": "no model trains on this day's export"})
    leaks = in_child(source_leaks, exported)  # the rows and the rank index leave with the child
    return dg.AssetCheckResult(passed=not leaks, metadata={"leaking": json.dumps(leaks), "day": day})


def _recent_pointer(name: str, day: str, max_age_days: int, rebuilt_from: str | None = None) -> dict | None:
    """The pointer of the newest earlier run of this model that named a version, when that version was
    trained fewer than max_age_days before `day` and before rebuilt_from, the first day the run recomputes
    (a range run: a version trained on a day it rebuilds learnt that day's old rows); None when retraining
    is due or there is none."""
    if max_age_days <= 0:
        return None
    for earlier in stored_days(paths().ml_runs, f"ml_{name}", before=day):
        ref = model_pointer(paths().ml_runs, earlier, f"ml_{name}")
        if ref is None:
            continue  # a day that skipped the model (too few labelled rows) scored with nothing
        trained_on = ref.get("trained_on")
        if trained_on and (date.fromisoformat(day) - date.fromisoformat(trained_on)).days < max_age_days \
                and (rebuilt_from is None or trained_on < rebuilt_from):
            return ref
        return None
    return None


def _train_config(config: MlConfig) -> TrainConfig:
    return TrainConfig(n_folds=config.n_folds, seed=config.seed, threads=config.threads, fast=config.fast,
                       history_days=config.history_days)


def _reusable_prior(name: str, day: str, features: list[str], timeframe: str, config: MlConfig,
                    first_day: str | None = None, log: dg.DagsterLogManager | None = None) -> dict | None:
    """The pointer of the saved version this model scores `day` with, the last day of a run from first_day
    (None: it retrains today). A version whose files do not read back (a truncated model, torn metadata, a
    missing out-of-sample file) is retrained, said in one line to log (the model's step) and pipeline.log."""
    prior = _recent_pointer(name, day, config.retrain_every_days, first_day)
    if prior is None:
        return None
    directory = model_dir(name, prior)
    if reusable_version(MODELS[name], features, timeframe, directory, _train_config(config)):
        return prior
    problem = version_problem(directory) if log is not None and directory.exists() else None
    if problem:
        log.warning(f"ml_{name}: saved version {directory} cannot be read ({problem}): retraining it")
        log_event("ml_version_unreadable", level=logging.WARNING, model=name, day=day, directory=str(directory),
                  problem=problem)
    return None


def _own_training_window(name: str, day: str, exported: TrainingSet, config: MlConfig, warehouse: Warehouse) -> Dataset:
    """The training window of one model that refits on a day ml_dataset exported for scoring only (its op's
    config differs: another seed, retrain_every_days 0): exported for this step alone and checked for leaks
    as ml_dataset's blocking check would have, so no model ever trains on rows that check did not see."""
    bar_ms = TIMEFRAME_MS[exported.timeframe]
    with warehouse.locked() as p:
        path = staging_file(p.ml_runs, day, f"ml_{name}.window")
        try:
            export_training_set(p.warehouse, exported.timeframe, exported.features, path, bar_ms, _end_ms(day),
                                _start_ms(day, config.history_days))
            data = load_dataset(path, exported.features, bar_ms)
        finally:
            path.unlink(missing_ok=True)
    leaks = leakage_report(data, HORIZON_BARS)
    if leaks:
        raise dg.Failure(f"ml_{name}: features track a forward label in its training window: {json.dumps(leaks)}")
    return data


def model_dir(name: str, ref: dict) -> Path:
    """The saved version a pointer names: models/<name>/<version> of this data dir. Its "directory" is
    stored relative to the data dir; older pointers hold an absolute one, maybe of a data dir since
    moved, so the version is looked up here by name rather than at that path."""
    return paths().models / name / ref["version"]


def _model_asset(name: str):
    spec = MODELS[name]

    @dg.asset(name=f"ml_{name}", ins={"ml_dataset": dg.AssetIn()}, partitions_def=daily_partitions,
              backfill_policy=dg.BackfillPolicy.single_run(), group_name="ml", io_manager_key=ML_ARTIFACTS,
              kinds={spec.backend}, description=spec.description)
    def _train(context: dg.AssetExecutionContext, config: MlConfig, warehouse: Warehouse,
               ml_dataset: TrainingSet) -> dg.Output[ModelRun]:
        day = _last_day(context)
        train_config = _train_config(config)
        prior = _reusable_prior(name, day, ml_dataset.features, ml_dataset.timeframe, config, _first_day(context),
                                context.log)
        if prior:  # the day's bars (and each symbol's newest) scored by a version trained before the day
            data = ml_dataset.load()
            latest = day_predictions(spec, load_learner(model_dir(name, prior)), data, _end_ms(day) - DAY_MS)
            log_event("ml_model_reused", model=name, day=day, version=prior["version"], trained_on=prior["trained_on"])
            return dg.Output(ModelRun(name, {**prior, "reused": True}, latest),
                             metadata={"version": prior["version"], "reused_from": prior["trained_on"]})
        # this step's own config refits it on a scoring-only export (a per-op override of ml_dataset's)
        source = _own_training_window(name, day, ml_dataset, config, warehouse) if ml_dataset.scoring_only else ml_dataset
        # loaded and fitted in a child process: torch or xgboost, the rows and the fit's high-water mark (a
        # heap does not shrink back) leave with it instead of staying in this process for the rest of the run
        result = in_child(fit_version, spec, source, paths().models, train_config, MIN_ROWS)
        if isinstance(result, int):
            log_event("ml_model_skipped", model=name, day=day, labelled_rows=result)
            return dg.Output(ModelRun(name, None), metadata={"skipped": f"{result} labelled rows < {MIN_ROWS}"})
        pointer = {"version": result.version, "directory": paths().stored(result.directory),
                   "timeframe": ml_dataset.timeframe, "trained_on": day}
        overall = {s["scorer"]: s for s in result.scores if s["fold"] == "overall"}
        log_event("ml_model_trained", model=name, day=day, version=result.version)
        return dg.Output(ModelRun(name, pointer), metadata={"version": result.version, "path": str(result.directory),
                                                            "overall": json.dumps(overall, default=str)})

    return _train


MODEL_ASSETS = [_model_asset(name) for name in MODELS]


@dg.asset(ins={f"ml_{name}": dg.AssetIn(metadata={"optional": True}) for name in MODELS}, partitions_def=daily_partitions,
          backfill_policy=dg.BackfillPolicy.single_run(), group_name="ml", kinds={"python", "duckdb"},
          pool=WAREHOUSE_POOL, io_manager_key=ML_ARTIFACTS)
def ml_results(context: dg.AssetExecutionContext, warehouse: Warehouse, **runs: ModelRun) -> dg.Output[OutOfSample]:
    """Scores of every model beside its baseline, ensembles over out-of-sample predictions, the day's call per
    symbol (its newest bar of the day: none for a symbol without a bar that day, train.calls_of_day);
    ensemble P(up) per out-of-sample row for the ML strategies (its value): on a day the direction model
    scored with a saved version, its calls (and the ensembles') on the day's own bars, not the version's
    training-day rows again. A model with no value for the day (not materialized for
    it, or added since) is left out, as one that skipped."""
    day = _last_day(context)
    scores, oos, latest, pointers, forward = [], {}, [], {}, {}
    for name, spec in MODELS.items():
        run = runs[f"ml_{name}"]
        ref = run.pointer if run is not None else None
        if ref is None:
            continue
        pointers[name] = ref
        directory = model_dir(name, ref)
        meta = json.loads((directory / "metadata.json").read_text())
        for s in meta["scores"]:  # a reused version's are its training day's walk-forward: each row names that day
            scores.append({**s, "model": name, "version": ref["version"], "task": spec.task, "label": spec.label,
                           "timeframe": ref["timeframe"], "model_dir": paths().stored(directory),
                           "trained_on": ref.get("trained_on"), "reused": bool(ref.get("reused"))})
        oos[name] = pd.read_parquet(directory / "oos.parquet")
        fresh = run.latest  # the day's predictions of a reused version (None: trained today, its own file)
        if fresh is not None and ref.get("reused"):
            forward[name] = fresh[fresh["bar_at_ms"] >= _end_ms(day) - DAY_MS]
        lat = calls_of_day(fresh if fresh is not None else pd.read_parquet(directory / "latest.parquet"),
                           _end_ms(day) - DAY_MS)
        latest.append(lat.assign(model=name, version=ref["version"], timeframe=ref["timeframe"]))
    direction = pointers.get("direction_predictor")
    bar_ms = TIMEFRAME_MS[direction["timeframe"]] if direction else None
    ensembles, joined = build_ensembles(oos, bar_ms)
    # fitted on the members' versions' out-of-sample rows: on a reuse day the numbers are an earlier day's
    ensembles = [{**r, **trained_marker(r["members"], pointers)} for r in ensembles]
    untraded: list[str] = []
    if "direction_predictor" in forward:  # scored with a saved version: trade its calls on the day's bars
        joined, untraded = forward_frame(oos, forward, bar_ms)
    if untraded:  # the day's ml_ensembles rows stand, but no ensemble backtest runs: say why, once
        log_event("ml_ensembles_not_traded", day=day, members_trained_today=untraded,
                  reason="direction_predictor was reused and these members were trained today: "
                         "no out-of-sample calls of theirs on the day's bars")
    predictions = pd.concat(latest, ignore_index=True) if latest else pd.DataFrame()
    with warehouse.connect() as con:
        write_results(con, day, scores, ensembles, predictions)
    log_event("ml_results_written", day=day, models=len(oos), ensembles=len({r["ensemble"] for r in ensembles}))
    return dg.Output(OutOfSample(joined, direction["timeframe"] if direction else None),
                     metadata={"models": len(oos), "score_rows": len(scores), "ensemble_rows": len(ensembles),
                               **({"ensembles_not_traded": f"members trained today: {', '.join(untraded)}"}
                                  if untraded else {}),
                               "scores_vs_baselines": dg.MetadataValue.md(scores_markdown(scores))})


def scores_markdown(scores: list[dict]) -> str:
    """Each model's overall out-of-sample loss (the mean of its folds') beside its naive baseline's, as Markdown."""
    pairs: dict[tuple[str, str], dict[str, float | None]] = {}
    for s in scores:
        if s.get("fold") == "overall":
            metric = "log_loss" if s.get("log_loss") is not None else "rmse"
            pairs.setdefault((s["model"], metric), {})[s["scorer"]] = s.get(metric)
    lines = ["| model | metric | model | baseline | beats baseline |", "|---|---|---:|---:|---|"]
    for (model, metric), v in sorted(pairs.items()):
        m, b = v.get("model"), v.get("baseline")
        beats = "yes" if m is not None and b is not None and m < b else "no"
        lines.append(f"| {model} | {metric} | {fmt.number(m, 4)} | {fmt.number(b, 4)} | {beats} |")
    return "\n".join(lines)


defs = dg.Definitions(assets=[ml_dataset, *MODEL_ASSETS, ml_results], asset_checks=[ml_features_do_not_leak])
