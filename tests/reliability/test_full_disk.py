"""A full disk (ENOSPC, simulated) fails one write, clearly, and breaks nothing else: the run log keeps
the run's cause by dropping its head (test_full_disk_run_log.py), the terminal gets its output back, log and
state files are never left torn or empty (a real full disk: tests/reliability/test_clear_failures.py and the
review's tmpfs runs)."""

from __future__ import annotations

import errno
import io
import os
import sys

import pytest


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_the_terminal_gets_its_output_back_when_the_run_log_cannot_take_the_rest(tmp_path, capfd):
    from dagster_defs.runner import output_to

    class FullFile(io.StringIO):
        def flush(self):  # what is still buffered cannot reach the full disk, until it goes elsewhere
            log = tmp_path / "run.log"
            if log.exists() and os.fstat(1).st_ino == log.stat().st_ino:
                enospc()

    saved = sys.stdout
    sys.stdout = FullFile()
    try:
        with output_to(tmp_path / "run.log"):
            print("dagster output")
    finally:
        sys.stdout = saved
    print("after the run")
    assert "after the run" in capfd.readouterr().out  # fds 1 and 2 were restored though the flush failed


def test_sqlites_disk_io_error_on_a_nearly_full_disk_is_a_full_disk(tmp_path, monkeypatch, capsys):
    """SQLite in WAL mode on a full disk says 'disk I/O error' (its -shm file cannot grow), not 'database
    or disk is full': the free space of the data dir's disk decides."""
    import shutil
    import sqlite3

    from blofin_cli import errors

    def with_free(free: int):
        return lambda path: shutil._ntuple_diskusage(1 << 30, (1 << 30) - free, free)

    try:
        raise RuntimeError("Dagster's storage failed") from sqlite3.OperationalError("disk I/O error")
    except RuntimeError as exc:
        io_error = exc
    monkeypatch.setattr(shutil, "disk_usage", with_free(80 * 1024))
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BLOFIN_DEBUG", "0")
    assert errors.fail_clearly(io_error) == 1
    assert capsys.readouterr().err == f"error: the disk holding {tmp_path} is full: OperationalError: disk I/O error\n"
    assert errors.is_disk_full(io_error, [tmp_path / "data" / "dagster_home"])
    assert not errors.is_disk_full(RuntimeError("no"), [tmp_path])
    monkeypatch.setattr(shutil, "disk_usage", with_free(512 << 20))
    assert not errors.is_disk_full(io_error, [tmp_path])


def test_a_verbose_run_points_to_its_output_above_not_to_a_log_it_never_wrote(tmp_path):
    from blofin_cli.pipeline import run_pointer

    assert run_pointer(3.04, tmp_path / "last_run.log", verbose=False) == f"after 3.0 s; full log: {tmp_path}/last_run.log"
    assert run_pointer(3.04, tmp_path / "last_run.log", verbose=True) == "after 3.0 s; Dagster and dbt output above"


def test_a_dagster_yaml_torn_by_a_full_disk_is_rewritten_and_a_new_one_is_written_whole(tmp_path, monkeypatch):
    """The instance's settings (one run at a time, the warehouse pool, run monitoring, no telemetry) were
    copied non-atomically and only when absent: a full disk left an empty dagster.yaml for good."""
    from pathlib import Path

    import pytest

    from dagster_defs.runner import INSTANCE_YAML, persistent_instance
    from python_assets.config import Paths
    from python_assets.lake.atomic import LakeWriteError

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths = Paths(tmp_path)
    paths.dagster_home.mkdir()
    target = paths.dagster_home / "dagster.yaml"
    target.write_bytes(b"")  # as the old shutil.copyfile left it on a full disk
    instance = persistent_instance(paths)
    assert target.read_bytes() == INSTANCE_YAML.read_bytes()
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1 and not instance.telemetry_enabled
    target.write_bytes(INSTANCE_YAML.read_bytes()[:300])  # a cut copy
    persistent_instance(paths)
    assert target.read_bytes() == INSTANCE_YAML.read_bytes()
    target.write_text("telemetry:\n  enabled: false\n")  # the operator's own (e.g. Postgres): kept
    persistent_instance(paths)
    assert target.read_text() == "telemetry:\n  enabled: false\n"
    target.unlink()
    monkeypatch.setattr(Path, "write_bytes", enospc)
    with pytest.raises(LakeWriteError, match="No space left on device"):
        persistent_instance(paths)
    assert not [p for p in paths.dagster_home.iterdir() if p.is_file()]  # no torn dagster.yaml, no temp file


