"""How `blofin-stack query` writes one value (pure): DuckDB's own text where Python's would be a repr.

Which columns DuckDB itself turns into text first (query.py casts them): nested values (LIST, STRUCT, MAP) in
the table and CSV, INTERVAL everywhere ('1 year 2 days', where Python's timedelta reads '360 days, 0:00:00'),
and for CSV also BOOLEAN, BLOB and DECIMAL (DuckDB's `true`, `\\x00`, `12.50`). An infinite TIMESTAMP or
DATE reads `infinity` / `-infinity` (Python would give 9999-12-31 / 0001-01-01, real-looking dates).
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from json.encoder import encode_basestring_ascii  # json.dumps's own (C) string encoder

TIME_TYPES = frozenset({"DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"})
CSV_TEXT_TYPES = frozenset({"BOOLEAN", "BLOB"})

# The table escapes what would act on the terminal or break its alignment: C0/C1 controls (ESC starts a
# screen-clearing or title-setting sequence), line and paragraph separators, and the bidi controls that reorder
# the text shown (U+202E). CSV and JSON are data formats and keep every character.
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))}
_VISIBLE.update({0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t"})
_VISIBLE.update({c: f"\\u{c:04x}" for c in (0x061c, 0x200e, 0x200f, 0x2028, 0x2029, *range(0x202a, 0x202f),
                                            *range(0x2066, 0x206a))})


def is_nested(duckdb_type: str) -> bool:
    """Whether a DuckDB type (as its text) is a LIST, ARRAY, STRUCT, MAP or UNION."""
    return duckdb_type.endswith("]") or duckdb_type.startswith(("STRUCT(", "MAP(", "UNION("))


def as_text_in_duckdb(duckdb_type: str, fmt: str) -> bool:
    """Whether query.py has DuckDB cast a column of this type to VARCHAR for `fmt` (see the module docstring)."""
    if duckdb_type == "INTERVAL":
        return True
    if fmt == "csv":
        return is_nested(duckdb_type) or duckdb_type in CSV_TEXT_TYPES or duckdb_type.startswith("DECIMAL")
    return fmt == "table" and is_nested(duckdb_type)


def visible(text: str) -> str:
    """text with control, separator and bidi characters written as escapes (\\x1b, \\n, \\u202e)."""
    return text.translate(_VISIBLE)


def blob_text(b: bytes) -> str:
    """DuckDB's text of a BLOB: printable ASCII as is, other bytes and \\ ' \" as \\xHH."""
    return "".join(chr(c) if 32 <= c <= 126 and c not in (0x22, 0x27, 0x5c) else f"\\x{c:02X}" for c in b)


def decimal_text(d: Decimal) -> str:
    """A DECIMAL's exact digits, never an exponent (Decimal('0E-12') is 0.000000000000)."""
    return format(d, "f")


def cell(v: object) -> str:
    """A value for the text table, escaped: floats to 6 decimals (trailing zeros dropped), tiny or huge ones to
    6 significant digits; NULL as an empty cell; booleans, blobs and decimals as DuckDB writes them."""
    if v is None:
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "-0" if math.copysign(1.0, v) < 0 else "0"
        if 1e-3 <= abs(v) < 1e15:
            return f"{v:.6f}".rstrip("0").rstrip(".")
        return f"{v:.6g}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return decimal_text(v)
    if isinstance(v, bytes):
        return blob_text(v)
    return visible(str(v))


def csv_rows(rows: list[tuple]) -> str:
    """Rows as CSV lines (Python's csv dialect): NULL an empty field, an empty string a quoted "" (as DuckDB's
    COPY writes them; both were empty)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for r in rows:
        if "" in r:
            out.write(",".join(_csv_field(v) for v in r) + "\r\n")
        else:
            writer.writerow(r)
    return out.getvalue()


def _csv_field(v: object) -> str:
    """One CSV field: None empty, '' as "", anything else as csv.writer quotes it."""
    if v is None:
        return ""
    field = io.StringIO()
    csv.writer(field).writerow([v])
    return field.getvalue()[:-2]


def json_value(v: object) -> object:
    """A JSON-ready value: DECIMAL kept exact (int when whole), dates as ISO text, NaN/inf as null, blobs as DuckDB's
    text, lists and structs nested."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, bytes):
        return blob_text(v)
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    return str(v)


def json_text(v: object, pad: str = "    ") -> str:
    """json.dumps(v, indent=2) of a json_value at indentation `pad`, a DECIMAL written as its exact digits (a JSON
    number: json.loads(text, parse_float=Decimal) reads it back exactly)."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if type(v) is int:
        return int.__repr__(v)
    if type(v) is float:
        return float.__repr__(v)  # json_value left only finite floats
    if type(v) is str:
        return encode_basestring_ascii(v)
    if isinstance(v, Decimal):
        return decimal_text(v)
    inner = pad + "  "
    if isinstance(v, list):
        return "[\n" + ",\n".join(inner + json_text(x, inner) for x in v) + "\n" + pad + "]" if v else "[]"
    if isinstance(v, dict):
        return ("{\n" + ",\n".join(f"{inner}{encode_basestring_ascii(k)}: {json_text(x, inner)}" for k, x in v.items())
                + "\n" + pad + "}") if v else "{}"
    return json.dumps(v)
