"""A day scored with saved versions (the retrain cadence) trades those versions' calls on its own bars:
forward out of sample, never the training day's out-of-sample rows filed again under the later day; its score rows say
which day trained the version and that the day reused it (they repeat that day's walk-forward)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_assets.ml.dataset import HORIZON_BARS
from python_assets.platform.timeframes import DAY_MS
from test_models import planted

START = 1_741_392_000_000  # 2025-03-08 00:00 UTC: 864 5m bars are 03-08, 03-09 (training day) and 03-10
MEMBERS = ("direction_predictor", "momentum_classifier", "price_predictor")
ENSEMBLES = ("ensemble_average", "ensemble_stacked")


def write_scoring_export(data_dir, today) -> None:
    """03-10's scoring-only ml_dataset (the rows of `today`, a Dataset), filed as the ml_dataset asset files it."""
    from python_assets.ml.artifacts import TrainingSet, staging_file, write_artifact

    frame = pd.DataFrame(today.X, columns=today.features).assign(
        symbol=today.symbol, timeframe="5m", bar_at_ms=today.ts, baseline_vol_12=today.baseline_vol, **today.labels)
    rows = staging_file(data_dir.ml_runs, "2025-03-10", "ml_dataset")
    rows.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(rows)
    write_artifact(data_dir.ml_runs, "2025-03-10", "ml_dataset", TrainingSet(rows, today.features, "5m", True, len(frame)))


def test_a_reuse_day_trades_the_saved_versions_calls_on_its_own_bars(data_dir):
    import dagster as dg

    from dagster_defs.ml.assets import MODEL_ASSETS, ml_dataset, ml_results
    from dagster_defs.resources import MlArtifacts, Warehouse
    from python_assets.ml.artifacts import ModelRun, read_artifact, write_artifact
    from python_assets.ml.learners import load_learner
    from python_assets.ml.models import MODELS
    from python_assets.ml.train import TrainConfig, train_model

    data = planted(n_times=864)
    data.ts = data.ts + START
    day_start, day_end = START + 2 * DAY_MS, START + 3 * DAY_MS
    trained = data.subset(np.flatnonzero(data.ts + (HORIZON_BARS + 1) * data.bar_ms <= day_start))
    for name in MEMBERS:  # trained on 03-09 as the asset would (its run config below), pointed to by 03-09's run
        result = train_model(MODELS[name], trained, data_dir.models, TrainConfig(n_folds=2, fast=True, history_days=180))
        write_artifact(data_dir.ml_runs, "2025-03-09", f"ml_{name}", ModelRun(name, {
            "version": result.version, "directory": data_dir.stored(result.directory), "timeframe": "5m",
            "trained_on": "2025-03-09"}))
    today = data.subset(np.flatnonzero(data.ts >= day_start))
    write_scoring_export(data_dir, today)  # 03-10's scoring-only export

    assets = [a for a in MODEL_ASSETS if a.key.path[-1] in {f"ml_{m}" for m in MEMBERS}]
    config = {"config": {"fast": True, "n_folds": 2}}
    result = dg.materialize([ml_dataset, *MODEL_ASSETS, ml_results], selection=[a.key for a in (*assets, ml_results)],
                            partition_key="2025-03-10", resources={"warehouse": Warehouse(), "ml_artifacts": MlArtifacts()},
                            run_config={"ops": {a.key.path[-1]: config for a in assets}})
    assert result.success
    for name in MEMBERS:
        assert read_artifact(data_dir.ml_runs, "2025-03-10", f"ml_{name}").pointer["reused"] is True
    traded = read_artifact(data_dir.ml_runs, "2025-03-10", "ml_results").frame
    # every bar of 03-10 for every symbol, nothing of the training day
    assert traded["bar_at_ms"].min() == day_start and traded["bar_at_ms"].max() == day_end - data.bar_ms
    assert len(traded) == len(today.ts) and not traded["ensemble_fitted_on"].any()
    # the direction call is the saved version's prediction on the bar, made before the day
    pointer = read_artifact(data_dir.ml_runs, "2025-03-09", "ml_direction_predictor").pointer
    expected = load_learner(data_dir.models / "direction_predictor" / pointer["version"]).predict(today.X)
    np.testing.assert_array_equal(traded.sort_values(["bar_at_ms", "symbol"])["direction_predictor"], expected)
    assert traded[["ensemble_average", "ensemble_stacked"]].notna().all().all()
    # the scores filed under 03-10 are 03-09's walk-forward: each row says so (the report read them as 03-10's)
    assert _version_days(data_dir, "2025-03-10") == {(m, "2025-03-09", True) for m in MEMBERS}
    # and so are the ensembles, fitted on those versions' out-of-sample rows: 03-09's numbers (they said nothing)
    assert _version_days(data_dir, "2025-03-10", "ml_ensembles") == {(e, "2025-03-09", True) for e in ENSEMBLES}
    trained_day = dg.materialize([ml_dataset, *MODEL_ASSETS, ml_results], selection=[ml_results.key],
                                 partition_key="2025-03-09", resources={"warehouse": Warehouse(), "ml_artifacts": MlArtifacts()})
    assert trained_day.success  # 03-09's own results: the versions it trained, not reused
    assert _version_days(data_dir, "2025-03-09") == {(m, "2025-03-09", False) for m in MEMBERS}
    assert _version_days(data_dir, "2025-03-09", "ml_ensembles") == {(e, "2025-03-09", False) for e in ENSEMBLES}


