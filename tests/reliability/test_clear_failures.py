"""Each way a run can be refused gives one clear message and a failed run, and loses nothing stored
before: a corrupted lake file, a full disk, an unwritable data directory (missing data: see
tests/dagster_defs/test_pipeline.py)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from datetime import date

import dagster as dg
import pyarrow.parquet as pq
import pytest
from conftest import CLI

from dagster_defs.ingest.assets import lake_market_data
from dagster_defs.resources import MarketSource
from python_assets import lake
from python_assets.lake import LakeWriteError, trades_partition, write_trades
from python_assets.market import generate_market_day

DAY = date(2025, 3, 10)


def run_ingest(day: date) -> dg.ExecuteInProcessResult:
    return dg.materialize([lake_market_data], partition_key=day.isoformat(), raise_on_error=False,
                          resources={"market_source": MarketSource(symbols="BTC-USDT")})


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    return str(failure.step_failure_data.error.message) + str(failure.step_failure_data.user_failure_data)


def test_a_corrupted_lake_file_fails_the_run_naming_the_file(data_dir):
    generate_market_day(data_dir, "BTC-USDT", DAY)
    earlier = trades_partition(data_dir, "BTC-USDT", date(2025, 3, 9))
    generate_market_day(data_dir, "BTC-USDT", date(2025, 3, 9))
    earlier.write_bytes(earlier.read_bytes()[: 200])  # a torn copy: the footer is gone
    result = run_ingest(DAY)
    assert not result.success
    message = failure_message(result)
    assert "1 corrupted lake file(s)" in message and str(earlier) in message and "Nothing was changed" in message
    assert len([e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]) == 0  # no pointless retries
    assert pq.read_table(trades_partition(data_dir, "BTC-USDT", DAY)).num_rows > 0  # the good day is intact


def test_a_full_disk_fails_the_run_and_keeps_the_old_file(data_dir, monkeypatch):
    generate_market_day(data_dir, "BTC-USDT", DAY)
    target = trades_partition(data_dir, "BTC-USDT", DAY)
    before = target.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lake.pq, "write_table", disk_full)
    with pytest.raises(LakeWriteError, match="No space left on device; the previous version of the file"):
        write_trades(data_dir, "BTC-USDT", pq.read_table(target).to_pandas().assign(trade_id=lambda f: "x" + f["trade_id"]))
    assert target.read_bytes() == before
    assert not list(data_dir.lake.rglob(".tmp-*"))  # the temp file was removed
    result = run_ingest(date(2025, 3, 11))  # a new day cannot be written: the run fails, clearly, once
    assert not result.success
    assert "No space left on device" in failure_message(result)
    assert target.read_bytes() == before


def test_an_unwritable_data_dir_is_refused_before_anything_runs(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    env = {**os.environ, "BLOFIN_DATA_DIR": str(blocker / "data")}
    out = subprocess.run([*CLI, "materialize", "--date", DAY.isoformat()], env=env, capture_output=True, text=True)
    assert out.returncode == 2
    assert "is not writable" in out.stderr and "Traceback" not in out.stderr


def test_the_run_lock_refuses_a_second_holder_and_frees_itself(data_dir):
    from python_assets.runlock import RunInProgress, run_lock

    with run_lock(data_dir):
        child = subprocess.run([sys.executable, "-c", "from python_assets.runlock import run_lock;"
                                "from python_assets.config import paths;"
                                "import contextlib; ctx = run_lock(paths()); ctx.__enter__()"],
                               env={**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir)}, capture_output=True, text=True)
        assert child.returncode != 0 and "another run is using" in child.stderr and f"pid {os.getpid()}" in child.stderr
        with pytest.raises(RunInProgress):
            with run_lock(data_dir):
                pass
    with run_lock(data_dir):  # released on exit
        pass


def test_temp_files_of_killed_writers_are_swept_only_when_stale(data_dir):
    import time

    from python_assets.lake_health import remove_stale_temp_files

    generate_market_day(data_dir, "BTC-USDT", DAY)
    part = trades_partition(data_dir, "BTC-USDT", DAY).parent
    old, fresh = part / ".tmp-old.inprogress", part / ".tmp-new.inprogress"
    old.write_bytes(b"half a file")
    fresh.write_bytes(b"a write in progress")
    staging = data_dir.models / "risk_scorer" / ".tmp-abc-123"
    staging.mkdir(parents=True)
    (staging / "model.ubj").write_bytes(b"half a model")
    for stale in (old, staging):
        os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temp_files(data_dir) == 2
    assert not old.exists() and not staging.exists() and fresh.exists()
