"""One writer at a time, whoever starts it. While another process holds the data directory's writer lock,
the CLI's writers (backtest, report, materialize) and Dagster steps through the real `warehouse`
resource (a Python asset, a dbt step before dbt starts) wait a bounded time, then are refused with one
line naming the holder (pid, what, run id, since when). A DuckDB process holding the warehouse file is
named the same way. The lock is re-entrant within a process, so a CLI run does not block its own steps."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import dagster as dg
import duckdb
import pytest
from conftest import CLI

from dagster_defs.backtests.assets import strategy_specs
from blofin_cli.errors import step_root_cause
from dagster_defs.dbt.assets import warehouse_dbt_assets
from dagster_defs.resources import resources
from python_assets.config import Paths
from python_assets.platform.runlock import RunInProgress, lock_file, writer_lock

DAY = date(2025, 3, 10)
HOLD = """
import sys, time
from python_assets.config import paths
from python_assets.platform.runlock import writer_lock
with writer_lock(paths(), "blofin-stack backtest", run_id="run-in-another-process"):
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""
OPEN_FILE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("held", flush=True)
time.sleep(60)
"""


@contextmanager
def holder(paths: Paths, script: str, *args: str) -> Iterator[subprocess.Popen]:
    """A second process running script until it says 'held'; killed on exit."""
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir)}
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def cli(paths: Paths, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env={**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir), **env},
                          capture_output=True, text=True, timeout=300)


def empty_warehouse(paths: Paths) -> None:
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(paths.warehouse)).close()


def step_failure(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    return step_root_cause(failure.step_failure_data.error)


def materialize(assets: list, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """The assets with the real resources (the warehouse's lock wait from BLOFIN_LOCK_WAIT_SECONDS)."""
    return dg.materialize(assets, resources=resources(), partition_key=DAY.isoformat(), raise_on_error=False,
                          instance=instance)


def test_cli_writers_are_refused_naming_the_holder_or_wait_for_it(data_dir):
    empty_warehouse(data_dir)
    with writer_lock(data_dir, "a test holding the lock", run_id="run-42"):
        for args in (["report", "--date", DAY.isoformat()], ["backtest", "--strategy", "sma_cross"],
                     ["materialize", "--date", DAY.isoformat()]):
            out = cli(data_dir, *args)
            assert out.returncode == 3, out.stderr
            (line,) = out.stderr.strip().splitlines()
            assert line.startswith(f"error: another writer is using {data_dir.data_dir}: pid {os.getpid()}, "
                                   "a test holding the lock, dagster run run-42, since 20"), line
        t0 = time.monotonic()
        out = cli(data_dir, "report", "--date", DAY.isoformat(), BLOFIN_LOCK_WAIT_SECONDS="1.5")
        assert time.monotonic() - t0 >= 1.5 and out.returncode == 3
        waiting, refused = out.stderr.strip().splitlines()
        assert waiting.startswith("waiting up to 1.5 s for the writer lock") and "still, after waiting 1.5 s" in refused
    assert "Traceback" not in out.stderr


def test_a_dagster_step_is_refused_naming_the_holder_and_runs_once_it_is_gone(data_dir, monkeypatch):
    monkeypatch.setenv("BLOFIN_LOCK_WAIT_SECONDS", "0.5")
    with holder(data_dir, HOLD, "60") as other:
        result = materialize([strategy_specs])
        assert not result.success
        message = step_failure(result)
        assert message.startswith(f"RunInProgress: another writer is using {data_dir.data_dir}: pid {other.pid}, "
                                  "blofin-stack backtest, dagster run run-in-another-process, since 20"), message
        assert "still, after waiting 0.5 s" in message
        # dbt writes the warehouse from its own process: its step is refused before dbt starts
        t0 = time.monotonic()
        result = materialize([warehouse_dbt_assets])
        assert not result.success and f"pid {other.pid}, blofin-stack backtest" in step_failure(result)
        assert time.monotonic() - t0 < 60 and not (data_dir.data_dir / "dbt_target" / "run_results.json").exists()
    monkeypatch.setenv("BLOFIN_LOCK_WAIT_SECONDS", "60")
    instance = dg.DagsterInstance.ephemeral()
    with holder(data_dir, HOLD, "5") as other:  # a short writer (a CLI backtest): the step waits for it, then runs
        result = materialize([strategy_specs], instance)
    assert result.success
    said = [r.user_message for r in instance.all_logs(result.run_id) if "waiting up to" in (r.user_message or "")]
    assert len(said) == 1 and f"pid {other.pid}, blofin-stack backtest" in said[0]
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from strategy_specs").fetchone()[0] > 0


def test_a_process_holding_the_warehouse_file_is_named(data_dir, monkeypatch):
    empty_warehouse(data_dir)
    with holder(data_dir, OPEN_FILE, str(data_dir.warehouse)) as reader:
        out = cli(data_dir, "report", "--date", DAY.isoformat())
        assert out.returncode == 3, out.stderr
        (line,) = out.stderr.strip().splitlines()
        assert line.startswith(f"error: the warehouse {data_dir.warehouse} is open in process {reader.pid} ("), line
        assert f"(DuckDB: IO Error: Could not set lock on file \"{data_dir.warehouse}\"" in line
        result = materialize([strategy_specs])  # the daily run's step: the same line, not a hidden cause
        assert not result.success
        assert step_failure(result).startswith(f"WarehouseBusy: the warehouse {data_dir.warehouse} is open in process "
                                               f"{reader.pid} (")


def test_the_lock_is_reentrant_in_a_process_and_shows_its_runs(data_dir):
    with writer_lock(data_dir, "blofin-stack materialize 2025-03-10..2025-03-10") as record:
        assert record.startswith(f"pid {os.getpid()}, blofin-stack materialize 2025-03-10..2025-03-10, since 20")
        result = materialize([strategy_specs])  # what a CLI run does: its steps take the lock again
        assert result.success
        shown = lock_file(data_dir).read_text()
        assert f"dagster run {result.run_id}" in shown and shown.startswith(f"pid {os.getpid()}, blofin-stack materialize")
        child = subprocess.run([sys.executable, "-c", HOLD, "0"], env={**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir)},
                               capture_output=True, text=True)
        assert child.returncode != 0 and f"dagster run {result.run_id}" in child.stderr
    with writer_lock(data_dir, "next"):  # released when the outermost holder leaves
        pass
    with pytest.raises(RunInProgress, match="pid"):
        with holder(data_dir, HOLD, "60"), writer_lock(data_dir, "refused"):
            pass


def test_a_full_disk_writing_the_holder_record_lets_go_of_the_lock(data_dir, monkeypatch):
    """The record was written after flock, outside the try: ENOSPC left the descriptor open and locked, so the
    next writer of the same process was refused as 'another writer', and a re-entrant call's count stayed
    one too high, so the outer holder never let go (review_crash2 lock_enospc.py)."""
    import errno

    from python_assets.platform import runlock

    real, fail = runlock.os.pwrite, iter([True])

    def full_disk_once(fd, data, offset):
        if next(fail, False):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(runlock.os, "pwrite", full_disk_once)
    with pytest.raises(OSError, match="No space"):
        with writer_lock(data_dir, "step A"):
            pass
    with writer_lock(data_dir, "step B"):  # not 'another writer is using ...'
        fail = iter([True])
        with pytest.raises(OSError, match="No space"):
            with writer_lock(data_dir, "step C", run_id="run-1"):
                pass
    child = subprocess.run([sys.executable, "-c", HOLD, "0"], env={**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir)},
                           capture_output=True, text=True)
    assert child.returncode == 0, child.stderr  # the outer holder let go on leaving
