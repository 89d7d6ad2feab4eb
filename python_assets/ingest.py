"""Ingest trade-tick files (CSV, Parquet, JSON Lines) into the lake: clean rows kept, bad rows quarantined.

Column names are matched case-insensitively against aliases; timestamps may be epoch s/ms/us/ns
(detected per value by magnitude) or ISO-8601 strings (naive ones are taken as UTC). A headerless
CSV (first line all numeric) is read as `ts, price, size[, side[, trade_id]]`, freqtrade/kraken order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from python_assets.config import Paths
from python_assets.lake import normalize_symbol, now_ms, write_quarantine, write_trades

REQUIRED = ("ts", "price", "size")
ALIASES: dict[str, tuple[str, ...]] = {
    "trade_id": ("trade_id", "tradeid", "id", "tid", "trade"),
    "ts": ("ts", "timestamp", "time", "datetime", "date", "trade_time", "traded_at", "created_at", "t"),
    "price": ("price", "px", "p", "trade_price"),
    "size": ("size", "amount", "qty", "quantity", "sz", "volume", "vol", "q"),
    "side": ("side", "taker_side", "direction", "s"),
}
HEADERLESS_ORDER = ("ts", "price", "size", "side", "trade_id")
FREQTRADE_TRADE_COLUMNS = ("timestamp", "id", "type", "side", "price", "amount", "cost")
MIN_TS_MS = 1_230_768_000_000  # 2009-01-01: anything earlier is a unit mix-up, not a crypto trade
FUTURE_TOLERANCE_MS = 60_000
_SIDES = {"buy": "buy", "b": "buy", "bid": "buy", "sell": "sell", "s": "sell", "ask": "sell", "a": "sell"}


class IngestError(ValueError):
    """A file that cannot be ingested at all (unreadable, wrong format, missing required columns)."""


@dataclass
class IngestResult:
    """Counts printed by `blofin-stack ingest`: rows read, new rows stored, duplicates, quarantined."""

    symbol: str
    rows_read: int
    rows_clean: int
    rows_added: int
    duplicates: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    partitions: tuple[str, ...] = ()
    quarantine_file: str | None = None


def _canonical(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def map_columns(columns: list[str]) -> dict[str, str]:
    """Map our field names to the file's column names (first alias that matches, case-insensitive)."""
    canon = {_canonical(c): c for c in columns}
    mapping: dict[str, str] = {}
    for target, aliases in ALIASES.items():
        for alias in aliases:
            if alias in canon and canon[alias] not in mapping.values():
                mapping[target] = canon[alias]
                break
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        raise IngestError(f"missing required column(s): {', '.join(missing)} (file has: {', '.join(map(str, columns))})")
    return mapping


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# A line of nothing but whitespace and commas (the line-by-line reader drops such rows).
_BLANK_LINE = re.compile(r"(?m)^(?:[^\S\n]|,)*$")


def _header(first_row: list[str]) -> tuple[list[str], int]:
    """(column names, line number of the first data row): a first row of numbers is data."""
    if all(_is_number(c) for c in first_row):
        return list(HEADERLESS_ORDER[: len(first_row)]), 1
    return [c.strip() for c in first_row], 2


