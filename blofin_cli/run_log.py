"""last_run.log, where a CLI run's Dagster and dbt output goes, written best-effort: on a full disk its
own writes fail too, and that must neither hide the run's error nor lose its cause. A run that Dagster
could not end (its storage full) leaves a stop note there, which the next run's recovery reads."""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

KEEP_BYTES = 64 * 1024  # of the log's tail, when its head is dropped to make room for the cause
STOP_NOTE = "blofin-stack: run {run_id} stopped: {cause}"
STOP_NOTE_RE = re.compile(r"^blofin-stack: run (\S+) stopped: (.+)$", re.MULTILINE)
STOP_NOTE_LINE_RE = re.compile(rb"^blofin-stack: run \S+ stopped: .+\n", re.MULTILINE)  # a whole one


def print_traceback(exc: BaseException) -> None:
    """exc's traceback on stderr (the run log while output_to redirects it); nothing when that fails."""
    try:
        traceback.print_exception(exc, file=sys.stderr)
        sys.stderr.flush()
    except OSError:
        pass


def append_lines(path: Path, lines: list[str]) -> bool:
    """Append lines (after a blank one) to the log, whole or not at all; when the log cannot grow (a full
    disk), drop its head to make room for them. False when the log could not take them: it still ends
    with whole lines, and keeps the stop notes it held or was given when they fit."""
    from python_assets.platform.logs import append_line

    data = "".join(f"{line}\n" for line in lines).encode()
    try:
        append_line(path, b"\n" + data)  # a write cut short is taken back: no torn copy stays for the cut below
        return True
    except OSError:
        return _cut_head_and_append(path, data)


def _cut_head_and_append(path: Path, data: bytes) -> bool:
    """Rewrite the log, in place (a full disk has no room for a copy), as the first of these that fits: a
    note of what was dropped, the log's last whole lines (at most KEEP_BYTES, and half the log: truncating
    frees the room they are rewritten into; fewer while they do not fit) and data; data alone; the stop
    notes alone. A stop note in the dropped part is kept, after the lines kept (where stop_notes reads)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        tail = os.pread(fd, min(KEEP_BYTES + 1, size), size - min(KEEP_BYTES + 1, size))
        notes = list(STOP_NOTE_LINE_RE.finditer(tail, 0 if len(tail) == size else 1))  # tail[0] may end a line
        for kept in _shorter_tails(tail, size):
            dropped = [m.group(0) for m in notes if m.start() < len(tail) - len(kept)]
            head = f"[blofin-stack: the log's first {size - len(kept)} bytes were dropped to make room on a full disk]\n"
            if _rewrite(fd, head.encode() + kept + b"\n" + b"".join(dropped) + data):
                return True
        if _rewrite(fd, b"".join(m.group(0) for m in notes) + data):
            return True
        _rewrite(fd, b"".join(m.group(0) for m in [*notes, *STOP_NOTE_LINE_RE.finditer(data)]))
        return False
    except OSError:
        return False
    finally:
        os.close(fd)


def _shorter_tails(tail: bytes, size: int) -> Iterator[bytes]:
    """The whole lines in the last n bytes of the log (tail holds its last bytes and the one before them),
    n from min(KEEP_BYTES, size // 2) halving down to nothing, each different one once."""
    n, last = min(KEEP_BYTES, size // 2), None
    while True:
        chunk = tail[len(tail) - n - 1:] if n else b""
        cut = chunk.find(b"\n")
        kept = chunk[cut + 1:] if cut >= 0 else b""  # from the first line that starts inside the last n bytes
        if kept != last:
            yield kept
        if not n:
            return
        n, last = n // 2, kept


def _rewrite(fd: int, content: bytes) -> bool:
    """Make content the whole file (fd appends): True when all of it went in, else the file is left empty."""
    os.ftruncate(fd, 0)
    done = 0
    while done < len(content):
        try:
            written = os.write(fd, content[done:])
        except OSError:
            written = 0
        if not written:  # a full disk: what did go in is a torn line
            os.ftruncate(fd, 0)
            return False
        done += written
    return True


def stop_notes(path: Path) -> dict[str, str]:
    """Run id -> why it stopped, for the stop notes at the end of a previous run's log (none when unreadable)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - KEEP_BYTES))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return {}
    return {m.group(1): m.group(2).strip() for m in STOP_NOTE_RE.finditer(text)}