def test_the_write_probe_of_a_full_data_dir_is_removed(tmp_path, monkeypatch):
    """On a full disk the probe file is created but its bytes are refused: it was left behind."""
    from pathlib import Path

    import pytest

    from python_assets.config import Paths
    from python_assets.lake.health import DataDirError, ensure_writable

    def create_then_refuse(self, data):
        self.touch()
        enospc()

    monkeypatch.setattr(Path, "write_bytes", create_then_refuse)
    with pytest.raises(DataDirError, match="No space left on device \\(the disk is full\\)"):
        ensure_writable(Paths(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_traceback_that_cannot_be_saved_keeps_the_previous_one(tmp_path, monkeypatch):
    """save_traceback truncated last_error.log to 0 bytes before its write failed on a full disk."""
    from pathlib import Path

    from blofin_cli.errors import save_traceback

    log = tmp_path / "last_error.log"
    log.write_text("Traceback of the previous error\n")
    real_write = Path.write_text

    def truncate_then_refuse(self, *args, **kwargs):
        real_write(self, "")
        enospc()

    monkeypatch.setattr(Path, "write_text", truncate_then_refuse)
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: (real_write(self, ""), enospc()))
    assert save_traceback(RuntimeError("x"), log) == " (traceback not saved: No space left on device)"
    assert log.read_text() == "Traceback of the previous error\n"
    assert [p.name for p in tmp_path.iterdir()] == ["last_error.log"]


def test_a_report_whose_html_cannot_be_written_keeps_its_previous_json_too(tmp_path, monkeypatch):
    """`report --date` rewrote the JSON, then failed on the HTML: the JSON was newer than the HTML and the
    daily_reports row, while the error said the previous version was unchanged. Both are written to temps
    first and renamed only when both are whole."""
    import pytest

    from python_assets.lake.atomic import LakeWriteError, write_files_atomic

    json_file, html_file = tmp_path / "2025-03-10.json", tmp_path / "2025-03-10.html"
    json_file.write_text("old json")
    html_file.write_text("old html")
    real_fsync, calls = os.fsync, []

    def second_is_full(fd):  # the JSON's temp is whole, the HTML's is refused
        calls.append(fd)
        if len(calls) == 2:
            enospc()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", second_is_full)
    with pytest.raises(LakeWriteError, match="No space left on device; the previous versions of .* are unchanged"):
        write_files_atomic({json_file: b"new json", html_file: b"new html"})
    assert (json_file.read_text(), html_file.read_text()) == ("old json", "old html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-03-10.html", "2025-03-10.json"]
    monkeypatch.undo()
    write_files_atomic({json_file: b"new json", html_file: b"new html"})
    assert (json_file.read_text(), html_file.read_text()) == ("new json", "new html")


def stop_on_a_full_disk(monkeypatch) -> dict:
    """Fake Dagster for pipeline._locked_run: each run's materialization raises ENOSPC and its storage cannot mark
    the run failed, so the run stays 'started'; the next run's recovery finds it. What happened, in the dict."""
    import dagster_defs.runner as runner
    from blofin_cli import pipeline

    seen: dict = {"started": [], "known": []}

    def recover(instance, data_dir, reason="", known=None):
        if known is None:  # the stopped run marking itself failed: the storage is still full
            raise OSError(errno.ENOSPC, "No space left on device")
        seen["known"].append(dict(known))
        dead, seen["started"] = seen["started"], []
        return dead

    def materialize(*args, run_id, **kwargs):
        seen["started"].append(run_id)
        enospc()

    monkeypatch.setattr(pipeline, "unchanged_window", lambda *args: ({}, None))
    monkeypatch.setattr(runner, "persistent_instance", lambda paths: object())
    monkeypatch.setattr(runner, "recover_dead_cli_runs", recover)
    monkeypatch.setattr(runner, "live_cli_step_failures", lambda *args: [])
    monkeypatch.setattr(runner, "cli_run_tags", lambda data_dir: {})
    monkeypatch.setattr(runner, "materialize_days", materialize)
    return seen


@pytest.mark.parametrize("verbose", [False, True])
def test_a_run_stopped_by_a_full_disk_leaves_the_stop_note_the_next_run_reports(verbose, data_dir, monkeypatch,
                                                                                 capsys):
    """With --verbose the run wrote no stop note (its log path was withheld from stopped_run_lines), so the next
    run said the stopped run 'was killed before it ended'."""
    from datetime import date

    from blofin_cli.pipeline import _locked_run
    from blofin_cli.run_log import stop_notes

    seen = stop_on_a_full_disk(monkeypatch)
    day = date(2025, 3, 10)
    assert _locked_run(data_dir, day, day, verbose) == 1
    (stopped,) = seen["started"]
    cause = "the disk is full (OSError: [Errno 28] No space left on device)"
    assert stop_notes(data_dir.data_dir / "last_run.log") == {stopped: cause}
    assert f"stopped: {cause}; the run stays 'started'" in capsys.readouterr().err
    assert _locked_run(data_dir, day, day, verbose) == 1
    assert seen["known"][1] == {stopped: f"the run stopped: {cause}"}
    assert (f"run {stopped} stopped before Dagster could record its end ({cause}): marked failed"
            in capsys.readouterr().out)
