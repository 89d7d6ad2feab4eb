"""`python -m bench`: run every benchmark, write data/bench/results.json, print a summary of every ratio.
`python -m bench record`: put those results' sections over the committed record bench/results.json.
`python -m bench scale`: the 20 symbols x 30 days simulation (multiprocess executor), kept out of
make bench for time. `python -m bench spark`: dbt on DuckDB vs Spark local at two history lengths
(make bench-spark), also kept out for time. `python -m bench STAGE ...` runs only the named stages."""

from __future__ import annotations

import sys
import time

from bench import backtest_grid, daily_run, features, ingestion, ml, recursive_incremental, spark_growth, tick_to_1m
from bench.common import record, results_file, save, table

STAGES = {"ingestion": ingestion.run, "tick_to_1m": tick_to_1m.run, "features": features.run,
          "feat_recursive": recursive_incremental.run,
          "backtest_grid": backtest_grid.run, "ml": ml.run, "daily_run": daily_run.run}


def summary(results: dict[str, dict]) -> str:
    """One row per stage: the largest size, our time, the reference's, the ratio, the exponents, the goal."""
    rows = []
    for name, r in results.items():
        ref = f"{r['reference']} {r['reference_seconds'][-1]:.2f} s" if r["reference_seconds"] else "-"
        ratio = f"{r['ratio']:.3g}x" if r["ratio"] is not None else "-"
        exps = f"{r['scaling_exponent']:.2f}" + (f" / {r['reference_scaling_exponent']:.2f}" if r["reference_scaling_exponent"] is not None else "")
        goal = f"{r['goal']}: {'met' if r['goal_met'] else 'NOT met' if r['goal_met'] is False else 'n/a'}"
        rows.append((name, f"{r['sizes'][-1]:,} {r['unit']}", f"{r['seconds'][-1]:.2f} s", ref, ratio, exps, goal))
    return table(rows, ("stage", "largest size", "ours", "reference", "ref/ours", "exponent ours / ref", "goal"))


def main(argv: list[str]) -> int:
    if argv[:1] == ["record"]:
        print(f"bench record updated: {record()}")
        return 0
    if argv[:1] == ["scale"]:
        daily_run.scale()
        return 0
    if argv[:1] == ["spark"]:
        spark_growth.run()
        return 0
    chosen = argv or list(STAGES)
    t0 = time.perf_counter()
    results = {name: STAGES[name]() for name in chosen}
    elapsed = time.perf_counter() - t0
    print("\n== summary (ratio = reference time / our time at the largest size; > 1: ours is faster) ==")
    print(summary(results))
    d = results.get("daily_run")
    if d:
        print(f"daily run: next day {', '.join(f'{s:.1f}' for s in d['next_day_seconds'])} s at "
              f"{', '.join(map(str, d['history_days']))} days of history (exponent {d['next_day_exponent']:.2f}), "
              f"peak memory {d['sampled_peak_mib']:,.0f} MiB (whole tree sampled; upper bound "
              f"{max(d['peak_mib'] + [r['peak_mib'] for r in d['memory_next_days']]):,.0f} MiB: Dagster process + largest child)")
    save("last_run", {"stages": chosen, "seconds": elapsed})
    print(f"\nall stages in {elapsed / 60:.1f} min; results written to {results_file()} (`python -m bench record` puts them over the committed bench/results.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