def _version_days(data_dir, day: str, table: str = "ml_model_results") -> set[tuple]:
    """(model, trained_on, reused) of the day's ml_model_results rows, every fold and scorer; (ensemble, ...)
    of its ml_ensembles rows."""
    from python_assets.warehouse.connection import connect_warehouse

    name = "model" if table == "ml_model_results" else "ensemble"
    with connect_warehouse(data_dir.warehouse, read_only=True) as con:
        return set(con.execute(f"select {name}, strftime(trained_on, '%Y-%m-%d'), reused from {table} "
                               "where partition_date = ?", [day]).fetchall())


def _stale_symbol_day(data_dir, reused: bool) -> list[tuple]:
    """03-10's ml_predictions where symbol C's bars stopped at the end of 03-08 (a delisting), its models trained
    on 03-10 (each version's latest.parquet holds C's newest bar, two days old) or saved on 03-09 and reused."""
    import dagster as dg

    from dagster_defs.ml.assets import MODEL_ASSETS, ml_dataset, ml_results
    from dagster_defs.resources import MlArtifacts, Warehouse
    from python_assets.ml.artifacts import ModelRun, write_artifact
    from python_assets.ml.models import MODELS
    from python_assets.ml.train import TrainConfig, train_model
    from python_assets.warehouse.connection import connect_warehouse

    data = planted(n_times=864)
    data.ts = data.ts + START
    data = data.subset(np.flatnonzero((data.symbol != "C") | (data.ts < START + DAY_MS)))
    day_start = START + 2 * DAY_MS
    trained_on = "2025-03-09" if reused else "2025-03-10"
    known = data.ts + (HORIZON_BARS + 1) * data.bar_ms <= (day_start if reused else day_start + DAY_MS)
    for name in MEMBERS:
        result = train_model(MODELS[name], data.subset(np.flatnonzero(known)) if reused else data, data_dir.models,
                             TrainConfig(n_folds=2, fast=True, history_days=180))
        write_artifact(data_dir.ml_runs, trained_on, f"ml_{name}", ModelRun(name, {
            "version": result.version, "directory": data_dir.stored(result.directory), "timeframe": "5m",
            "trained_on": trained_on}))
    selection = [ml_results.key]
    if reused:  # 03-10's scoring-only export: the day's rows and each symbol's newest (C's of 03-08)
        newest_c = (data.symbol == "C") & (data.ts == data.ts[data.symbol == "C"].max())
        write_scoring_export(data_dir, data.subset(np.flatnonzero((data.ts >= day_start) | newest_c)))
        selection += [a.key for a in MODEL_ASSETS if a.key.path[-1] in {f"ml_{m}" for m in MEMBERS}]
    config = {"config": {"fast": True, "n_folds": 2}}
    result = dg.materialize([ml_dataset, *MODEL_ASSETS, ml_results], selection=selection, partition_key="2025-03-10",
                            resources={"warehouse": Warehouse(), "ml_artifacts": MlArtifacts()},
                            run_config={"ops": {k.path[-1]: config for k in selection[1:]}})
    assert result.success
    with connect_warehouse(data_dir.warehouse, read_only=True) as con:
        return con.execute("select model, symbol, bar_at_ms from ml_predictions where partition_date = '2025-03-10' "
                           "order by all").fetchall()


@pytest.mark.parametrize("reused", [False, True])
def test_a_symbol_without_bars_on_the_day_gets_no_prediction(data_dir, reused):
    """C's newest bar (03-08 23:55) was reported as 03-10's call beside A's and B's for every model."""
    last = START + 3 * DAY_MS - 300_000  # 03-10 23:55, the day's last 5m bar
    assert _stale_symbol_day(data_dir, reused) == [(m, s, last) for m in sorted(MEMBERS) for s in ("A", "B")]


