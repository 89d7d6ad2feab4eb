"""Shared bench helpers: timing, scaling exponents, peak memory (a process tree's is sampled by
python_assets/platform/tree_memory.py), the results file
(<data dir>/bench/results.json, ignored, so a bench run leaves the tree clean; `python -m bench record` puts its
sections over the committed record bench/results.json on purpose) and the printed tables."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from python_assets.config import export_data_dir
from python_assets.lake.atomic import write_bytes_atomic
from python_assets.platform.tree_memory import own_peak_mib

RECORD = Path(__file__).resolve().parent / "results.json"


def results_file() -> Path:
    """Where a bench run writes its numbers: <data dir>/bench/results.json, beside the bench's data (the
    data dir follows BLOFIN_DATA_DIR; data/ by default, which git ignores)."""
    return export_data_dir().data_dir / "bench" / "results.json"


def merged_record(committed: dict[str, Any], latest: dict[str, Any]) -> dict[str, Any]:
    """The committed record with the sections of the latest results put over it: a section the latest run
    did not measure (a stage run alone, `make scale`) keeps its committed numbers instead of vanishing."""
    return {**committed, **latest}


def record() -> Path:
    """Put the last run's sections over the committed record (bench/results.json): done on purpose, never by a run."""
    results = results_file()
    if not results.exists():
        raise SystemExit(f"no bench results at {results}: run `make bench` first")
    committed = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    merged = merged_record(committed, json.loads(results.read_text()))
    write_bytes_atomic((json.dumps(merged, indent=2) + "\n").encode(), RECORD)  # a full disk keeps the old record whole
    return RECORD


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Fastest wall time of `repeat` calls (seconds) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def scaling_exponent(sizes: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): 1.0 is linear, < 1 means fixed costs still
    weigh, > 1 superlinear growth."""
    xs, ys = [math.log(s) for s in sizes], [math.log(max(t, 1e-9)) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB): its own VmHWM, not ru_maxrss, which Linux
    carries over from the launching process across fork and exec."""
    return own_peak_mib()


def save(section: str, payload: dict[str, Any]) -> None:
    """Merge one benchmark's numbers into the run's results file (results_file)."""
    results = results_file()
    data = json.loads(results.read_text()) if results.exists() else {}
    data[section] = payload
    write_bytes_atomic((json.dumps(data, indent=2) + "\n").encode(), results)  # torn, it failed every later save


def table(rows: list[tuple], head: tuple = ("measure", "value", "reference", "ratio")) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*map(str, r)) for r in rows])


def stage_result(stage: str, unit: str, sizes: list[int], seconds: list[float], ref_name: str,
                 ref_seconds: list[float], goal: str, goal_met: bool | None, **extra: Any) -> dict[str, Any]:
    """One stage's numbers in the common shape: per size our seconds and the reference's; the ratio is
    reference seconds / our seconds at the largest size (> 1: we are faster); the exponent is ours."""
    return {
        "stage": stage, "unit": unit, "sizes": sizes, "seconds": seconds, "reference": ref_name,
        "reference_seconds": ref_seconds, "ratio": ref_seconds[-1] / seconds[-1] if ref_seconds else None,
        "scaling_exponent": scaling_exponent(sizes, seconds) if len(sizes) >= 3 else None,
        "reference_scaling_exponent": scaling_exponent(sizes, ref_seconds) if len(ref_seconds) >= 3 else None,
        "goal": goal, "goal_met": goal_met, **extra,
    }


def print_stage(res: dict[str, Any]) -> None:
    """Per-size rows of one stage: size, our time and rate, the reference's, the ratio."""
    print(f"\n== {res['stage']} ==")
    rows = []
    for i, n in enumerate(res["sizes"]):
        ours = res["seconds"][i]
        ref = res["reference_seconds"][i] if res["reference_seconds"] else None
        rows.append((f"{n:,} {res['unit']}", f"{ours:.2f} s ({n / ours / 1e6:,.2f} M {res['unit']}/s)",
                     f"{res['reference']} {ref:.2f} s" if ref else "", f"{ref / ours:.3g}x" if ref else ""))
    print(table(rows, ("size", "ours", "reference", "ref time / our time")))
    if not res["reference_seconds"]:
        print("no in-run reference: the goals below are absolute")
    exp = res["scaling_exponent"]
    ref_exp = res["reference_scaling_exponent"]
    exponent = f"{exp:.2f}" if exp is not None else "n/a (one size)"  # e.g. daily_run.run((30,)): one history length
    print(f"scaling exponent: {exponent}" + (f" (reference {ref_exp:.2f})" if ref_exp is not None else "")
          + f"; goal: {res['goal']} -> {'met' if res['goal_met'] else 'not met' if res['goal_met'] is False else 'n/a'}")
