"""feat_recursive: one incremental day (continued from the carried resume_state) at growing history
lengths vs the full rebuild of the same history; the incremental day should stay flat in history."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np

from bench.common import best_of, print_stage, save, stage_result
from bench.features import START_MS, dbt_run, load_bars, synthetic_bars
from python_assets.config import Paths, export_data_dir
from python_assets.features.recursive import recursive_columns
from python_assets.platform.timeframes import DAY_MS, MINUTE_MS

SIZES = (30, 120, 480)  # days of 1m history before the measured day
ROLLUPS = ("stg_candles", "bars_5m", "bars_15m", "bars_1h", "bars_4h", "bars_1d", "int_bars_unioned")
COLUMNS = "symbol, timeframe, bar_at_ms, high, low, close, volume"


def day_rows(paths: Paths, day: date) -> str:
    """The day's feat_recursive rows, every column, as exact text (repr round-trips every double)."""
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return repr(con.execute(f"select * from feat_recursive where bar_date >= date '{day}' "
                                "order by symbol, timeframe, bar_at_ms").fetchall())


def compute_seconds(paths: Paths, day: date) -> tuple[float, float]:
    """In-process time of recursive_columns over all bars, and over the day's bars from carried states
    (the pure computation without dbt's and the model's fixed start-up)."""
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        every = con.sql(f"select {COLUMNS} from int_bars_unioned order by symbol, timeframe, bar_at_ms").fetchnumpy()
    t_full, full = best_of(lambda: recursive_columns(every))
    start = (day - date(1970, 1, 1)).days * DAY_MS
    carried = {}
    for row, state in zip(full["resume_rows"], full["resume_state"]):
        if every["bar_at_ms"][row] < start:
            carried[(every["symbol"][row], every["timeframe"][row])] = state
    window = {k: v[every["bar_at_ms"] >= start] for k, v in every.items()}
    t_day, part = best_of(lambda: recursive_columns(window, carried))
    assert np.array_equal(part["ema_50"], full["ema_50"][every["bar_at_ms"] >= start], equal_nan=True)
    return t_full, t_day


def run(sizes: tuple[int, ...] = SIZES) -> dict:
    """Per history length: dbt's time for feat_recursive rebuilt over history + 1 day, then for the
    last day alone as an incremental run (best of two: the rerun must change nothing), which must
    leave that day's rows bit-identical; plus the same two computations in-process."""
    paths = Paths(export_data_dir().data_dir / "bench_recursive")
    full_s, day_s, identical, compute = [], [], [], []
    for days in sizes:
        load_bars(paths, synthetic_bars((days + 1) * (DAY_MS // MINUTE_MS)))
        dbt_run(paths, *ROLLUPS)
        full_s.append(min(dbt_run(paths, "feat_recursive")["feat_recursive"] for _ in range(2)))
        last = date(1970, 1, 1) + timedelta(days=START_MS // DAY_MS + days)
        rebuilt = day_rows(paths, last)
        window = (last.isoformat(), (last + timedelta(days=1)).isoformat())
        day_s.append(min(dbt_run(paths, "feat_recursive", window=window)["feat_recursive"] for _ in range(2)))
        identical.append(day_rows(paths, last) == rebuilt)
        compute.append(compute_seconds(paths, last))
    res = stage_result("feat_recursive: one incremental day vs the full rebuild (dbt model time, 1m bars + rollups)",
                       "days of history", list(sizes), day_s, "full rebuild", full_s,
                       f"incremental day flat in history (<= 1.5x at {sizes[-1] // sizes[0]}x the history)",
                       day_s[-1] / day_s[0] <= 1.5, bit_identical_to_full=identical,
                       compute_seconds_full=[c[0] for c in compute], compute_seconds_day=[c[1] for c in compute])
    save("feat_recursive_incremental", res)
    print_stage(res)
    print(f"feat_recursive in dbt: incremental day {', '.join(f'{t:.2f} s' for t in day_s)} vs full rebuild "
          f"{', '.join(f'{t:.2f} s' for t in full_s)} at {', '.join(map(str, sizes))} days of history -> full / "
          f"incremental {', '.join(f'{f / d:.1f}x' for f, d in zip(full_s, day_s))}; incremental day "
          f"bit-identical to the rebuild: {all(identical)}")
    print("recursive_columns in-process (no dbt start-up): full " + ", ".join(f"{c[0] * 1e3:.0f} ms" for c in compute)
          + " vs one day " + ", ".join(f"{c[1] * 1e3:.1f} ms" for c in compute) + " -> full / day "
          + ", ".join(f"{c[0] / c[1]:.0f}x" for c in compute))
    return res
