"""The five models trained on 500k rows x 60 features (one fit each, as the daily run's final fit),
two at a time on 2 cores like the multiprocess executor; total wall time and peak memory."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench.common import save, table

ROWS, FEATURES, GOAL_S = 500_000, 60, 120.0


def planted(rows: int = ROWS, features: int = FEATURES, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    latent = 0.3 * X[:, 0] - 0.2 * X[:, 1] + rng.normal(size=rows)
    ret = 0.01 * latent
    return X, {"fwd_return_12": ret, "fwd_direction_12": (ret > 0).astype(float),
               "fwd_momentum_class_12": np.digitize(latent, [-0.5, 0.5]).astype(float),
               "fwd_realized_vol_12": 0.002 * (1 + np.abs(X[:, 2])), "fwd_adverse_12": (latent < -1).astype(float)}


def fit_one(name: str) -> tuple[str, float, float]:
    """Fit one model in a fresh process; returns (name, seconds, peak RSS MiB of that process)."""
    import resource

    from python_assets.ml.models import MODELS

    X, labels = planted()
    spec = MODELS[name]
    t0 = time.perf_counter()
    spec.learner(seed=7, threads=1).fit(X, labels[spec.label])
    return name, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run() -> None:
    from python_assets.ml.models import MODELS

    print(f"\n== ML: five models on {ROWS:,} rows x {FEATURES} features, 2 at a time, 1 thread each ==")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        results = list(pool.map(fit_one, MODELS))
    total = time.perf_counter() - t0
    rows = [(f"{n}: fit seconds", f"{s:.1f}", f"peak {m:,.0f} MiB", "") for n, s, m in results]
    rows.append(("all five: wall seconds", f"{total:.1f}", f"goal <= {GOAL_S:.0f}", f"{total / GOAL_S:.2f}x of budget"))
    print(table(rows))
    print(f"goal: five models in <= {GOAL_S:.0f} s on 2 cores -> {'met' if total <= GOAL_S else 'not met'}")
    save("ml_training", {"rows": ROWS, "features": FEATURES, "wall_seconds": total,
                         "per_model": {n: {"seconds": s, "peak_rss_mib": m} for n, s, m in results}})


if __name__ == "__main__":
    run()
