"""Each way a run can be refused gives one clear message and a failed run, and loses nothing stored
before: a corrupted lake file, a full disk, an unwritable data directory (missing data: see
tests/dagster_defs/test_pipeline.py). Every CLI command on a bad input (a date outside the partitions,
a read-only data dir, no warehouse yet, an unreachable exchange) exits non-zero with one line; a failed
step names its root cause and the full log (one writer at a time: test_one_writer.py)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import CLI, cli_instance

from dagster_defs.ingest.assets import lake_market_data
from dagster_defs.resources import MarketSource
from python_assets.lake import store as lake
from python_assets.lake.atomic import LakeWriteError
from python_assets.lake.store import trades_partition, write_trades
from python_assets.ingest.market import generate_market_day

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
    more = pq.read_table(target).to_pandas().assign(trade_id=lambda f: "x" + f["trade_id"])
    with pytest.raises(LakeWriteError, match="No space left on device; the previous version of the file"):
        write_trades(data_dir, "BTC-USDT", more, synthetic=True)  # the generator's write: real data would be refused
    assert target.read_bytes() == before
    assert not list(data_dir.lake.rglob(".tmp-*"))  # the temp file was removed
    result = run_ingest(date(2025, 3, 11))  # a new day cannot be written: the run fails, clearly, once
    assert not result.success
    assert "No space left on device" in failure_message(result)
    assert target.read_bytes() == before


def test_an_ingest_stopped_by_a_full_disk_says_its_earlier_days_stay_and_a_rerun_adds_the_rest(data_dir, monkeypatch,
                                                                                                 tmp_path):
    """A two-day file whose second day meets a full disk: the error says the first day is stored and that the
    same command adds only the rest; it does (a review: the line said only that the old file was unchanged)."""
    import argparse

    from blofin_cli.data import cmd_ingest

    day_ms = int(datetime(2025, 3, 10, tzinfo=timezone.utc).timestamp() * 1000)
    csv = tmp_path / "two_days.csv"
    csv.write_text("trade_id,ts,price,size,side\n" + "".join(
        f"{i},{day_ms + i * 43_200_000 + 1},100.{i},1,buy\n" for i in range(4)))  # 2 trades a day
    real_write, calls = lake.pq.write_table, []

    def second_day_full(table, where, *args, **kwargs):
        calls.append(where)
        if "date=2025-03-11" in str(where):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(lake.pq, "write_table", second_day_full)
    args = argparse.Namespace(file=csv, symbol="BTC-USDT")
    with pytest.raises(LakeWriteError, match="the days written before it are stored, and the same command run again"):
        cmd_ingest(args)
    assert trades_partition(data_dir, "BTC-USDT", date(2025, 3, 10)).exists()
    assert not trades_partition(data_dir, "BTC-USDT", date(2025, 3, 11)).exists()
    monkeypatch.setattr(lake.pq, "write_table", real_write)
    assert cmd_ingest(args) == 0
    assert pq.read_table(trades_partition(data_dir, "BTC-USDT", date(2025, 3, 11))).num_rows == 2


def test_an_unwritable_data_dir_is_refused_before_anything_runs(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    env = {**os.environ, "BLOFIN_DATA_DIR": str(blocker / "data")}
    out = subprocess.run([*CLI, "materialize", "--date", DAY.isoformat()], env=env, capture_output=True, text=True)
    assert out.returncode == 2
    assert "is not writable" in out.stderr and "Traceback" not in out.stderr


def test_the_run_lock_refuses_a_second_holder_and_frees_itself(data_dir):
    from python_assets.platform.runlock import writer_lock

    with writer_lock(data_dir, "blofin-stack materialize"):
        child = subprocess.run([sys.executable, "-c", "from python_assets.platform.runlock import writer_lock;"
                                "from python_assets.config import paths;"
                                "import contextlib; ctx = writer_lock(paths(), 'second'); ctx.__enter__()"],
                               env={**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir)}, capture_output=True, text=True)
        assert child.returncode != 0 and "another writer is using" in child.stderr
        assert f"pid {os.getpid()}, blofin-stack materialize, since" in child.stderr
    child = subprocess.run([sys.executable, "-c", "from python_assets.platform.runlock import writer_lock;"
                            "from python_assets.config import paths;"
                            "import contextlib; ctx = writer_lock(paths(), 'second'); ctx.__enter__()"],
                           env={**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir)}, capture_output=True, text=True)
    assert child.returncode == 0, child.stderr  # released on exit


def test_temp_files_of_killed_writers_are_swept_only_when_stale(data_dir):
    import time

    from python_assets.lake.health import remove_stale_temp_files

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


def test_the_sweep_finds_the_temp_of_every_writer_in_the_data_dir_and_no_user_or_dagster_file(data_dir):
    """Only lake/, reports/ and models/*/ were swept: a killed snapshot left a warehouse-sized temp in the data
    dir for good, and ml/<day>/, .inbox-runs/, dagster_home/ temps and ml staging files stayed too (review_crash2)."""
    import time

    from python_assets.lake.atomic import new_temp_file
    from python_assets.lake.health import remove_stale_temp_files
    from python_assets.ml.artifacts import staging_file

    folders = [data_dir.data_dir, data_dir.ml_runs / "2025-03-10", data_dir.data_dir / ".inbox-runs",
               data_dir.dagster_home, data_dir.reports]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    ours = [Path(new_temp_file(folder)) for folder in folders]  # publish_snapshot, last_error.log, write_artifact, ...
    ours.append(staging_file(data_dir.ml_runs, "2025-03-10", "ml_dataset"))  # a killed ml_dataset step's export
    ours[-1].write_bytes(b"half an export")
    theirs = [data_dir.data_dir / "inbox" / "BTC-USDT" / ".tmp-upload", data_dir.dagster_home / "storage" / ".tmp-x"]
    for f in theirs:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"not ours")
    fresh = Path(new_temp_file(data_dir.data_dir))  # a live writer's
    for f in ours + theirs:
        os.utime(f, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temp_files(data_dir) == len(ours)
    assert not [f for f in ours if f.exists()] and all(f.exists() for f in theirs) and fresh.exists()


def test_a_temp_file_its_writer_renames_while_the_sweep_runs_is_no_error(data_dir, monkeypatch):
    """The sweep listed, then stat'ed each temp: one the recorder renamed into place between the two raised
    FileNotFoundError and failed fill_lake (review_crash2 race_sweep.py: 5 of 200 sweeps)."""
    import time

    from python_assets.lake.health import remove_stale_temp_files

    part = data_dir.lake / "trades" / "BTC-USDT" / "date=2025-03-10"
    part.mkdir(parents=True)
    renamed, old = part / ".tmp-renamed.inprogress", part / ".tmp-old.inprogress"
    for f in (renamed, old):
        f.write_bytes(b"x")
        os.utime(f, (time.time() - 7200, time.time() - 7200))
    real_stat = Path.stat

    def renamed_first(self, *args, **kwargs):
        if self == renamed and os.path.exists(renamed):
            os.replace(renamed, part / "trades.parquet")  # its writer finished just now
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", renamed_first)
    assert remove_stale_temp_files(data_dir) == 1
    assert not old.exists() and (part / "trades.parquet").exists()


# Every CLI command on each bad input: one line on stderr (after any retry notices), no traceback, a
# non-zero exit, and nothing written. Run as the command is run: a subprocess. {today} is the UTC day when the
# command runs (not when the tests were collected: a suite running over midnight would name a complete day).
BAD_INPUTS = [  # (what, arguments, data dir, exit code, the line says)
    ("report before any run", ["report", "--date", "2025-03-10"], "empty", 2, "there is no warehouse at"),
    ("materialize before the first partition", ["materialize", "--date", "2020-01-01"], "empty", 2,
     "2020-01-01 is before the first daily partition 2024-01-01"),
    ("materialize today", ["materialize", "--date", "{today}"], "empty", 2, "{today} is not a complete UTC day yet"),
    ("backfill with start after end", ["backfill", "--start", "2025-03-11", "--end", "2025-03-10"], "empty", 2,
     "start 2025-03-11 is after end 2025-03-10"),
    ("materialize, --config missing", ["materialize", "--date", "2025-03-10", "--config", "{tmp}/missing.yaml"], "empty",
     2, "missing.yaml: [Errno 2] No such file or directory"),
    ("materialize, --config naming no op of the job", ["materialize", "--date", "2025-03-10", "--config",
                                                       "{tmp}/unknown_op.yaml"], "empty", 2,
     'does not fit the daily job: Received unexpected config entry "no_such_op" at path root:ops.'),
    ("backfill, --config not a mapping", ["backfill", "--start", "2025-03-10", "--end", "2025-03-10", "--config",
                                          "{tmp}/list.yaml"], "empty", 2, "list.yaml: not a mapping of run config"),
    ("report, read-only data dir", ["report", "--date", "2025-03-10"], "read-only", 2, "is not writable"),
    ("backtest, read-only data dir", ["backtest", "--strategy", "sma_cross"], "read-only", 2, "is not writable"),
    ("backtest --data, read-only data dir", ["backtest", "--strategy", "sma_cross", "--data", "{csv}"], "read-only", 2,
     "is not writable"),
    ("generate, read-only data dir", ["generate", "--start", "2025-03-10", "--end", "2025-03-10"], "read-only", 2,
     "is not writable"),
    ("materialize, read-only data dir", ["materialize", "--date", "2025-03-10"], "read-only", 2, "is not writable"),
    ("ingest, read-only data dir", ["ingest", "{csv}", "--symbol", "BTC-USDT"], "read-only", 2, "is not writable"),
    ("import, read-only data dir", ["import", "{csv}", "--symbol", "BTC-USDT"], "read-only", 2, "is not writable"),
    ("fetch-ohlcv, read-only data dir", ["fetch-ohlcv", "--symbol", "BTC-USDT", "--since", "2025-03-10"], "read-only", 2,
     "is not writable"),
    ("report on a warehouse no run built", ["report", "--date", "2025-03-10"], "warehouse", 2,
     "no run computed 2025-03-10, so there is no report to rebuild: run `blofin-stack materialize --date 2025-03-10` first"),
    ("report, bad lock wait", ["report", "--date", "2025-03-10"], "warehouse", 2,
     "BLOFIN_LOCK_WAIT_SECONDS='soon' is not a number of seconds"),
    ("fetch-ohlcv offline", ["fetch-ohlcv", "--symbol", "BTC-USDT", "--since", "2025-03-10"], "offline", 1,
     "load markets: gave up after 2 attempts"),
    ("fetch-funding offline", ["fetch-funding", "--symbol", "BTC-USDT", "--since", "2025-03-10"], "offline", 1,
     "load markets: gave up after 2 attempts"),
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """The directory cannot be written: a read-only bind mount as root (permissions do not stop root),
    else no write permission; the test skips where neither is possible."""
    if os.geteuid() != 0:
        for p in [directory, *directory.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p in [directory, *directory.rglob("*")]:
                p.chmod(0o755 if p.is_dir() else 0o644)
        return
    mount = shutil.which("mount")
    if not mount or subprocess.run([mount, "--bind", directory, directory], capture_output=True).returncode:
        pytest.skip("root is refused writes only on a read-only mount, and mounting is not permitted here")
    try:
        if subprocess.run([mount, "-o", "remount,bind,ro", directory], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        subprocess.run(["umount", directory], capture_output=True)


def utc_today() -> str:
    """The UTC day now, ISO."""
    return datetime.now(timezone.utc).date().isoformat()


def tree(directory: Path) -> dict[str, bytes]:
    """Every file's bytes but the writer lock's (left empty by a writer that took it, then refused)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != ".run.lock"}


@pytest.mark.parametrize("what, args, setup, code, says", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_every_command_on_a_bad_input_says_one_line_and_exits_non_zero(what, args, setup, code, says, tmp_path):
    csv = tmp_path / "bars.csv"
    csv.write_text("time,Open,High,Low,Close,Volume\n2025-03-10,1,2,0.5,1.5,10\n2025-03-11,1.5,2,1,1.8,12\n")
    (tmp_path / "unknown_op.yaml").write_text("ops:\n  no_such_op:\n    config: {fast: true}\n")
    (tmp_path / "list.yaml").write_text("- ops\n")
    today, attempt = None, 0
    while today != utc_today():  # again, in a new data dir, where the UTC day turned while the command ran
        today, data, attempt = utc_today(), tmp_path / f"data{attempt}", attempt + 1
        data.mkdir()
        env = {**os.environ, "BLOFIN_DATA_DIR": str(data), "BLOFIN_API_URL": f"http://127.0.0.1:{closed_port()}",
               "BLOFIN_MAX_RETRIES": "1", "BLOFIN_LOCK_WAIT_SECONDS": "soon" if what.endswith("bad lock wait") else "0"}
        if setup in ("read-only", "warehouse"):
            duckdb.connect(str(data / "warehouse.duckdb")).close()
        before = tree(data)
        with read_only(data) if setup == "read-only" else contextlib.nullcontext():
            out = subprocess.run([*CLI, *(a.format(csv=csv, tmp=tmp_path, today=today) for a in args)], env=env,
                                 capture_output=True, text=True, timeout=120)
    says = says.format(today=today)
    assert "Traceback" not in out.stdout + out.stderr
    retries = [line for line in out.stderr.splitlines() if "failed (" in line and "retrying in" in line]
    lines = [line for line in out.stderr.splitlines() if line not in retries]
    assert out.returncode == code and len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and says in lines[0], lines[0]
    if setup == "offline":  # each retry said on stderr instead of a silent wait
        assert retries == [retries[0]] and "load markets: attempt 1 of 2 failed (" in retries[0]
        assert retries[0].endswith("retrying in 1 s")
    else:
        assert tree(data) == before  # refused before anything was written


DISK_FILLS_AT_THE_END = """
import sqlite3, sys
import sqlalchemy.exc
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

store, full = SqliteEventLogStorage.store_event, [True]

def store_event(self, event):  # the disk is full when the run's last event is written, once
    kind = event.dagster_event.event_type_value if event.dagster_event else None
    if kind in ("PIPELINE_SUCCESS", "PIPELINE_FAILURE") and full:
        full.clear()
        full_disk = sqlite3.OperationalError("database or disk is full")
        raise sqlalchemy.exc.OperationalError("INSERT INTO event_logs", {}, full_disk) from full_disk  # as SQLAlchemy does
    return store(self, event)

SqliteEventLogStorage.store_event = store_event
from blofin_cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failed_step_says_its_root_cause_and_a_full_disk_says_so_without_leaving_the_run_started(data_dir):
    """One small run: a corrupted warehouse file fails the first step that opens it (Dagster's own message
    for it is 'Error occurred while executing op'), and the disk fills as the run ends, so Dagster cannot
    record its end (a raw SQLAlchemy traceback, the run left 'started', before)."""
    data_dir.warehouse.write_bytes(b"not a DuckDB file, a torn copy" * 1000)
    env = {**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir), "BLOFIN_SYMBOLS": "BTC-USDT"}
    out = subprocess.run([sys.executable, "-c", DISK_FILLS_AT_THE_END, "materialize", "--date", DAY.isoformat()],
                         env=env, capture_output=True, text=True, timeout=900)
    log = data_dir.data_dir / "last_run.log"
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr, out.stderr
    *steps, last = out.stderr.strip().splitlines()
    assert steps and all(s.startswith("error: step ") for s in steps), out.stderr
    assert f"failed: IOException: IO Error: The file \"{data_dir.warehouse}\" exists, but it is not a valid DuckDB " \
           "database file!" in steps[0] and "Error occurred while executing op" not in out.stderr
    assert last.startswith(f"error: materialization of {DAY}..{DAY} stopped: the disk is full (OperationalError: "
                           "database or disk is full); the run is marked failed (after "), last
    assert last.endswith(f"; full log: {log})") and "Traceback" in log.read_text()
    instance = cli_instance(data_dir.dagster_home)
    assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.FAILURE]
    # its alert names the failed step Dagster recorded before it stopped, as its stderr does
    (alert,) = [json.loads(line) for line in (data_dir.data_dir / "alerts.log").read_text().splitlines()]
    assert alert["message"] == last.removeprefix("error: ") and len(alert["failed_steps"]) == len(steps), alert
    assert all("not a valid DuckDB database file" in cause for cause in alert["failed_steps"].values()), alert


DISK_STAYS_FULL = """
import errno, sqlite3, sys, traceback
import sqlalchemy.exc
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

store, print_exception = SqliteEventLogStorage.store_event, traceback.print_exception

def store_event(self, event):  # the disk is full from the run's last event on: Dagster cannot end the run
    if event.dagster_event and event.dagster_event.event_type_value in ("PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
        full_disk = sqlite3.OperationalError("database or disk is full")
        raise sqlalchemy.exc.OperationalError("INSERT INTO event_logs", {}, full_disk) from full_disk
    return store(self, event)

def no_room(*args, **kwargs):  # the run log, on the same disk, cannot take the traceback either
    raise OSError(errno.ENOSPC, "No space left on device")

SqliteEventLogStorage.store_event, traceback.print_exception = store_event, no_room
from blofin_cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_stopped_by_a_full_disk_says_so_even_when_its_log_is_full_and_the_next_run_says_why_it_ended(data_dir):
    """Dagster cannot record the run's end and the run log cannot take the traceback (the same full disk):
    the step failures and the stop are still one line each (before, the log write's own OSError replaced
    them all), and the next run, marking the run failed, says it stopped on the full disk, not 'killed'."""
    data_dir.warehouse.write_bytes(b"not a DuckDB file, a torn copy" * 1000)
    env = {**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir), "BLOFIN_SYMBOLS": "BTC-USDT"}
    out = subprocess.run([sys.executable, "-c", DISK_STAYS_FULL, "materialize", "--date", DAY.isoformat()],
                         env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr, out.stderr
    *steps, last = out.stderr.strip().splitlines()
    assert steps and all(s.startswith("error: step ") for s in steps), out.stderr
    assert last.startswith(f"error: materialization of {DAY}..{DAY} stopped: the disk is full (OperationalError: "
                           "database or disk is full); the run stays 'started' until the next run marks it failed"), last
    instance = cli_instance(data_dir.dagster_home)
    (stopped,) = instance.get_runs()
    assert stopped.status == dg.DagsterRunStatus.STARTED
    again = subprocess.run([*CLI, "materialize", "--date", DAY.isoformat()], env=env, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 1
    assert (f"run {stopped.run_id} stopped before Dagster could record its end (the disk is full (OperationalError: "
            "database or disk is full)): marked failed") in again.stdout, again.stdout
    assert instance.get_run_by_id(stopped.run_id).status == dg.DagsterRunStatus.FAILURE
    # one alert per run: the stopped run's own process wrote its alert, so the run that recovered it wrote none
    alerts = [json.loads(line) for line in (data_dir.data_dir / "alerts.log").read_text().splitlines()]
    (_, again_run) = sorted(instance.get_runs(), key=lambda r: r.run_id != stopped.run_id)
    assert [a["run_id"] for a in alerts] == [stopped.run_id, again_run.run_id], alerts
    assert "stopped: the disk is full" in alerts[0]["message"]


def test_partition_bounds_without_dagster_match_the_daily_partitions():
    from dagster_defs.partitions import daily_partitions
    from python_assets.config import partition_days

    first, last = partition_days()
    assert (first.isoformat(), last.isoformat()) == (daily_partitions.get_first_partition_key(),
                                                      daily_partitions.get_last_partition_key())


def test_a_step_failure_names_the_steps_own_exception_and_dbts_first_error():
    from dagster._utils.error import serializable_error_info_from_exc_info
    from dagster_shared.error import SerializableErrorInfo

    from blofin_cli.errors import step_root_cause

    try:
        try:
            raise KeyError("close")
        except KeyError as inner:
            raise dg.DagsterError("Error occurred while executing op ml_results") from inner
    except dg.DagsterError:
        info = serializable_error_info_from_exc_info(sys.exc_info())
    assert step_root_cause(info) == "KeyError: 'close'"
    dbt = ("The dbt CLI process with command\n\n`dbt build`\n\nfailed with exit code `1`. Check the stdout.\n\n"
           "Errors parsed from dbt logs:\n\n\x1b[31mRuntime Error in model bars_1m (models/bars/bars_1m.sql)\n"
           "  Conversion Error: Casting value \"1e20\" to type DECIMAL(38,12) failed\x1b[0m\n\nsecond error")
    info = SerializableErrorInfo(message=dbt, stack=[], cls_name="DagsterDbtCliRuntimeError")
    assert step_root_cause(info) == ("dbt failed: Runtime Error in model bars_1m (models/bars/bars_1m.sql) Conversion "
                                     "Error: Casting value \"1e20\" to type DECIMAL(38,12) failed")


def test_a_dbt_failure_names_its_full_disk_and_dbts_own_error_over_a_model_status_line():
    """dbt's parsed errors start with the 'N of M ERROR creating' line of the model it was building; the
    cause comes later ('Encountered an error: [Errno 28] ...'), and was dropped."""
    from dagster_shared.error import SerializableErrorInfo

    from blofin_cli.errors import step_root_cause

    def dbt(*errors: str) -> SerializableErrorInfo:
        message = "The dbt CLI process failed.\n\nErrors parsed from dbt logs:\n\n" + "\n\n".join(errors)
        return SerializableErrorInfo(message=message, stack=[], cls_name="DagsterDbtCliRuntimeError")

    status = "\x1b[31m122 of 128 ERROR creating sql incremental model main.feat_htf_context ... [ERROR in 0.36s]\x1b[0m"
    assert step_root_cause(dbt(status, "Encountered an error:\n[Errno 28] No space left on device")) == (
        "dbt failed: the disk is full: Encountered an error: [Errno 28] No space left on device")
    assert step_root_cause(dbt(status, "Runtime Error in model x\n  IO Error: Could not write file \"t.tmp\": No space "
                                       "left on device")).startswith("dbt failed: the disk is full: Runtime Error in model x")
    assert step_root_cause(dbt(status, "Encountered an error:\nRuntime Error\n  Database error")) == (
        "dbt failed: Encountered an error: Runtime Error Database error")
    assert step_root_cause(dbt(status)) == ("dbt failed: 122 of 128 ERROR creating sql incremental model "
                                            "main.feat_htf_context ... [ERROR in 0.36s]")


def test_failed_steps_are_one_line_each_and_the_last_says_where_the_log_is():
    from types import SimpleNamespace

    from dagster_shared.error import SerializableErrorInfo

    from blofin_cli.errors import failed_step_lines

    def failure(step: str, message: str) -> SimpleNamespace:
        cause = SerializableErrorInfo(message=message, stack=[], cls_name=message.split(":")[0].split(".")[-1])
        wrapper = SerializableErrorInfo(message=f"Error occurred while executing op {step}:", stack=[],
                                        cls_name="DagsterExecutionStepExecutionError", cause=cause)
        return SimpleNamespace(step_key=step, step_failure_data=SimpleNamespace(error=wrapper))

    lines = failed_step_lines([failure("ml_results", "builtins.KeyError: 'close'\n"),
                               failure("daily_report", "python_assets.reports.daily_report.ReportError: no rows\nfor day")],
                              "materialization of 2025-03-10..2025-03-10 failed after 3.0 s; full log: /d/last_run.log")
    assert lines == ["error: step ml_results failed: KeyError: 'close'",
                     "error: step daily_report failed: ReportError: no rows for day (materialization of "
                     "2025-03-10..2025-03-10 failed after 3.0 s; full log: /d/last_run.log)"]
    assert failed_step_lines([], "materialization failed") == ["error: materialization failed"]
