"""A read-only copy of the warehouse published at the end of each run, so readers never meet a lock.

DuckDB lets one process write a database file; readers of the live file fail while a run holds
it. `blofin-stack query` and other readers use this snapshot instead: the whole file is copied
after a checkpoint and renamed into place, so a reader sees the previous run or the new one, never
half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from python_assets.config import Paths


def snapshot_path(paths: Paths) -> Path:
    return paths.data_dir / "warehouse_snapshot.duckdb"


def publish_snapshot(paths: Paths) -> Path:
    """Checkpoint the warehouse, copy it beside itself and atomically replace the snapshot."""
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute("checkpoint")
    target = snapshot_path(paths)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-snapshot-", suffix=".inprogress", dir=paths.data_dir)
    os.close(fd)
    try:
        shutil.copyfile(paths.warehouse, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def readable_warehouse(paths: Paths) -> Path:
    """The snapshot when one was published, else the live warehouse."""
    snap = snapshot_path(paths)
    return snap if snap.exists() else paths.warehouse
