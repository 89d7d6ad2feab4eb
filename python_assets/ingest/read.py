"""Read trade files (CSV, JSON Lines, freqtrade JSON, Parquet, Feather) into raw rows, each with its line
number (`__row`), and the lines that are not rows at all (malformed, with a reason).

Every physical line of a CSV is accounted for: it is part of one data row, an empty line, or a
quarantine row of its own (a line of only commas or spaces is one: `blank_row`). A quoted field may span lines (standard CSV) only in a column ingestion does
not read and only when no swallowed line looks like a row of its own; otherwise the quote is taken as
unbalanced: its line alone is quarantined and reading resumes on the next line. A field past the csv
module's size limit quarantines its line. A UTF-8 byte-order mark (Excel's export) is ignored.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq

from python_assets.ingest.header import ALIASES, REQUIRED, SAMPLE_LINES, canonical, decide_header

FREQTRADE_TRADE_COLUMNS = ("timestamp", "id", "type", "side", "price", "amount", "cost")
RAW_RECORD_MAX = 4096  # a quarantined line longer than this is stored cut, with its length and hash
MALFORMED_COLUMNS = ["source_row", "raw_record", "reason"]


class IngestError(ValueError):
    """A file that cannot be ingested at all (unreadable, wrong format, missing required columns)."""


def map_columns(columns: list[str]) -> dict[str, str]:
    """Map our field names to the file's column names (first alias that matches, case-insensitive); two
    columns that both match the alias taken (`T` and `t`) are refused, not one picked."""
    canon: dict[str, list[str]] = {}
    for c in columns:
        canon.setdefault(canonical(c), []).append(c)
    mapping: dict[str, str] = {}
    for target, aliases in ALIASES.items():
        for alias in aliases:
            if alias in canon and canon[alias][0] not in mapping.values():
                if len(canon[alias]) > 1:
                    raise IngestError(f"ambiguous columns {clip(', '.join(map(str, canon[alias])), 300)}: they differ "
                                      f"only in case or spacing and both could be the {target} column; rename one")
                mapping[target] = canon[alias][0]
                break
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        has = clip(", ".join(map(str, columns)), 300)
        raise IngestError(f"missing required column(s): {', '.join(missing)} (file has: {has})")
    return mapping


def clip(text: str, limit: int = RAW_RECORD_MAX) -> str:
    """Text cut to limit characters, naming its full length and hash when cut."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{text[:limit]}...[cut: {len(text)} characters, sha1 {digest}]"


def _malformed(bad: list[tuple[int, str, str]]) -> pd.DataFrame:
    """(line, raw text, reason) triples as a malformed-lines frame."""
    return pd.DataFrame(bad, columns=MALFORMED_COLUMNS) if bad else pd.DataFrame(columns=MALFORMED_COLUMNS)


def _opening_rows(lines: list[str]) -> list[list[str]]:
    """The first non-blank lines (up to SAMPLE_LINES), each read alone as a csv row; one the csv module
    cannot read alone is left out."""
    rows: list[list[str]] = []
    for line in lines:
        try:
            fields = next(csv.reader([line.rstrip("\r\n")]), [])
        except csv.Error:
            continue
        if any(c.strip() for c in fields):
            rows.append(fields)
        if len(rows) == SAMPLE_LINES:
            break
    return rows


# A line of nothing but whitespace and commas (the line-by-line reader drops such rows).
_BLANK_LINE = re.compile(r"(?m)^(?:[^\S\n]|,)*$")
_PHYSICAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_BOM = b"\xef\xbb\xbf"


