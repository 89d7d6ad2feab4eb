"""A read-only copy of the warehouse published at the end of each run, so readers never meet a lock.

DuckDB lets one process write a database file; readers of the live file fail while a run holds
it. `blofin-stack query` and other readers use this snapshot instead: the whole file is copied
after a checkpoint and renamed into place, so a reader sees the previous run or the new one, never
half of one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from python_assets.config import Paths
from python_assets.lake.atomic import replace_atomic
from python_assets.warehouse.connection import connect_warehouse


def snapshot_path(paths: Paths) -> Path:
    return paths.data_dir / "warehouse_snapshot.duckdb"


def publish_snapshot(paths: Paths) -> Path:
    """Checkpoint the warehouse, copy it beside itself and atomically replace the snapshot."""
    with connect_warehouse(paths.warehouse, must_exist=True) as con:
        con.execute("checkpoint")
    target = snapshot_path(paths)
    replace_atomic(target, lambda tmp: shutil.copyfile(paths.warehouse, tmp))
    return target


def refresh_snapshot(paths: Paths) -> Path | None:
    """Publish again where a snapshot exists (readers such as `blofin-stack query` read it, not the live
    warehouse): after a write outside the daily run (a CLI backtest, a rebuilt report) they see it at
    once instead of after the next run. Call under the writer lock."""
    return publish_snapshot(paths) if snapshot_path(paths).exists() else None


def readable_warehouse(paths: Paths) -> Path:
    """The snapshot when one was published, else the live warehouse."""
    snap = snapshot_path(paths)
    return snap if snap.exists() else paths.warehouse
