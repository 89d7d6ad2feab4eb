"""release_freed_memory hands the pages Arrow's allocator kept back to the system, and the lake step calls it."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import date

from dagster_defs.ingest import assets as ingest_assets
from dagster_defs.resources import MarketSource
from python_assets.config import Paths

CHILD = """
import numpy as np, pyarrow as pa
from python_assets.platform.memory import release_freed_memory
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 // 2**20
arrays = [pa.array(np.arange(100_000, dtype=np.int64) + i) for i in range(300)]  # 240 MiB in 300 buffers
whole = pa.concat_arrays(arrays)
del arrays, whole
freed = rss()
release_freed_memory()
print(freed, rss())
"""


def test_freed_arrow_buffers_leave_the_process():
    """A process that freed ~470 MiB of Arrow buffers still holds much of it until the release (mimalloc keeps
    its pages); after it, at least 100 MiB less."""
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout.split()
    freed, released = map(int, out)
    assert freed - released >= 100, (freed, released)


def test_the_lake_step_releases_what_its_writers_freed(tmp_path, monkeypatch):
    """fill_lake ends with the release: the Dagster process runs the rest of the day on top of what it holds."""
    calls = []
    monkeypatch.setattr(ingest_assets, "release_freed_memory", lambda: calls.append(1))
    ingest_assets.fill_lake(Paths(tmp_path / "data"), [date(2025, 3, 10)], MarketSource(kind="synthetic", symbols="ETH-USDT"),
                            logging.getLogger("test"))
    assert calls == [1]
