"""A full disk (ENOSPC, simulated) fails one write, clearly, and breaks nothing else: the run log keeps
the run's cause by dropping its head, the terminal gets its output back, log and state files are never
left torn or empty (a real full disk: tests/reliability/test_clear_failures.py and the review's tmpfs runs)."""

from __future__ import annotations

import builtins
import errno
import io
import os
import sys

from blofin_cli.run_log import append_lines, stop_notes


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_run_log_drops_its_head_to_keep_the_cause_and_the_stop_note(tmp_path, monkeypatch):
    log = tmp_path / "last_run.log"
    log.write_text("".join(f"dagster line {n}\n" for n in range(20000)))  # ~300 KB
    real_open = builtins.open

    def full_for_appends(file, mode="r", *args, **kwargs):  # appending needs a new block; rewriting frees them
        if "a" in mode:
            enospc()
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", full_for_appends)
    assert append_lines(log, ["blofin-stack: run abc stopped: the disk is full (OSError: x)", "error: the cause"])
    monkeypatch.undo()
    text = log.read_text()
    assert text.startswith("[blofin-stack: the log's first ") and "dropped to make room on a full disk]" in text
    assert text.endswith("dagster line 19999\n\nblofin-stack: run abc stopped: the disk is full (OSError: x)\n"
                         "error: the cause\n")
    assert log.stat().st_size <= 64 * 1024 + 200
    assert stop_notes(log) == {"abc": "the disk is full (OSError: x)"}
    assert stop_notes(tmp_path / "no such log") == {}


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
