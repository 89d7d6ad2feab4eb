"""The published JSON Schemas of the daily report (one versioned file per schema_version beside this module)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_VERSION = "2.4"  # what the report writes now; a change of the contract is a new version, never an edit
SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMA_PATH = SCHEMA_DIR / f"report-{SCHEMA_VERSION}.schema.json"


def schema_path(version: str) -> Path:
    """The schema file of a schema_version; ValueError for a version no file here describes."""
    path = SCHEMA_DIR / f"report-{version}.schema.json"
    if not re.fullmatch(r"\d+\.\d+", str(version)) or not path.is_file():
        known = sorted(p.name.removeprefix("report-").removesuffix(".schema.json") for p in SCHEMA_DIR.glob("report-*.schema.json"))
        raise ValueError(f"report schema_version {version!r} has no schema (known: {', '.join(known)})")
    return path


@lru_cache(maxsize=None)
def report_schema(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    """The schema of a schema_version (the current one by default)."""
    return json.loads(schema_path(version).read_text())


def validate_report(report: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (with the failing path) when a report breaks the schema of its own
    schema_version: a report written under 2.2 is judged by the 2.2 contract, not by a later one."""
    schema = report_schema(str(report.get("schema_version", SCHEMA_VERSION)))
    jsonschema.validate(report, schema, format_checker=jsonschema.FormatChecker())
