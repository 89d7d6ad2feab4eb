"""The five models trained on 31k, 125k and 500k rows x 60 features (one fit each, as the daily run's
final fit), two at a time on 2 cores like the multiprocess executor; total wall time and peak memory."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench.common import print_stage, save, stage_result

ROWS, FEATURES, GOAL_S = 500_000, 60, 120.0
SIZES = (31_250, 125_000, ROWS)


def planted(rows: int = ROWS, features: int = FEATURES, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    latent = 0.3 * X[:, 0] - 0.2 * X[:, 1] + rng.normal(size=rows)
    ret = 0.01 * latent
    return X, {"fwd_return_12": ret, "fwd_direction_12": (ret > 0).astype(float),
               "fwd_momentum_class_12": np.digitize(latent, [-0.5, 0.5]).astype(float),
               "fwd_realized_vol_12": 0.002 * (1 + np.abs(X[:, 2])), "fwd_adverse_12": (latent < -1).astype(float)}


def fit_one(job: tuple[str, int]) -> tuple[str, float, float]:
    """Fit one model on `rows` rows in a fresh process; (name, seconds, peak RSS MiB of that process)."""
    from bench.common import peak_rss_mib
    from python_assets.ml.models import MODELS

    name, rows = job
    X, labels = planted(rows)
    spec = MODELS[name]
    t0 = time.perf_counter()
    spec.learner(seed=7, threads=1).fit(X, labels[spec.label])
    return name, time.perf_counter() - t0, peak_rss_mib()


def run(sizes: tuple[int, ...] = SIZES) -> dict:
    """Five models, two at a time (as the multiprocess executor runs them on 2 cores), on 1x, 4x, 16x
    rows. The reference is the sum of the five fits' own times, each timed while another fit ran beside
    it (so contention inflates it a little): the ratio is about the speed-up from running them side by
    side, not a measured serial run (that would add ~3 minutes to the bench)."""
    from python_assets.ml.models import MODELS

    walls, serial, per_model = [], [], {}
    for rows in sizes:
        t0 = time.perf_counter()
        # a fresh process per fit, so each peak is that fit's alone
        with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1), max_tasks_per_child=1) as pool:
            results = list(pool.map(fit_one, [(name, rows) for name in MODELS]))
        walls.append(time.perf_counter() - t0)
        serial.append(sum(s for _, s, _ in results))
        per_model = {n: {"seconds": s, "peak_rss_mib": m} for n, s, m in results}
    res = stage_result(f"ML training: five models x {FEATURES} features, two at a time", "rows", list(sizes), walls,
                       "the sum of the fits' own times (each beside another)", serial, f"<= {GOAL_S:.0f} s at {ROWS:,} rows",
                       walls[-1] <= GOAL_S, per_model_at_largest=per_model)
    save("ml_training", res)
    print_stage(res)
    print("per model at the largest size: " + ", ".join(
        f"{n} {v['seconds']:.1f} s / {v['peak_rss_mib']:,.0f} MiB" for n, v in per_model.items()))
    return res


if __name__ == "__main__":
    run()
