"""Two writers of one symbol and day at the same time (two `ingest`s, an `import` and the inbox sensor, the
recorder's merge): each read-merge-write runs alone under the symbol's lake lock, so both keep their rows."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pandas as pd
import pyarrow.parquet as pq
import pytest

from python_assets.config import Paths
from python_assets.lake import store as lake
from python_assets.lake import trade_index

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
DAY = date(2025, 3, 10)


def trades(prefix: str, offset: int) -> pd.DataFrame:
    """100 trades of one day, ids prefix0..prefix99, at even (offset 0) or odd (offset 1) milliseconds."""
    return pd.DataFrame({"trade_id": [f"{prefix}{i}" for i in range(100)], "ts": [T0 + 2 * i + offset for i in range(100)],
                         "price": 100.0, "size": 1.0, "side": "buy"})


def candles(offset: int) -> pd.DataFrame:
    """Ten 1m bars of one day, at even (offset 0) or odd (offset 1) minutes."""
    return pd.DataFrame({"bar_at_ms": [T0 + (2 * i + offset) * 60_000 for i in range(10)], "open": 1.0, "high": 2.0,
                         "low": 0.5, "close": 1.5, "volume": 10.0, "source": "test"})


def funding(offset: int) -> pd.DataFrame:
    """Three funding rates of one day, at hours 0/8/16 (offset 0) or 4/12/20 (offset 1)."""
    return pd.DataFrame({"funding_ts": [T0 + (8 * i + 4 * offset) * 3_600_000 for i in range(3)], "funding_rate": 1e-4})


def race(monkeypatch: pytest.MonkeyPatch, module: object, reader: str, writers: list[Callable[[], object]]) -> None:
    """Run two writers in threads whose calls of module.reader wait for each other (up to 1 s): without a
    lock both read the same old file, and the second rename drops what the first one wrote."""
    meet = threading.Barrier(2, timeout=1.0)
    real = getattr(module, reader)

    def read_then_meet(*args):
        found = real(*args)
        with contextlib.suppress(threading.BrokenBarrierError):  # with the lock the other writer waits instead
            meet.wait()
        return found

    monkeypatch.setattr(module, reader, read_then_meet)
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(w) for w in writers]:
            done.result()


WRITES = {  # kind: (write the k-th writer's rows, the day file, rows both writers stored)
    "trades": (lambda p, k: lake.write_trades(p, "BTC-USDT", trades("AB"[k], k)),
               lambda p: lake.trades_partition(p, "BTC-USDT", DAY), 200),
    "candles": (lambda p, k: lake.write_candles(p, "BTC-USDT", "1m", candles(k)),
                lambda p: lake.candles_partition(p, "BTC-USDT", "1m", DAY), 20),
    "funding": (lambda p, k: lake.write_funding(p, "BTC-USDT", funding(k)),
                lambda p: lake.funding_partition(p, "BTC-USDT", DAY), 6),
}


@pytest.mark.parametrize("kind", list(WRITES))
def test_two_writers_of_one_day_at_once_both_keep_their_rows(data_dir: Paths, monkeypatch, kind):
    write, partition, total = WRITES[kind]
    race(monkeypatch, lake, "read_partition", [lambda: write(data_dir, 0), lambda: write(data_dir, 1)])
    assert pq.read_table(partition(data_dir)).num_rows == total


def test_the_trade_index_covers_both_writers_ids(data_dir: Paths, monkeypatch):
    race(monkeypatch, trade_index, "load_ranges", [lambda: lake.write_trades(data_dir, "BTC-USDT", trades("A", 0)),
                                                   lambda: lake.write_trades(data_dir, "BTC-USDT", trades("B", 1))])
    later = trades("A", 0).assign(ts=lambda f: f["ts"] + 86_400_000)  # the same ids on the next day: conflicts
    stats = lake.write_trades(data_dir, "BTC-USDT", pd.concat([later, trades("B", 1).assign(ts=later["ts"] + 1)]))
    assert stats.added == 0 and len(stats.conflicts) == 200


HOLD = """
import sys, time
from pathlib import Path
from python_assets.config import Paths
from python_assets.lake.store import symbol_lock
with symbol_lock(Paths(Path(sys.argv[1])), "BTC-USDT"):
    print("held", flush=True)
    time.sleep(1.5)
    Path(sys.argv[2]).touch()  # about to let go
"""


def test_a_writer_waits_for_another_process_holding_the_lock(data_dir: Paths, tmp_path):
    released = tmp_path / "released"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir.data_dir), str(released)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert child.stdout.readline().strip() == "held"
        lake.write_trades(data_dir, "BTC-USDT", trades("A", 0))
        assert released.exists()  # the write began only once the other process let go
    finally:
        child.kill()
        child.wait()
    assert pq.read_table(lake.trades_partition(data_dir, "BTC-USDT", DAY)).num_rows == 100
