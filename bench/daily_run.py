"""The whole daily graph as users run it: a first (full) day on 8, 15 and 30 days of demo history,
then the incremental next day on the 30-day demo, then that day again with nothing new (the CLI finds it
unchanged); wall time and the peak memory of the whole process tree (Dagster, dbt, model training), each
beside its goal (issue 21: peak <= 1 GiB, next day <= 10 s, unchanged rerun <= 5 s). `scale()` is the 20 symbols x 30 days simulation with
Dagster's multiprocess executor, then two more days in-process with 1 and 2 symbol workers
(python -m bench scale; not part of make bench)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import print_stage, save, stage_result, table, tree_peak_memory
from python_assets.config import DEFAULT_SYMBOLS, REPO_ROOT, Paths, export_data_dir
from python_assets.market import generate_market

LAST_DAY = date(2026, 10, 30)
HISTORY_DAYS = (8, 15, 30)
MEMORY_BUDGET_MIB = 1024
INCREMENTAL_BUDGET_S = 10.0
UNCHANGED_BUDGET_S = 5.0
SCALE_SYMBOLS = tuple(DEFAULT_SYMBOLS) + tuple(f"SIM{i:02d}-USDT" for i in range(17))  # 20 symbols


def _days(last: date, n: int) -> list[date]:
    return [last - timedelta(days=n - 1 - i) for i in range(n)]


FANOUT_STEPS = ("backtest_ledger", "strategy_tuning")  # the steps whose symbols / designs fan out
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
        with tree_peak_memory(proc.pid) as mem:
            rc = proc.wait()
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"materialize {day} failed (exit {rc}); see {log}")
    dagster_log = log if multiprocess else paths.data_dir / "last_run.log"  # the CLI logs Dagster there
    steps = step_seconds(dagster_log.read_text(errors="replace")) if dagster_log.exists() else {}
    return {"seconds": seconds, **mem, "steps": {k: steps[k] for k in FANOUT_STEPS if k in steps}}


def _size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def _fresh(name: str) -> Paths:
    paths = Paths(export_data_dir().data_dir / name)
    shutil.rmtree(paths.data_dir, ignore_errors=True)
    paths.data_dir.mkdir(parents=True)
    return paths


def run(history: tuple[int, ...] = HISTORY_DAYS) -> dict:
    """Full first day at each history length, then the next day incrementally on the longest."""
    sizes, full, peaks, memory = [], [], [], []
    for n in history:
        paths = _fresh(f"bench_daily_{n}d")
        sizes.append(generate_market(paths, DEFAULT_SYMBOLS, _days(LAST_DAY, n)))
        r = materialize(paths, LAST_DAY)
        full.append(r["seconds"]), peaks.append(r["peak_mib"]), memory.append(r)
    next_day = LAST_DAY + timedelta(days=1)
    generate_market(paths, DEFAULT_SYMBOLS, [next_day])
    inc = materialize(paths, next_day)
    same = materialize(paths, next_day)  # nothing new in the lake, same code: said unchanged, not rerun
    peak = max(peaks + [inc["peak_mib"]])
    goals = [("peak memory of a daily run", f"{peak:,.0f} MiB", f"<= {MEMORY_BUDGET_MIB:,} MiB", peak <= MEMORY_BUDGET_MIB),
             ("next day, 30-day demo", f"{inc['seconds']:.1f} s", f"<= {INCREMENTAL_BUDGET_S:.0f} s",
              inc["seconds"] <= INCREMENTAL_BUDGET_S),
             ("the same day again, unchanged", f"{same['seconds']:.1f} s", f"<= {UNCHANGED_BUDGET_S:.0f} s",
              same["seconds"] <= UNCHANGED_BUDGET_S)]
    res = stage_result(f"daily run: whole graph, first day on {', '.join(map(str, history))} days of demo history",
                       "ticks", sizes, full, "", [],
                       "; ".join(f"{name} {bound}" for name, _, bound, _ in goals), all(ok for *_, ok in goals),
                       history_days=list(history), peak_mib=peaks, incremental_seconds=inc["seconds"],
                       incremental_peak_mib=inc["peak_mib"], incremental_vs_full=inc["seconds"] / full[-1],
                       unchanged_seconds=same["seconds"], unchanged_vs_incremental=same["seconds"] / inc["seconds"],
                       memory_first_days=memory, memory_incremental=inc,
                       lake_mib=_size_mib(paths.lake), warehouse_mib=paths.warehouse.stat().st_size / 2**20)
    save("daily_run", res)
    print_stage(res)
    print(table([
        ("first day, 30-day demo", f"{full[-1]:.1f} s", f"peak {peaks[-1]:,.0f} MiB (sampled {memory[-1]['sampled_mib']:,.0f})", ""),
        ("incremental next day", f"{inc['seconds']:.1f} s", f"peak {inc['peak_mib']:,.0f} MiB (sampled {inc['sampled_mib']:,.0f})",
         f"{inc['seconds'] / full[-1]:.2f}x of the first day"),
        ("the next day again, unchanged", f"{same['seconds']:.1f} s", f"peak {same['peak_mib']:,.0f} MiB",
         f"{same['seconds'] / inc['seconds']:.2f}x of the incremental run"),
    ], ("run", "wall", "memory: Dagster process + largest child, each at its own peak", "vs")))
    print(table([(name, got, bound, "met" if ok else "not met") for name, got, bound, ok in goals],
                ("goal", "measured", "bound", "")))
    return res


def _steps(r: dict) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in r["steps"].items()) or "step times not in the log"


def scale(symbols: tuple[str, ...] = SCALE_SYMBOLS, days: int = 30) -> dict:
    """20 symbols x 30 days through the whole graph with the multiprocess executor: the first day
    (builds every day's bars and features) and the incremental next day; then two more next days
    with the in-process executor, the first with 1 symbol worker (the in-run reference) and the
    second with 2 (backtests and tuning side by side); sizes on disk."""
    paths = _fresh("bench_scale")
    t0 = time.perf_counter()
    ticks = generate_market(paths, symbols, _days(LAST_DAY, days))
    generate_s = time.perf_counter() - t0
    first = materialize(paths, LAST_DAY, symbols, multiprocess=True)
    generate_market(paths, symbols, [LAST_DAY + timedelta(days=k) for k in (1, 2, 3)])
    nxt = materialize(paths, LAST_DAY + timedelta(days=1), symbols, multiprocess=True)
    # two more next days with the in-process executor (the CLI's): no process start per step
    inproc = materialize(paths, LAST_DAY + timedelta(days=2), symbols, workers=1)
    two = materialize(paths, LAST_DAY + timedelta(days=3), symbols, workers=2)
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
        ("next day, in-process, 1 symbol worker", f"{inproc['seconds']:.1f} s", f"{inproc['peak_mib']:,.0f} MiB",
         f"reference; {_steps(inproc)}"),
        ("next day, in-process, 2 symbol workers", f"{two['seconds']:.1f} s", f"{two['peak_mib']:,.0f} MiB",
         f"{res['two_workers_vs_one']:.2f}x the 1-worker day; {_steps(two)}"),
        ("lake / warehouse on disk", f"{res['lake_mib']:,.0f} MiB", f"{res['warehouse_mib']:,.0f} MiB", ""),
    ], ("step", "wall", "peak memory", "vs / fan-out steps")))
    return res
