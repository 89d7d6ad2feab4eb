"""The published JSON Schema of the daily report (versioned file beside this module)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parent / "report-2.2.schema.json"


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def validate_report(report: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (with the failing path) when a report breaks the schema."""
    jsonschema.validate(report, report_schema(), format_checker=jsonschema.FormatChecker())
