"""Structured JSON-lines logging to `<data>/pipeline.log`, UTC timestamps, beside Dagster's own logs."""

from __future__ import annotations

import json
import logging
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


def _attach_file_handler(logger: logging.Logger, log_file: Path) -> None:
    """Add a handler for log_file once; a moved data dir (tests) gets its own handler."""
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == log_file:
            return
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            logger.removeHandler(handler)
            handler.close()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
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