def test_the_days_calls_leave_out_a_symbol_without_bars_on_the_day(tmp_path):
    """A version's latest.parquet keeps the newest bar it saw of each symbol (C's, 03-08); the day's calls of
    it, and a saved version's predictions on the day's bars, have none for C."""
    from python_assets.ml.learners import load_learner
    from python_assets.ml.models import MODELS
    from python_assets.ml.train import TrainConfig, calls_of_day, day_predictions, train_model

    data = planted(n_times=864)
    data.ts = data.ts + START
    data = data.subset(np.flatnonzero((data.symbol != "C") | (data.ts < START + DAY_MS)))
    spec, day_start = MODELS["direction_predictor"], START + 2 * DAY_MS
    result = train_model(spec, data, tmp_path, TrainConfig(n_folds=2, fast=True))
    assert result.latest[["symbol", "bar_at_ms"]].values.tolist() == [
        ["C", START + DAY_MS - 300_000], ["A", START + 3 * DAY_MS - 300_000], ["B", START + 3 * DAY_MS - 300_000]]
    assert calls_of_day(result.latest, day_start)["symbol"].tolist() == ["A", "B"]
    scored = day_predictions(spec, load_learner(result.directory), data, day_start)
    assert set(scored["symbol"]) == {"A", "B"} and scored["bar_at_ms"].min() == day_start


def test_a_warehouse_made_before_the_version_columns_gets_them_and_keeps_its_rows():
    """ml_model_results of an older warehouse has no trained_on or reused: the store adds them (NULL on the
    rows written before) and the day's rows land in the right columns (the insert is by position)."""
    import duckdb

    from python_assets.ml.store import DDL, write_results

    con = duckdb.connect()
    con.execute(DDL[0].replace(", trained_on date, reused boolean)", ")"))
    con.execute("insert into ml_model_results (partition_date, model, version, task, label, timeframe, fold, scorer, "
                "model_dir, created_at) values ('2025-03-09', 'm', 'v', 'binary', 'l', '5m', 'overall', 'model', 'd', now())")
    row = {"model": "m", "version": "v", "task": "binary", "label": "l", "timeframe": "5m", "fold": "overall",
           "scorer": "model", "train_rows": None, "test_rows": 10, "train_start_ms": None, "train_end_ms": None,
           "test_start_ms": 1, "test_end_ms": 2, "log_loss": 0.5, "model_dir": "d", "trained_on": "2025-03-09",
           "reused": True}
    write_results(con, "2025-03-10", [row], [], pd.DataFrame())
    assert con.execute("select strftime(partition_date, '%Y-%m-%d'), strftime(trained_on, '%Y-%m-%d'), reused, "
                       "log_loss, model_dir from ml_model_results order by all").fetchall() == [
        ("2025-03-09", None, None, None, "d"), ("2025-03-10", "2025-03-09", True, 0.5, "d")]


def test_a_warehouse_made_before_the_ensembles_version_columns_gets_them_and_keeps_its_rows():
    """ml_ensembles of an older warehouse has no trained_on or reused: the store adds them (NULL on the rows
    written before) and the day's rows land in the right columns (the insert is by position)."""
    import duckdb

    from python_assets.ml.store import DDL, write_results

    con = duckdb.connect()
    ddl = next(d for d in DDL if "create table if not exists ml_ensembles" in d)
    con.execute(ddl.replace(", trained_on date, reused boolean)", ")"))
    con.execute("insert into ml_ensembles (partition_date, ensemble, method, members, weights, scorer, created_at) "
                "values ('2025-03-09', 'ensemble_average', 'average', '[]', '{}', 'ensemble_average', now())")
    row = {"ensemble": "ensemble_average", "method": "average", "members": ["direction_predictor"],
           "weights": {"direction_predictor": 1.0}, "scorer": "ensemble_average", "fit_start_ms": 0,
           "eval_start_ms": 1, "eval_end_ms": 2, "eval_rows": 10, "accuracy": 0.5, "balanced_accuracy": 0.5,
           "log_loss": 0.69, "auc": 0.5, "trained_on": "2025-03-09", "reused": True}
    write_results(con, "2025-03-10", [], [row], pd.DataFrame())
    assert con.execute("select strftime(partition_date, '%Y-%m-%d'), strftime(trained_on, '%Y-%m-%d'), reused, "
                       "log_loss from ml_ensembles order by all").fetchall() == [
        ("2025-03-09", None, None, None), ("2025-03-10", "2025-03-09", True, 0.69)]
