"""feat_recursive: one incremental day (continued from the carried resume_state) at two history
lengths vs the full rebuild of the same history; the incremental day should stay flat in history."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from bench.common import print_stage, save, stage_result
from bench.features import START_MS, dbt_run, load_bars, synthetic_bars
from python_assets.config import Paths, export_data_dir
from python_assets.timeframes import DAY_MS, MINUTE_MS

SIZES = (30, 120)  # days of 1m history before the measured day
ROLLUPS = ("stg_candles", "bars_5m", "bars_15m", "bars_1h", "bars_4h", "bars_1d", "int_bars_unioned")


def day_rows(paths: Paths, day: date) -> str:
    """The day's feat_recursive rows, every column, as exact text (repr round-trips every double)."""
    start = (day - date(1970, 1, 1)).days * DAY_MS
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return repr(con.execute(f"select * from feat_recursive where bar_at_ms >= {start} "
                                "order by symbol, timeframe, bar_at_ms").fetchall())


def run(sizes: tuple[int, ...] = SIZES) -> dict:
    """Per history length: dbt's time for feat_recursive rebuilt over history + 1 day, then for the
    last day alone as an incremental run, which must leave that day's rows bit-identical."""
    paths = Paths(export_data_dir().data_dir / "bench_recursive")
    full_s, day_s, identical = [], [], []
    for days in sizes:
        load_bars(paths, synthetic_bars((days + 1) * (DAY_MS // MINUTE_MS)))
        dbt_run(paths, *ROLLUPS)
        full_s.append(dbt_run(paths, "feat_recursive")["feat_recursive"])
        last = date(1970, 1, 1) + timedelta(days=START_MS // DAY_MS + days)
        rebuilt = day_rows(paths, last)
        day_s.append(dbt_run(paths, "feat_recursive", window=(last.isoformat(), (last + timedelta(days=1)).isoformat()))["feat_recursive"])
        identical.append(day_rows(paths, last) == rebuilt)
    flat = day_s[-1] / day_s[0]
    res = stage_result("feat_recursive: one incremental day vs the full rebuild (dbt model time, 1m bars + rollups)",
                       "days of history", list(sizes), day_s, "full rebuild", full_s,
                       f"incremental day flat in history (<= 1.5x at {sizes[-1] // sizes[0]}x the history)",
                       flat <= 1.5, incremental_growth=flat, full_growth=full_s[-1] / full_s[0],
                       bit_identical_to_full=identical)
    save("feat_recursive_incremental", res)
    print_stage(res)
    print(f"feat_recursive: incremental day {', '.join(f'{t:.2f} s' for t in day_s)} vs full rebuild "
          f"{', '.join(f'{t:.2f} s' for t in full_s)} at {', '.join(map(str, sizes))} days of history -> full / "
          f"incremental {', '.join(f'{f / d:.1f}x' for f, d in zip(full_s, day_s))}; incremental grows "
          f"{flat:.2f}x, full {res['full_growth']:.2f}x over {sizes[-1] / sizes[0]:.0f}x the history; "
          f"incremental day bit-identical to the rebuild: {all(identical)}")
    return res
