"""The whole daily graph as users run it: a first (full) day on 8, 30 and 120 days of demo history,
each followed by the incremental next day (its exponent in history says whether a day's run stays flat),
then the last next day again with nothing new (the CLI finds it unchanged); wall time and the peak memory of the whole process tree (Dagster, dbt, model training), each
beside its goal (issue 21: peak <= 1 GiB, next day <= 10 s and flat in history, unchanged rerun <= 5 s). `scale()` is the 20 symbols x 30 days simulation with
Dagster's multiprocess executor, then the day after in-process with 1 and 2 symbol workers, each from
a copy of the data dir (python -m bench scale; not part of make bench)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import print_stage, save, scaling_exponent, stage_result, table
from python_assets.config import DEFAULT_SYMBOLS, REPO_ROOT, Paths, export_data_dir
from python_assets.ingest.market import generate_market
from python_assets.platform.tree_memory import tree_peak_memory

LAST_DAY = date(2026, 10, 30)
HISTORY_DAYS = (8, 30, 120)  # the next day at each: flat in history (issue 21)
DEMO_DAYS = 30  # make run's demo history
MEMORY_BUDGET_MIB = 1024
INCREMENTAL_BUDGET_S = 10.0
UNCHANGED_BUDGET_S = 5.0
FLAT_EXPONENT = 0.1  # the next day's time ~ history^exponent
SCALE_SYMBOLS = tuple(DEFAULT_SYMBOLS) + tuple(f"SIM{i:02d}-USDT" for i in range(17))  # 20 symbols


def _days(last: date, n: int) -> list[date]:
    return [last - timedelta(days=n - 1 - i) for i in range(n)]


FANOUT_STEPS = ("backtest_ledger", "strategy_research")  # the steps whose symbols / designs fan out (tuning)
STEP_DONE = re.compile(r'Finished execution of step "(\w+)" in (?:(\d+)m)?([\d.]+)(ms|s)\.')


def _env(paths: Paths, symbols: tuple[str, ...], workers: int = 1) -> dict[str, str]:
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir), "DAGSTER_HOME": str(paths.dagster_home),
           "BLOFIN_SYMBOLS": ",".join(symbols), "BLOFIN_SYMBOL_WORKERS": str(workers)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def step_seconds(text: str) -> dict[str, float]:
    """Each step's own time from Dagster's 'Finished execution of step "x" in 533ms / 2.1s / 4m52s.' lines."""
    found = {}
    for name, minutes, value, unit in STEP_DONE.findall(text):
        found[name] = int(minutes or 0) * 60 + float(value) / (1000 if unit == "ms" else 1)
    return found


def materialize(paths: Paths, day: date, symbols: tuple[str, ...] = tuple(DEFAULT_SYMBOLS),
                multiprocess: bool = False, workers: int = 1) -> dict[str, float]:
    """One day of the whole graph in a child process: the CLI (in-process executor, as make run) or
    `dagster asset materialize` (the multiprocess executor, as the schedule in `make ui`); workers:
    BLOFIN_SYMBOL_WORKERS, the processes each fan-out step runs its symbols / designs on."""
    if multiprocess:
        paths.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", paths.dagster_home / "dagster.yaml")
        cmd = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "dagster_defs.definitions",
               "--select", "*", "--partition", day.isoformat()]
    else:
        cmd = [sys.executable, "-m", "blofin_cli", "materialize", "--date", day.isoformat()]
    log = paths.data_dir / f"bench_{day}.log"
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=_env(paths, symbols, workers), stdout=fh, stderr=subprocess.STDOUT)
        with tree_peak_memory(proc.pid, interval_s=0.05) as mem:  # its records are at 50 ms
            rc = proc.wait()
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"materialize {day} failed (exit {rc}); see {log}")
    dagster_log = log if multiprocess else paths.data_dir / "last_run.log"  # the CLI logs Dagster there
    steps = step_seconds(dagster_log.read_text(errors="replace")) if dagster_log.exists() else {}
    return {"seconds": seconds, **mem.as_dict(), "steps": {k: steps[k] for k in FANOUT_STEPS if k in steps}}


def _size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def _fresh(name: str) -> Paths:
    paths = Paths(export_data_dir().data_dir / name)
    shutil.rmtree(paths.data_dir, ignore_errors=True)
    paths.data_dir.mkdir(parents=True)
    return paths


def run(history: tuple[int, ...] = HISTORY_DAYS) -> dict:
    """At each history length: the full first day, then the incremental next day; then that next day again,
    unchanged, on the longest. Memory is judged on the sampled tree (the issue's measure); the upper bound
    (Dagster process + largest child, each at its own peak) is printed beside it."""
    sizes, full, peaks, memory, nexts = [], [], [], [], []
    next_day = LAST_DAY + timedelta(days=1)
    for n in history:
        paths = _fresh(f"bench_daily_{n}d")
        sizes.append(generate_market(paths, DEFAULT_SYMBOLS, _days(LAST_DAY, n)))
        r = materialize(paths, LAST_DAY)
        full.append(r["seconds"]), peaks.append(r["peak_mib"]), memory.append(r)
        generate_market(paths, DEFAULT_SYMBOLS, [next_day])
        nexts.append(materialize(paths, next_day))
    same = materialize(paths, next_day)  # nothing new in the lake, same code: said unchanged, not rerun
    inc_seconds = [r["seconds"] for r in nexts]
    demo = nexts[history.index(DEMO_DAYS)] if DEMO_DAYS in history else nexts[-1]
    flat = scaling_exponent(list(history), inc_seconds) if len(history) >= 2 else float("nan")
    sampled = max(r["sampled_mib"] for r in memory + nexts)
    goals = [("peak memory of a daily run (tree sampled)", f"{sampled:,.0f} MiB", f"<= {MEMORY_BUDGET_MIB:,} MiB",
              sampled <= MEMORY_BUDGET_MIB),
             (f"next day, {DEMO_DAYS}-day demo", f"{demo['seconds']:.1f} s", f"<= {INCREMENTAL_BUDGET_S:.0f} s",
              demo["seconds"] <= INCREMENTAL_BUDGET_S),
             (f"next day's exponent in history ({', '.join(map(str, history))} days)", f"{flat:.2f}",
              f"<= {FLAT_EXPONENT}", flat <= FLAT_EXPONENT),
             ("the same day again, unchanged", f"{same['seconds']:.1f} s", f"<= {UNCHANGED_BUDGET_S:.0f} s",
              same["seconds"] <= UNCHANGED_BUDGET_S)]
    res = stage_result(f"daily run: whole graph, first and next day on {', '.join(map(str, history))} days of demo history",
                       "ticks", sizes, full, "", [],
                       "; ".join(f"{name} {bound}" for name, _, bound, _ in goals), all(ok for *_, ok in goals),
                       history_days=list(history), peak_mib=peaks, incremental_seconds=demo["seconds"],
                       incremental_peak_mib=demo["peak_mib"], incremental_vs_full=demo["seconds"] / full[-1],
                       next_day_seconds=inc_seconds, next_day_exponent=flat, sampled_peak_mib=sampled,
                       unchanged_seconds=same["seconds"], unchanged_vs_incremental=same["seconds"] / nexts[-1]["seconds"],
                       memory_first_days=memory, memory_next_days=nexts, memory_incremental=demo,
                       lake_mib=_size_mib(paths.lake), warehouse_mib=paths.warehouse.stat().st_size / 2**20)
    save("daily_run", res)
    print_stage(res)
    rows = []
    for n, first, nxt in zip(history, memory, nexts):
        rows.append((f"first day, {n} days", f"{first['seconds']:.1f} s",
                     f"sampled {first['sampled_mib']:,.0f} MiB (bound {first['peak_mib']:,.0f})", ""))
        rows.append((f"next day, {n} days", f"{nxt['seconds']:.1f} s",
                     f"sampled {nxt['sampled_mib']:,.0f} MiB (bound {nxt['peak_mib']:,.0f})",
                     f"{nxt['seconds'] / first['seconds']:.2f}x of the first day"))
    rows.append((f"the next day again, unchanged ({history[-1]} days)", f"{same['seconds']:.1f} s",
                 f"sampled {same['sampled_mib']:,.0f} MiB", f"{same['seconds'] / nexts[-1]['seconds']:.2f}x of the next day"))
    print(table(rows, ("run", "wall", "memory: whole tree sampled (bound: Dagster process + largest child)", "vs")))
    print(table([(name, got, bound, "met" if ok else "not met") for name, got, bound, ok in goals],
                ("goal", "measured", "bound", "")))
    return res


def _steps(r: dict) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in r["steps"].items()) or "step times not in the log"


def scale(symbols: tuple[str, ...] = SCALE_SYMBOLS, days: int = 30) -> dict:
    """20 symbols x 30 days through the whole graph with the multiprocess executor: the first day
    (builds every day's bars and features) and the incremental next day; then the day after that with
    the in-process executor twice, from two copies of the data dir: with 1 symbol worker (the in-run
    reference) and with 2 (backtests and tuning side by side), so the ratio compares the same work
    (two different days tune different designs); sizes on disk."""
    paths = _fresh("bench_scale")
    t0 = time.perf_counter()
    ticks = generate_market(paths, symbols, _days(LAST_DAY, days))
    generate_s = time.perf_counter() - t0
    first = materialize(paths, LAST_DAY, symbols, multiprocess=True)
    generate_market(paths, symbols, [LAST_DAY + timedelta(days=k) for k in (1, 2)])
    nxt = materialize(paths, LAST_DAY + timedelta(days=1), symbols, multiprocess=True)
    # the day after with the in-process executor (the CLI's: no process start per step), 1 and 2 workers,
    # each on its own copy of the data dir as the next day left it (a data dir moves: relative paths)
    twin = Paths(paths.data_dir.with_name("bench_scale_two_workers"))
    shutil.rmtree(twin.data_dir, ignore_errors=True)
    shutil.copytree(paths.data_dir, twin.data_dir, symlinks=True)
    inproc = materialize(paths, LAST_DAY + timedelta(days=2), symbols, workers=1)
    two = materialize(twin, LAST_DAY + timedelta(days=2), symbols, workers=2)
    res = {"symbols": len(symbols), "days": days, "ticks": ticks, "generate_seconds": generate_s,
           "first_day_seconds": first["seconds"], "first_day_peak_mib": first["peak_mib"],
           "next_day_seconds": nxt["seconds"], "next_day_peak_mib": nxt["peak_mib"],
           "first_day_memory": first, "next_day_memory": nxt,
           "in_process_next_day_seconds": inproc["seconds"], "in_process_next_day_peak_mib": inproc["peak_mib"],
           "in_process_next_day_steps": inproc["steps"],
           "two_workers_next_day_seconds": two["seconds"], "two_workers_next_day_peak_mib": two["peak_mib"],
           "two_workers_next_day_steps": two["steps"],
           "two_workers_vs_one": inproc["seconds"] / two["seconds"], "cpu_count": os.cpu_count(),
           "lake_mib": _size_mib(paths.lake), "warehouse_mib": paths.warehouse.stat().st_size / 2**20,
           "executor": "multiprocess (dagster asset materialize, deploy/dagster.yaml pools), then in-process"}
    save("scale_simulation", res)
    print(f"\n== scale simulation: {len(symbols)} symbols x {days} days, {ticks:,} ticks, {os.cpu_count()} cores ==")
    print(table([
        ("generate ticks into the lake", f"{generate_s:.1f} s", "", ""),
        ("first day (all history built), multiprocess", f"{first['seconds']:.1f} s", f"{first['peak_mib']:,.0f} MiB", ""),
        ("next day, multiprocess", f"{nxt['seconds']:.1f} s", f"{nxt['peak_mib']:,.0f} MiB", _steps(nxt)),
        ("the day after, in-process, 1 symbol worker", f"{inproc['seconds']:.1f} s", f"{inproc['peak_mib']:,.0f} MiB",
         f"reference; {_steps(inproc)}"),
        ("the same day from a copy, 2 symbol workers", f"{two['seconds']:.1f} s", f"{two['peak_mib']:,.0f} MiB",
         f"{res['two_workers_vs_one']:.2f}x the 1-worker run; {_steps(two)}"),
        ("lake / warehouse on disk", f"{res['lake_mib']:,.0f} MiB", f"{res['warehouse_mib']:,.0f} MiB", ""),
    ], ("step", "wall", "peak memory", "vs / fan-out steps")))
    return res
