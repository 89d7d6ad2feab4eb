"""Structured JSON-lines logging to `<data>/pipeline.log`, UTC timestamps, beside Dagster's own logs."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from python_assets.config import paths
from python_assets.platform.secrets import scrub

LOGGER_NAME = "blofin_stack"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: ts (ISO-8601, UTC, with offset), level, logger, event and fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(line, default=str, sort_keys=False))


class JsonLinesHandler(logging.Handler):
    """Appends each record to the file as one whole line in one os.write: a write that fails (a full disk)
    leaves no torn line for the next record to be glued onto, and is said once on stderr, not raised."""

    def __init__(self, filename: Path) -> None:
        super().__init__()
        self.baseFilename = str(filename)
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record's line; on an error (a full disk, a field JSON cannot hold), one short stderr line
        the first time, never raised into the step that logged (as logging.FileHandler's handleError)."""
        try:
            data = (self.format(record) + "\n").encode("utf-8")
            append_line(Path(self.baseFilename), data)
        except Exception as exc:  # noqa: BLE001 - a log line must not fail the work it describes
            self.report(record, exc)

    def report(self, record: logging.LogRecord, exc: Exception) -> None:
        """Say the first failed write on stderr, in one line (stderr may be a full disk's file too)."""
        if self.failed:
            return
        self.failed = True
        try:
            print(f"warning: {self.baseFilename} not written ({getattr(exc, 'strerror', None) or exc}): event "
                  f"{record.getMessage()!r} and later ones may be missing from it", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass


def append_line(path: Path, data: bytes) -> None:
    """Append data (one line) in one write, on a new line if the file's last one was cut; a write cut
    short is taken back, when no other writer appended after it, and raised as ENOSPC. A file this call
    created is removed again when the write failed and left it empty (no empty log after a full disk)."""
    try:
        fd, created = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o666), True
    except FileExistsError:
        fd, created = os.open(path, os.O_RDWR | os.O_APPEND, 0o666), False
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        written = os.write(fd, data)  # one that raises wrote nothing: what grew since belongs to another writer
        if written < len(data):
            _take_back(fd, size, written)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError:
        if created:
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_size == 0:
                    path.unlink()
        raise
    finally:
        os.close(fd)


def _take_back(fd: int, size: int, written: int) -> None:
    """Truncate the file back to size, when what follows it is only this process's cut line."""
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_size == size + written:
            os.ftruncate(fd, size)


def _attach_file_handler(logger: logging.Logger, log_file: Path) -> None:
    """Add a handler for log_file once; a moved data dir (tests) gets its own handler."""
    for handler in logger.handlers:
        if isinstance(handler, JsonLinesHandler) and Path(handler.baseFilename) == log_file:
            return
    for handler in list(logger.handlers):
        if isinstance(handler, (JsonLinesHandler, logging.FileHandler)):
            logger.removeHandler(handler)
            handler.close()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = JsonLinesHandler(log_file)
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)


def get_logger() -> logging.Logger:
    """The pipeline logger, writing to the current data dir's pipeline.log."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    _attach_file_handler(logger, paths().log_file)
    return logger


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Write one structured event (name plus key/value fields) to pipeline.log."""
    get_logger().log(level, event, extra={"fields": fields})
