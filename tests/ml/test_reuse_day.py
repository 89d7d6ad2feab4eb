"""A day scored with saved versions (the retrain cadence) trades those versions' calls on its own bars:
forward out of sample, never the training day's out-of-sample rows filed again under the later day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from python_assets.ml.dataset import HORIZON_BARS
from python_assets.platform.timeframes import DAY_MS
from test_models import planted

START = 1_741_392_000_000  # 2025-03-08 00:00 UTC: 864 5m bars are 03-08, 03-09 (training day) and 03-10
MEMBERS = ("direction_predictor", "momentum_classifier", "price_predictor")


def test_a_reuse_day_trades_the_saved_versions_calls_on_its_own_bars(data_dir):
    import dagster as dg

    from dagster_defs.ml.assets import MODEL_ASSETS, ml_dataset, ml_results
    from dagster_defs.resources import MlArtifacts, Warehouse
    from python_assets.ml.artifacts import ModelRun, TrainingSet, read_artifact, staging_file, write_artifact
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
    today = data.subset(np.flatnonzero(data.ts >= day_start))  # 03-10's scoring-only export
    frame = pd.DataFrame(today.X, columns=today.features).assign(
        symbol=today.symbol, timeframe="5m", bar_at_ms=today.ts, baseline_vol_12=today.baseline_vol, **today.labels)
    rows = staging_file(data_dir.ml_runs, "2025-03-10", "ml_dataset")
    rows.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(rows)
    write_artifact(data_dir.ml_runs, "2025-03-10", "ml_dataset", TrainingSet(rows, today.features, "5m", True, len(frame)))

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
