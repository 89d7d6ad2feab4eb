"""last_run.log on a full disk, for real: the process may write files of at most `room` bytes (RLIMIT_FSIZE),
which the kernel enforces as a disk holding only the log, `room` big, would: a write past it is cut short,
the next one refused (EFBIG where a full disk says ENOSPC). The log ends with whole lines, none twice, and
keeps its stop note whenever it fits."""

from __future__ import annotations

import re
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from blofin_cli.run_log import append_lines, stop_notes

NOTE = "blofin-stack: run abc stopped: the disk is full (OSError: [Errno 28] No space left on device)"
CAUSE = "error: materialization of 2025-03-10..2025-03-10 stopped: the disk is full; the run stays 'started'"
DAGSTER_LINE = re.compile(r"dagster line \d+")
HEAD = re.compile(r"\[blofin-stack: the log's first \d+ bytes were dropped to make room on a full disk\]")


@contextmanager
def disk_of(room: int) -> Iterator[None]:
    """This process writes files of at most room bytes until the block ends (SIGXFSZ ignored: EFBIG instead)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if hard != resource.RLIM_INFINITY and hard < room:
        pytest.skip(f"the hard file size limit {hard} is below {room}")
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (room, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def dagster_log(path: Path, lines: int) -> int:
    """A run log of Dagster lines; its size."""
    path.write_text("".join(f"dagster line {n}\n" for n in range(lines)))
    return path.stat().st_size


def assert_whole_lines(text: str, *ours: str) -> None:
    """Every line is whole (the log ends with a newline): the head note, a Dagster line, a blank one or one of
    ours, and none of ours twice."""
    assert text == "" or text.endswith("\n"), text[-200:]
    assert all(HEAD.fullmatch(s) or DAGSTER_LINE.fullmatch(s) or s in ("", *ours) for s in text.splitlines()), text
    assert all(text.count(line) <= 1 for line in ours), text


def test_an_append_cut_short_by_a_full_disk_leaves_no_torn_copy_before_the_whole_one(tmp_path):
    """The disk had room for 30 of the lines' bytes: they went in, then the rest was refused, and the cut
    head was rewritten after them, so the log held a torn note and then the whole one."""
    log = tmp_path / "last_run.log"
    size = dagster_log(log, 20000)
    with disk_of(size + 30):
        assert append_lines(log, [NOTE, CAUSE])
    text = log.read_text()
    assert HEAD.fullmatch(text.splitlines()[0]) and text.endswith(f"dagster line 19999\n\n{NOTE}\n{CAUSE}\n")
    assert_whole_lines(text, NOTE, CAUSE)
    assert stop_notes(log) == {"abc": NOTE.split(": ", 2)[2]}


def test_a_full_run_log_drops_its_head_to_keep_the_cause_and_the_stop_note(tmp_path):
    log = tmp_path / "last_run.log"
    size = dagster_log(log, 20000)  # ~300 KB
    with disk_of(size):  # not one byte free
        assert append_lines(log, [NOTE, CAUSE])
    text = log.read_text()
    assert HEAD.fullmatch(text.splitlines()[0])
    assert text.endswith(f"dagster line 19999\n\n{NOTE}\n{CAUSE}\n") and log.stat().st_size <= 64 * 1024 + 400
    assert_whole_lines(text, NOTE, CAUSE)
    assert stop_notes(log) == {"abc": NOTE.split(": ", 2)[2]}
    assert stop_notes(tmp_path / "no such log") == {}


def test_a_tiny_full_log_keeps_the_stop_note_it_has_room_for(tmp_path):
    """A log shorter than the head note: rewriting it as that note, half its bytes and the stop note did not
    fit, so the log was left a torn head note and the stop note was lost, though it alone fitted."""
    log = tmp_path / "last_run.log"
    size = dagster_log(log, 6)
    with disk_of(len(NOTE) + 1):
        assert size < len(NOTE) and append_lines(log, [NOTE])
    assert log.read_text() == f"{NOTE}\n"
    assert stop_notes(log) == {"abc": NOTE.split(": ", 2)[2]}


def test_the_cause_that_does_not_fit_beside_the_stop_note_leaves_the_note(tmp_path):
    """The run's stop note went in; the cause lines after it do not fit: the log keeps the note (the next run
    reads it), where the cut rewrote the log as a torn head note."""
    log = tmp_path / "last_run.log"
    log.write_text("")
    assert append_lines(log, [NOTE])
    with disk_of(log.stat().st_size):
        assert not append_lines(log, [CAUSE, CAUSE.replace("stopped", "failed")])
    assert log.read_text() == f"{NOTE}\n" and stop_notes(log) == {"abc": NOTE.split(": ", 2)[2]}


def test_a_log_with_room_for_nothing_is_left_empty_not_torn(tmp_path):
    log = tmp_path / "last_run.log"
    log.write_text("dagster line 1\n")
    with disk_of(20):
        assert not append_lines(log, [NOTE, CAUSE])
    assert log.read_text() == ""
