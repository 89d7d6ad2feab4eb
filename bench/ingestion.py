"""Ingestion: a trades CSV into the lake with `ingest_file` (parse, validate, quarantine, de-duplicate,
write per-day partitions atomically) at 100k, 400k and 1.6M rows, against pyarrow reading the same
CSV and writing one Parquet file with no checks (the floor of any CSV -> Parquet path)."""

from __future__ import annotations

import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bench.common import best_of, print_stage, save, stage_result
from python_assets.config import Paths, export_data_dir
from python_assets.ingest.trades import ingest_file
from python_assets.ingest.synthetic import generate_ticks

SIZES = (100_000, 400_000, 1_600_000)
SYMBOL = "BTC-USDT"


def trades_csv(root: Paths, rows: int) -> Path:
    """A CSV of `rows` synthetic BTC trades (ts, price, size, side, trade_id) over consecutive days."""
    parts, n, day = [], 0, date(2024, 1, 1)
    while n < rows:
        t = generate_ticks(SYMBOL, day)
        parts.append(t[["ts", "price", "size", "side", "trade_id"]])
        n += len(t)
        day += timedelta(days=1)
    frame = pd.concat(parts, ignore_index=True).iloc[:rows]
    path = root.data_dir / f"trades_{rows}.csv"
    frame.to_csv(path, index=False)
    return path


def run(sizes: tuple[int, ...] = SIZES) -> dict:
    """ingest_file into an empty lake at each size, and pyarrow's bare copy of the same file."""
    root = Paths(export_data_dir().data_dir / "bench_ingest")
    shutil.rmtree(root.data_dir, ignore_errors=True)
    root.data_dir.mkdir(parents=True)
    ours, ref = [], []
    for rows in sizes:
        path = trades_csv(root, rows)
        lake = Paths(root.data_dir / f"lake_{rows}")
        t0 = time.perf_counter()
        result = ingest_file(lake, path, SYMBOL)
        ours.append(time.perf_counter() - t0)
        assert result.rows_added == rows and result.quarantined == 0, result
        t_ref, _ = best_of(lambda: pq.write_table(pacsv.read_csv(path), root.data_dir / "raw.parquet"), repeat=1)
        ref.append(t_ref)
    res = stage_result("ingestion: trades CSV -> validated lake partitions (ingest_file)", "rows", list(sizes), ours,
                       "pyarrow CSV -> one Parquet file, no checks", ref, "report only", None)
    save("ingestion", res)
    print_stage(res)
    return res