def _read_csv_fast(path: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """pyarrow's CSV parser (10x the csv module) for a plain file: UTF-8, no blank lines, every row
    as wide as the header. None sends the file to the line-by-line reader, which numbers and
    quarantines the odd lines; both give the same strings for the same rows."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = text.rstrip("\n").removesuffix("\r")
    first = body.split("\n", 1)[0].rstrip("\r")
    if not body or '"' in first or "\r" in body.replace("\r\n", "") or _BLANK_LINE.search(body):
        return None
    names, first_line = _header(next(csv.reader([first])))
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
    if invalid or len(set(names)) != len(names):
        return None
    frame = table.to_pandas().astype(object)
    frame["__row"] = np.arange(first_line, first_line + len(frame))
    return frame, pd.DataFrame(columns=["source_row", "raw_record", "reason"])


# Below this size the line reader is as quick (pyarrow's set-up costs ~2 ms a file).
FAST_CSV_MIN_BYTES = 256 * 1024


def _read_csv(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CSV as strings; lines with the wrong field count become quarantine rows, not a crash."""
    fast = _read_csv_fast(path) if path.stat().st_size >= FAST_CSV_MIN_BYTES else None
    return fast if fast is not None else _read_csv_lines(path)


def _read_csv_lines(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The line-by-line reader (the csv module): any file, odd lines numbered and quarantined."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    if not rows:
        raise IngestError(f"{path} is empty")
    header, first_line = _header(rows[0])
    body = rows if first_line == 1 else rows[1:]
    good = [r for r in body if len(r) == len(header)]
    bad = [(first_line + i, r) for i, r in enumerate(body) if len(r) != len(header)]
    frame = pd.DataFrame(good, columns=header, dtype=object)
    frame["__row"] = [first_line + i for i, r in enumerate(body) if len(r) == len(header)]
    malformed = pd.DataFrame(
        {"source_row": [n for n, _ in bad], "raw_record": [json.dumps(r) for _, r in bad], "reason": "malformed_row"}
    )
    return frame, malformed


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """JSON Lines; a line that is not a JSON object becomes a quarantine row."""
    records, bad = [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                obj["__row"] = n
                records.append(obj)
            else:
                bad.append((n, line.rstrip("\n")))
    if not records and not bad:
        raise IngestError(f"{path} is empty")
    malformed = pd.DataFrame(
        {"source_row": [n for n, _ in bad], "raw_record": [t for _, t in bad], "reason": "malformed_json"}
    )
    return pd.DataFrame.from_records(records), malformed


def _starts_with(path: Path, char: str) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read(4096).lstrip().startswith(char)


def _read_json_rows(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """freqtrade's trades JSON: one array of [timestamp, id, type, side, price, amount, cost] rows."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path} is not valid JSON: {exc}") from exc
    good = [(n, r) for n, r in enumerate(data, start=1) if isinstance(r, list) and len(r) == len(FREQTRADE_TRADE_COLUMNS)]
    bad = [(n, r) for n, r in enumerate(data, start=1) if not (isinstance(r, list) and len(r) == len(FREQTRADE_TRADE_COLUMNS))]
    frame = pd.DataFrame([r for _, r in good], columns=list(FREQTRADE_TRADE_COLUMNS))
    frame["__row"] = [n for n, _ in good]
    malformed = pd.DataFrame(
        {"source_row": [n for n, _ in bad], "raw_record": [json.dumps(r) for _, r in bad], "reason": "malformed_row"}
    )
    return frame, malformed


def read_raw(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a file by suffix into (rows with a __row number, malformed lines already rejected)."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    if suffix == ".json" and _starts_with(path, "["):
        return _read_json_rows(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path)
    columnar = {".feather": ("Feather", pd.read_feather), ".parquet": ("Parquet", lambda f: pq.read_table(f).to_pandas()),
                ".pq": ("Parquet", lambda f: pq.read_table(f).to_pandas())}
    if suffix in columnar:
        kind, read = columnar[suffix]
        try:
            frame = read(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise IngestError(f"cannot read {kind} file {path}: {exc}") from exc
        frame["__row"] = np.arange(1, len(frame) + 1)
        return frame, pd.DataFrame(columns=["source_row", "raw_record", "reason"])
    raise IngestError(f"unsupported file type {suffix!r} for {path}: use .csv, .parquet, .feather, .json or .jsonl")


def parse_timestamps_ms(values: pd.Series) -> pd.Series:
    """Epoch s/ms/us/ns numbers (by magnitude) or ISO strings -> epoch ms (Int64, <NA> when unparsable)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        out = pd.Series(ts.to_numpy(dtype="datetime64[ms]").astype("int64"), index=values.index, dtype="Int64")
        return out.mask(values.isna())
    numeric = pd.to_numeric(values, errors="coerce")
    mag = numeric.abs()
    scale = np.select([mag < 1e11, mag < 1e14, mag < 1e17], [1e3, 1.0, 1e-3], default=1e-6)
    finite = np.isfinite(numeric.to_numpy(dtype=float, na_value=np.nan))
    ms = pd.Series(np.floor(numeric.to_numpy(dtype=float, na_value=np.nan) * scale), index=values.index)
    out = ms.where(finite).astype("Float64").round().astype("Int64")
    text_mask = numeric.isna() & values.notna()
    if text_mask.any():
        parsed = pd.to_datetime(values[text_mask].astype(str).str.strip(), utc=True, errors="coerce", format="ISO8601")
        parsed_ms = pd.Series(parsed.to_numpy(dtype="datetime64[ms]").astype("int64"), index=parsed.index)
        out.loc[text_mask] = parsed_ms.where(parsed.notna()).astype("Int64")
    return out


def _numeric(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _row_hash_ids(frame: pd.DataFrame) -> pd.Series:
    """Stable ids for files without trade ids: hash of (ts, price, size, side, occurrence number)."""
    key = frame["ts"].astype(str) + "|" + frame["price"].map(repr) + "|" + frame["size"].map(repr) + "|"
    key = key + frame["side"].fillna("").astype(str)
    occurrence = key.groupby(key).cumcount().astype(str)
    return (key + "|" + occurrence).map(lambda k: "h" + hashlib.sha1(k.encode()).hexdigest()[:16])


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped strings (vectorised str(v).strip()), missing values kept missing."""
    present = values.notna()
    out = pd.Series(pd.NA, index=values.index, dtype="string")
    out[present] = values[present].astype(str).str.strip()
    return out


def validate(raw: pd.DataFrame, mapping: dict[str, str], now: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split mapped rows into clean trades and rejected rows, each rejection with its first reason."""
    n = len(raw)
    col = lambda name: raw[mapping[name]] if name in mapping else pd.Series([None] * n, index=raw.index)  # noqa: E731
    ts = parse_timestamps_ms(col("ts"))
    price, size = _numeric(col("price")), _numeric(col("size"))
    side_raw = col("side")
    side = _text(side_raw).str.lower().map(_SIDES)  # NaN when blank, missing or not a known side
    reason = pd.Series([None] * n, index=raw.index, dtype=object)

    def flag(mask: pd.Series, why: str) -> None:
        reason.loc[mask & reason.isna()] = why

    blank = lambda s: s.isna() | (s.astype(str).str.strip() == "")  # noqa: E731
    flag(blank(col("ts")), "missing_time")
    flag(ts.isna(), "unparsable_time")
    flag(ts.fillna(0) > now + FUTURE_TOLERANCE_MS, "time_in_future")
    flag(ts.fillna(MIN_TS_MS) < MIN_TS_MS, "time_before_2009")
    for name, values in (("price", price), ("size", size)):
        flag(blank(col(name)), f"missing_{name}")
        flag(values.isna(), f"non_numeric_{name}")
        flag(~np.isfinite(values.fillna(0.0)), f"non_finite_{name}")
        flag(values.fillna(1.0) <= 0, f"non_positive_{name}")
    flag(side.isna() & ~blank(side_raw), "invalid_side")

    clean = pd.DataFrame({"ts": ts, "price": price, "size": size, "side": side}, index=raw.index)
    ids = col("trade_id")
    has_id = ~blank(ids)
    clean["trade_id"] = _text(ids.where(has_id)).astype(object).where(has_id, None)
    ok = reason.isna()
    clean = clean[ok].copy()
    clean["ts"] = clean["ts"].astype("int64")
    missing_id = clean["trade_id"].isna()
    if missing_id.any():
        clean.loc[missing_id, "trade_id"] = _row_hash_ids(clean[missing_id])
    # Same trade id twice: identical rows are plain duplicates; differing ones are conflicts.
    dup = clean.duplicated(subset=["trade_id"], keep="first")
    same = clean.duplicated(subset=["trade_id", "ts", "price", "size", "side"], keep="first")
    conflict_idx = clean.index[dup & ~same]
    reason.loc[conflict_idx] = "conflicting_trade_id"
    clean = clean[~dup]
    rejected = raw.loc[reason.notna()]
    bad = pd.DataFrame(
        {
            "source_row": rejected["__row"].astype("int64"),
            "raw_record": rejected.drop(columns="__row").apply(lambda r: json.dumps(r.to_dict(), default=str), axis=1)
            if len(rejected)
            else pd.Series(dtype=str),
            "reason": reason.loc[rejected.index],
            "ts": ts.loc[rejected.index],
        }
    )
    return clean[["trade_id", "ts", "price", "size", "side"]].reset_index(drop=True), bad


def file_key(path: Path) -> str:
    """Content hash of a file (first 16 hex of sha256): names its quarantine file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def ingest_file(paths: Paths, path: Path | str, symbol: str, now: int | None = None) -> IngestResult:
    """Read, validate and store one trades file; raises IngestError before writing anything if unusable."""
    path = Path(path)
    symbol = normalize_symbol(symbol)
    raw, malformed = read_raw(path)
    mapping = map_columns([c for c in raw.columns if c != "__row"])
    clean, bad = validate(raw, mapping, now if now is not None else now_ms())
    if len(malformed):
        malformed = malformed.assign(ts=pd.Series([pd.NA] * len(malformed), dtype="Int64"))
        bad = pd.concat([bad, malformed], ignore_index=True)
    bad = bad.assign(source_file=str(path.name))
    bad = bad[["source_file", "source_row", "reason", "raw_record", "ts"]].sort_values("source_row", kind="mergesort")
    rows_read = len(raw) + len(malformed)
    dup_in_file = rows_read - len(clean) - len(bad)
    stats = write_trades(paths, symbol, clean)
    qfile = write_quarantine(paths, symbol, file_key(path), bad.reset_index(drop=True))
    return IngestResult(
        symbol=symbol,
        rows_read=rows_read,
        rows_clean=len(clean),
        rows_added=stats.added,
        duplicates=dup_in_file + stats.duplicates,
        quarantined=len(bad),
        reasons={str(k): int(v) for k, v in bad["reason"].value_counts().sort_index().items()},
        partitions=stats.partitions,
        quarantine_file=str(qfile) if qfile else None,
    )