def _gzipped(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _open_text(path: Path, **kwargs: str) -> IO[str]:
    """The file as text, through its gzip layer when it has one (x.csv.gz)."""
    return gzip.open(path, "rt", **kwargs) if _gzipped(path) else open(path, **kwargs)  # noqa: SIM115


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, through its gzip layer when it has one."""
    return gzip.decompress(path.read_bytes()) if _gzipped(path) else path.read_bytes()


def _read_csv_fast(path: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """pyarrow's CSV parser (10x the csv module) for a plain file: UTF-8, no blank lines, one row per
    line, every row as wide as the header, no field near the csv module's limit. None sends the file
    to the line reader, which numbers and quarantines the odd lines; both give the same rows."""
    data = _read_bytes(path).removeprefix(_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = text.rstrip("\n").removesuffix("\r")
    first = body.split("\n", 1)[0].rstrip("\r")
    if not body or '"' in first or "\r" in body.replace("\r\n", "") or _BLANK_LINE.search(body):
        return None
    if len(data) > csv.field_size_limit() and max(map(len, data.split(b"\n"))) > csv.field_size_limit():
        return None
    opening = body.split("\n", SAMPLE_LINES + 1)[1:SAMPLE_LINES + 1]
    names, headerless = decide_header(next(csv.reader([first])), _opening_rows(opening))
    first_line = 1 if headerless else 2
    invalid: list[object] = []
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=first_line - 1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                             invalid_row_handler=lambda row: invalid.append(row) or "skip"),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if invalid or len(set(names)) != len(names) or table.num_rows + first_line - 1 != lines:
        return None  # a row spanning lines (quoted line breaks) or an odd row: the line reader decides
    last = table.slice(table.num_rows - 1).to_pylist() if table.num_rows else []
    if last and any("\n" in v or "\r" in v for v in last[0].values()):
        return None  # a quote left open on the last line
    frame = table.to_pandas().astype(object)
    frame["__row"] = np.arange(first_line, first_line + len(frame))
    return frame, _malformed([])


# Below this size the line reader is as quick (pyarrow's set-up costs ~2 ms a file).
FAST_CSV_MIN_BYTES = 256 * 1024


def _read_csv(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CSV as strings; lines that are not rows become quarantine rows, not a crash."""
    fast = _read_csv_fast(path) if path.stat().st_size >= FAST_CSV_MIN_BYTES else None
    return fast if fast is not None else _read_csv_lines(path)


def _csv_error_reason(exc: csv.Error) -> str:
    """The quarantine reason for a line the csv module cannot read."""
    return "field_too_large" if "field larger than field limit" in str(exc) else "malformed_row"


def _row_like(line: str, width: int, numeric_at: list[int]) -> bool:
    """Whether a line read alone is a full row whose time, price and size fields start like numbers."""
    try:
        fields = next(csv.reader([line]), [])
    except csv.Error:
        return False
    starts = [fields[i].strip()[:1] for i in numeric_at if i < len(fields)]
    return len(fields) == width and all(c and c in "+-.0123456789" for c in starts)


def _columns_read(names: list[str]) -> tuple[list[int], list[int]]:
    """(positions of the columns ingestion reads, positions of ts/price/size); all when unmappable."""
    try:
        mapping = map_columns(names)
    except IngestError:
        return list(range(len(names))), list(range(len(names)))
    where = {name: i for i, name in enumerate(names)}
    return sorted(where[c] for c in mapping.values()), [where[mapping[c]] for c in REQUIRED]


class _Records:
    """csv records over physical lines: (first line index, fields or a csv error's reason, lines spanned);
    reading can restart at any line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines, self.pos = lines, 0
        self.restart(0)

    def _feed(self) -> Iterator[str]:
        while self.pos < len(self.lines):
            self.pos += 1
            yield self.lines[self.pos - 1]

    def restart(self, at: int) -> None:
        """Continue reading at line index `at`, whatever the last record swallowed."""
        self.pos, self._reader = at, csv.reader(self._feed())

    def next(self) -> tuple[int, list[str] | str, int] | None:
        """The next record, or None at the end."""
        first = self.pos
        try:
            fields = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:  # past the first line, the error is in what an open quote swallowed
            why = "unbalanced_quote" if self.pos - first > 1 else _csv_error_reason(exc)
            self.restart(first + 1)
            return first, why, 1
        return first, fields, self.pos - first


def _unbalanced(fields: list[str], span: int, lines: list[str], names: list[str], read_at: list[int],
                numeric_at: list[int]) -> bool:
    """Whether a record is a quote left open: a line break in a column we read, or a record spanning
    lines that is the wrong width or swallowed a line that is a row of its own."""
    if any("\n" in fields[i] or "\r" in fields[i] for i in read_at if i < len(fields)):
        return True
    return span > 1 and (len(fields) != len(names) or any(_row_like(x, len(names), numeric_at) for x in lines))


def _read_csv_lines(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The line-by-line reader (the csv module): any file; every line is part of a row, blank, or quarantined."""
    with _open_text(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        lines = _PHYSICAL_LINE.findall(fh.read())
    records, bad = _Records(lines), list[tuple[int, str, str]]()
    while (item := records.next()) is not None:
        first, fields, span = item
        if isinstance(fields, str) or span > 1:
            why = fields if isinstance(fields, str) else "unbalanced_quote"
            raise IngestError(f"{path}: line {first + 1}, the header, cannot be read ({why})")
        if any(c.strip() for c in fields):
            break
        if line := lines[first].rstrip("\r\n"):  # commas or spaces before the first row count as after it
            bad.append((first + 1, clip(line), "blank_row"))
    else:
        raise IngestError(f"{path} is empty")
    names, headerless = decide_header(fields, _opening_rows(lines[first + 1:first + 1 + 4 * SAMPLE_LINES]))
    read_at, numeric_at = _columns_read(names)
    if headerless:
        records.restart(first)
    good, rows = [], []
    while (item := records.next()) is not None:
        first, fields, span = item
        line = lines[first].rstrip("\r\n")
        if isinstance(fields, str):
            bad.append((first + 1, clip(line), fields))
        elif _unbalanced(fields, span, lines[first + 1:first + span], names, read_at, numeric_at):
            bad.append((first + 1, clip(line), "unbalanced_quote"))
            records.restart(first + 1)
        elif not any(c.strip() for c in fields):
            if line:  # commas or spaces: a row with nothing in it, counted (an empty line is no row)
                bad.append((first + 1, clip(line), "blank_row"))
        elif len(fields) != len(names):
            bad.append((first + 1, clip(json.dumps(fields)), "malformed_row"))
        else:
            good.append(fields)
            rows.append(first + 1)
    frame = pd.DataFrame(good, columns=names, dtype=object)
    frame["__row"] = rows
    return frame, _malformed(bad)


def json_lines(path: Path) -> Iterator[tuple[int, dict | None, str]]:
    """(line number, the line's JSON object or None when it is not one, the line) for each non-blank line of
    a JSON Lines file (a byte-order mark and a gzip layer passed over)."""
    with _open_text(path, encoding="utf-8-sig", errors="replace") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                obj = None
            yield n, obj if isinstance(obj, dict) else None, line


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """JSON Lines; a line that is not a JSON object becomes a quarantine row. Values stay as parsed
    (object columns), so a 19-digit nanosecond time is never squeezed through a float."""
    records, bad = [], []
    for n, obj, line in json_lines(path):
        if obj is not None:
            obj["__row"] = n
            records.append(obj)
        else:
            bad.append((n, clip(line.rstrip("\n")), "malformed_json"))
    if not records and not bad:
        raise IngestError(f"{path} is empty")
    return pd.DataFrame(records, dtype=object), _malformed(bad)


def _starts_with(path: Path, char: str) -> bool:
    with _open_text(path, encoding="utf-8-sig", errors="replace") as fh:
        return fh.read(4096).lstrip().startswith(char)


def _read_json_rows(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One JSON array of trades: freqtrade's [timestamp, id, type, side, price, amount, cost] rows, or
    objects named like a JSON Lines file's (a REST or ccxt dump); the first element says which. An
    element of the other kind is a malformed row."""
    try:
        with _open_text(path, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise IngestError(f"{path} is not valid JSON: {clip(str(exc), 200)}") from None
    if not isinstance(data, list):
        raise IngestError(f"{path} is not a JSON array of trade rows")
    if data and isinstance(data[0], dict):
        is_row = [isinstance(r, dict) for r in data]
        frame = pd.DataFrame([r for r, ok in zip(data, is_row) if ok], dtype=object)
    else:
        is_row = [isinstance(r, list) and len(r) == len(FREQTRADE_TRADE_COLUMNS) for r in data]
        frame = pd.DataFrame([r for r, ok in zip(data, is_row) if ok], columns=list(FREQTRADE_TRADE_COLUMNS), dtype=object)
    frame["__row"] = [n for n, ok in enumerate(is_row, start=1) if ok]
    bad = [(n, clip(json.dumps(r)), "malformed_row") for n, (r, ok) in enumerate(zip(data, is_row), start=1) if not ok]
    return frame, _malformed(bad)


_COLUMNAR = {".feather": ("Feather", feather.read_table), ".parquet": ("Parquet", pq.read_table),
             ".pq": ("Parquet", pq.read_table)}


def _read_columnar(path: Path, kind: str, read) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parquet / Feather; integer columns with nulls stay integers (objects), not floats."""
    try:
        frame = read(path).to_pandas(integer_object_nulls=True)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise IngestError(f"cannot read {kind} file {path}: {clip(str(exc), 200)}") from None
    frame["__row"] = np.arange(1, len(frame) + 1)
    return frame, _malformed([])


TEXT_SUFFIXES = (".csv", ".txt", ".jsonl", ".ndjson", ".json")  # the formats read through a gzip layer too (x.csv.gz)


def read_raw(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a file by suffix into (rows with a __row number, malformed lines already rejected); a text
    format may come gzipped (x.csv.gz, freqtrade's PAIR-trades.json.gz)."""
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    if not _gzipped(path):
        return _read_by_suffix(path, path.suffix.lower())
    inner = path.with_suffix("").suffix.lower()
    if inner not in TEXT_SUFFIXES:
        raise IngestError(f"unsupported file type {inner + '.gz'!r} for {path}: gzip is read around "
                          f"{', '.join(TEXT_SUFFIXES)} files")
    try:
        return _read_by_suffix(path, inner)
    except (OSError, EOFError, zlib.error) as exc:  # a corrupt or cut gzip layer
        raise IngestError(f"cannot read gzip file {path}: {clip(str(exc), 200)}") from None


def _read_by_suffix(path: Path, suffix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reader for the file's format."""
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    if suffix == ".json" and _starts_with(path, "["):
        return _read_json_rows(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path)
    if suffix in _COLUMNAR:
        return _read_columnar(path, *_COLUMNAR[suffix])
    raise IngestError(f"unsupported file type {suffix!r} for {path}: use .csv, .parquet, .feather, .json or .jsonl "
                      "(the text ones may be .gz)")
