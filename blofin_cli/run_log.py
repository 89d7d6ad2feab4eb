"""last_run.log, where a CLI run's Dagster and dbt output goes, written best-effort: on a full disk its
own writes fail too, and that must neither hide the run's error nor lose its cause. A run that Dagster
could not end (its storage full) leaves a stop note there, which the next run's recovery reads."""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

KEEP_BYTES = 64 * 1024  # of the log's tail, when its head is dropped to make room for the cause
STOP_NOTE = "blofin-stack: run {run_id} stopped: {cause}"
STOP_NOTE_RE = re.compile(r"^blofin-stack: run (\S+) stopped: (.+)$", re.MULTILINE)


def print_traceback(exc: BaseException) -> None:
    """exc's traceback on stderr (the run log while output_to redirects it); nothing when that fails."""
    try:
        traceback.print_exception(exc, file=sys.stderr)
        sys.stderr.flush()
    except OSError:
        pass


def append_lines(path: Path, lines: list[str]) -> bool:
    """Append lines to the log; when that fails (a full disk), drop the log's head, keeping its tail, to
    make room for them. False when the log could take neither."""
    data = "".join(f"{line}\n" for line in lines).encode()
    try:
        with open(path, "ab") as fh:
            fh.write(b"\n" + data)
        return True
    except OSError:
        return _cut_head_and_append(path, data)


def _cut_head_and_append(path: Path, data: bytes) -> bool:
    """Rewrite the log as a note of what was dropped, its last bytes (at most half: truncating frees the
    room they are rewritten into) and data."""
    try:
        with open(path, "r+b") as fh:
            size = fh.seek(0, 2)
            keep = min(KEEP_BYTES, size // 2)
            fh.seek(size - keep)
            tail = fh.read()
            fh.seek(0)
            fh.truncate()
            dropped = f"[blofin-stack: the log's first {size - keep} bytes were dropped to make room on a full disk]\n"
            fh.write(dropped.encode() + tail + b"\n" + data)
        return True
    except OSError:
        return False


def stop_notes(path: Path) -> dict[str, str]:
    """Run id -> why it stopped, for the stop notes at the end of a previous run's log (none when unreadable)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - KEEP_BYTES))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return {}
    return {m.group(1): m.group(2).strip() for m in STOP_NOTE_RE.finditer(text)}
