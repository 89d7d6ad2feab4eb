"""`python -m bench spark` (make bench-spark): how each layer of the dbt project grows with history, on
DuckDB and on Spark local, built from the same lake.

For each history length (BLOFIN_BENCH_SPARK_DAYS, default 3, 12 and 48 days of the synthetic market,
2 symbols) one lake is generated and every lake-fed model (staging .. features, labels, signals, the market
marts) is built from scratch with `dbt run` on DuckDB and with `dbt run --target spark` (the session
runner in dagster_defs/dbt/spark_dbt.py). Seconds per layer come from dbt's run_results.json (model time,
no data tests); the wall time of each dbt call adds start-up (dbt parse, Spark's JVM and metastore).
Printed per layer: seconds at each length on both engines, the growth exponent of each (slope of
log seconds on log 1m bars: 1 is linear, near 0 means fixed per-statement cost still dominates) over all
lengths and between the last two, and the Spark / DuckDB ratio at the longest history. Kept out of `make bench` for time (~8 min on 2 cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

import dagster_defs.dbt.spark_dbt
from bench.common import save, scaling_exponent, table
from python_assets.config import DBT_PROJECT_DIR, Paths
from python_assets.ingest.market import generate_market

SYMBOLS = ("BTC-USDT", "SOL-USDT")
FIRST_DAY = date(2025, 3, 1)
# Everything the lake feeds without a Python landing table (the parity test's layers): dbt folders.
LAYERS = ("staging", "bars", "intermediate", "features", "labels", "backtests", "marts")
SELECT = ["staging", "bars", "intermediate", "features", "labels_h12", "ml_training_set", "backtest_signals",
          "daily_market_summary", "dim_instruments", "recorder_coverage"]


def history_days() -> list[int]:
    """The history lengths to build (days), from BLOFIN_BENCH_SPARK_DAYS ("3,12,48" by default)."""
    text = os.environ.get("BLOFIN_BENCH_SPARK_DAYS", "3,12,48")
    return sorted({int(part) for part in text.split(",") if part.strip()})


def dbt(paths: Paths, target: str, out: Path) -> tuple[float, dict[str, tuple[str, float]]]:
    """One from-scratch `dbt run` of SELECT on a target: (wall seconds, {model: (layer, seconds)})."""
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir), "BLOFIN_SPARK_DIR": str(paths.data_dir / "spark"),
           "PYSPARK_PYTHON": sys.executable}
    runner = ([sys.executable, dagster_defs.dbt.spark_dbt.__file__] if target == "spark"
              else [str(Path(sys.executable).parent / "dbt")])
    cmd = [*runner, "run", "--quiet", "--target", target, "--profiles-dir", ".", "--target-path", str(out),
           "--full-refresh", "--select", *SELECT]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"dbt run --target {target} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    results = json.loads((out / "run_results.json").read_text())["results"]
    manifest = json.loads((out / "manifest.json").read_text())["nodes"]
    return wall, {r["unique_id"].split(".")[-1]: (manifest[r["unique_id"]]["fqn"][1], r["execution_time"])
                  for r in results if r["unique_id"].startswith("model.")}


def bars_1m(paths: Paths) -> int:
    """Rows of bars_1m in the DuckDB build: the size the exponents are taken over."""
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return int(con.execute("select count(*) from bars_1m").fetchone()[0])


def per_layer(models: dict[str, tuple[str, float]]) -> dict[str, float]:
    """Seconds summed per dbt folder."""
    out = {layer: 0.0 for layer in LAYERS}
    for layer, seconds in models.values():
        out[layer] = out.get(layer, 0.0) + seconds
    return out


def measure(days: int, root: Path) -> dict:
    """Both engines on `days` days of history."""
    paths = Paths(root / f"days_{days}" / "data")
    generate_market(paths, SYMBOLS, [FIRST_DAY + timedelta(d) for d in range(days)])
    duck_wall, duck = dbt(paths, "dev", paths.data_dir / "target_duckdb")
    spark_wall, spark = dbt(paths, "spark", paths.data_dir / "target_spark")
    return {"days": days, "bars_1m": bars_1m(paths), "duckdb_wall_s": duck_wall, "spark_wall_s": spark_wall,
            "duckdb": per_layer(duck), "spark": per_layer(spark)}


def growth(sizes: list[int], duck: list[float], spark: list[float]) -> str:
    """'duckdb / spark' exponents of seconds in 1m bars over these sizes."""
    if len(sizes) < 2 or min(duck + spark) <= 0:
        return "-"
    return f"{scaling_exponent(sizes, duck):.2f} / {scaling_exponent(sizes, spark):.2f}"


def report(runs: list[dict]) -> list[tuple]:
    """Rows: layer, seconds per history on each engine, each engine's exponent, the ratio at the longest."""
    sizes = [r["bars_1m"] for r in runs]
    rows = []
    for layer in [*LAYERS, "all models", "dbt call (wall)"]:
        def pick(run: dict, engine: str) -> float:
            if layer == "all models":
                return sum(run[engine].values())
            return run[f"{engine}_wall_s"] if layer == "dbt call (wall)" else run[engine][layer]
        duck, spark = [pick(r, "duckdb") for r in runs], [pick(r, "spark") for r in runs]
        rows.append((layer, " / ".join(f"{s:.1f}" for s in duck), " / ".join(f"{s:.1f}" for s in spark),
                     growth(sizes, duck, spark), growth(sizes[-2:], duck[-2:], spark[-2:]),
                     f"{spark[-1] / duck[-1]:.0f}x" if duck[-1] else "-"))
    return rows


def run() -> dict:
    days = history_days()
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        runs = [measure(d, Path(tmp)) for d in days]
    head = " / ".join(f"{r['days']} d" for r in runs)
    bars = " / ".join(f"{r['bars_1m']:,}" for r in runs)
    print(f"\n== dbt on DuckDB vs Spark local: seconds per layer at {head} of history ({bars} 1m bars, "
          f"{len(SYMBOLS)} symbols) ==")
    print(table(report(runs), ("layer", "duckdb s", "spark s", "exponent duckdb / spark (all sizes)",
                               "(last two)", "spark / duckdb")))
    result = {"symbols": len(SYMBOLS), "runs": runs}
    save("spark_growth", result)
    return result


if __name__ == "__main__":
    run()
