"""Ingest trade-tick files (CSV, Parquet, Feather, JSON, JSON Lines) into the lake: clean rows kept, bad rows quarantined.

Column names are matched case-insensitively against aliases; timestamps may be epoch s/ms/us/ns
(detected per value by magnitude, exact integer arithmetic) or ISO-8601 strings (naive ones are taken
as UTC). A headerless CSV (a first line that is a trade: time, number, number, ...; or a damaged one
over lines that are) is read as `ts, price, size[, side[, trade_id]]`, freqtrade/kraken order, as wide as
most of its opening lines (python_assets/ingest/header.py). Every input row is kept, a duplicate, or quarantined with a reason
(python_assets/ingest/read.py reads the files, python_assets/lake/trade_rules.py holds the value bounds).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from python_assets.config import Paths
from python_assets.ingest.read import ALIASES, REQUIRED, IngestError, clip, map_columns, read_raw
from python_assets.ingest.symbols import other_symbol
from python_assets.lake.quarantine import write_quarantine
from python_assets.lake.store import Guard, normalize_symbol, now_ms, utc_date_of_ms, write_trades
from python_assets.lake.trade_twins import content_hashed
from python_assets.platform.progress import say, step_line
from python_assets.platform.timestamps import parse_timestamps_ms
from python_assets.lake.trade_rules import MIN_TS_MS, MISSING_TEXTS, SIDE_NAMES, value_faults

__all__ = ["ALIASES", "REQUIRED", "IngestError", "IngestResult", "ingest_file", "map_columns", "parse_timestamps_ms",
           "read_raw", "validate"]
FUTURE_TOLERANCE_MS = 60_000
PROGRESS_FILE_BYTES = 16 << 20  # from this size on, `progress` prints its steps and a bar over the days written
MAX_EXACT_FLOAT_ID = 2**53  # a float id at or above this may be another integer rounded: no text names it exactly
_WHOLE_DECIMAL = r"^([+-]?\d+)\.0*$"  # "101.0", a float id written as text: the id 101


@dataclass
class IngestResult:
    """Counts printed by `blofin-stack ingest`: rows read = rows added + duplicates + quarantined; of the duplicates,
    stored_with_id rows without an id the lake (or the file itself) holds with one, stored_without_id rows with an
    id the lake holds without one (lake.trade_twins)."""

    symbol: str
    rows_read: int
    rows_clean: int
    rows_added: int
    duplicates: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    partitions: tuple[str, ...] = ()
    quarantine_file: str | None = None
    stored_with_id: int = 0
    stored_without_id: int = 0


def touched_days(written: tuple[str, ...], quarantined_ts: pd.Series) -> tuple[str, ...]:
    """The UTC days a file changed: those it wrote trades to and those of the rows it quarantined (a day's
    summary counts them: a day-11 file's conflicting id dated day 10 changes day 10)."""
    ts = pd.to_numeric(quarantined_ts, errors="coerce").dropna().to_numpy(dtype=np.int64)
    return tuple(sorted(set(written) | {str(d) for d in np.unique(utc_date_of_ms(ts))}))


def _numeric(values: pd.Series) -> pd.Series:
    """Values as float64, NaN where not a number (booleans, lists, dicts and other odd cells included)."""
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index, dtype="float64")
    try:
        out = pd.to_numeric(values, errors="coerce").astype("float64")
    except (TypeError, ValueError):
        plain = values.map(lambda v: v if isinstance(v, (int, float, str)) else None)
        out = pd.to_numeric(plain, errors="coerce").astype("float64")
    maybe = out.isin([0.0, 1.0]).to_numpy()  # what a boolean becomes: look only at those cells
    if maybe.any():
        flags = values[maybe].map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        out.iloc[np.flatnonzero(maybe)[flags]] = np.nan
    return out


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


def _missing_text(values: pd.Series) -> pd.Series:
    """Values that are pandas' text for a missing value ("nan", "None", "null", any case) as missing."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    said = values.astype("string").str.strip().str.lower().isin(MISSING_TEXTS).to_numpy(dtype=bool, na_value=False)
    return values.mask(said) if said.any() else values


def _float_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float ids as integer text, None where inexact; mask of the inexact: fractional, not finite, >= 2^53)."""
    with np.errstate(invalid="ignore"):
        exact = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < MAX_EXACT_FLOAT_ID)
    text = np.full(len(values), None, dtype=object)
    text[exact] = values[exact].astype(np.int64).astype(str)
    return text, ~exact


def _trade_ids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(ids as text, None where blank; mask of ids no text names exactly: booleans and inexact floats).
    A whole-number float is its integer, so 101, 101.0 and "101.0" are one id."""
    ids = pd.Series(None, index=values.index, dtype=object)
    bad = pd.Series(False, index=values.index)
    present = values.notna().to_numpy()
    kind = values.map(type)
    floats = present & kind.isin([float, np.float64, np.float32, np.float16]).to_numpy()
    flags = present & kind.isin([bool, np.bool_]).to_numpy()
    other = present & ~floats & ~flags
    if floats.any():
        ids[floats], bad[floats] = _float_ids(values[floats].to_numpy(dtype=np.float64))
    bad[flags] = True
    text = values[other].astype(str).str.strip().str.replace(_WHOLE_DECIMAL, r"\1", regex=True)
    ids[other] = text.where(text != "", None)
    return ids, bad


def rejected_rows(raw: pd.DataFrame, reason: pd.Series | str, ts: pd.Series) -> pd.DataFrame:
    """Quarantine rows (source_row, raw_record, reason, ts) for raw rows, each with its reason."""
    records = raw.drop(columns="__row").to_dict(orient="records")
    return pd.DataFrame({
        "source_row": raw["__row"].astype("int64"),
        "raw_record": pd.Series([clip(json.dumps(r, default=str)) for r in records], index=raw.index, dtype=object),
        "reason": reason,
        "ts": ts.astype("Int64"),
    }, index=raw.index)


def validate(raw: pd.DataFrame, mapping: dict[str, str], now: int,
             symbol: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split mapped rows into clean trades (indexed like raw) and rejected rows, each with its first reason;
    with `symbol`, a row whose own symbol column names another market is a symbol_mismatch."""
    n = len(raw)
    col = lambda name: raw[mapping[name]] if name in mapping else pd.Series([None] * n, index=raw.index)  # noqa: E731
    ts = parse_timestamps_ms(col("ts"))
    price, size = _numeric(col("price")), _numeric(col("size"))
    side_raw = _missing_text(col("side"))
    side = _text(side_raw).str.lower().map(SIDE_NAMES)  # NaN when blank, missing or not a known side (as side_of)
    reason = pd.Series([None] * n, index=raw.index, dtype=object)

    def flag(mask: pd.Series, why: pd.Series | str) -> None:
        take = (mask & reason.isna()).to_numpy(dtype=bool)
        reason[take] = why[take] if isinstance(why, pd.Series) else why

    blank = lambda s: s.isna() | (s.astype(str).str.strip() == "")  # noqa: E731
    if symbol is not None and "symbol" in mapping:
        flag(pd.Series(other_symbol(col("symbol"), symbol), index=raw.index), "symbol_mismatch")
    flag(blank(col("ts")), "missing_time")
    flag(ts.isna(), "unparsable_time")
    flag(ts.fillna(0) > now + FUTURE_TOLERANCE_MS, "time_in_future")
    for name, values in (("price", price), ("size", size)):
        flag(blank(col(name)), f"missing_{name}")
        flag(values.isna(), f"non_numeric_{name}")
    faults = value_faults(ts, price, size)  # before 2009, not finite, not positive, out of range
    flag(faults.notna(), faults)
    flag(side.isna() & ~blank(side_raw), "invalid_side")
    ids, inexact_id = _trade_ids(_missing_text(col("trade_id")))
    flag(inexact_id, "inexact_trade_id")

    clean = pd.DataFrame({"ts": ts, "price": price, "size": size, "side": side}, index=raw.index)
    clean["trade_id"] = ids
    clean = clean[reason.isna()].copy()
    clean["ts"] = clean["ts"].astype("int64")
    clean["side"] = clean["side"].astype(object).where(clean["side"].notna(), None)
    missing_id = clean["trade_id"].isna()
    if missing_id.any():
        clean.loc[missing_id, "trade_id"] = _row_hash_ids(clean[missing_id])
    # Same trade id twice: identical rows are plain duplicates; if its rows differ, no file order may pick one.
    torn = _torn_ids(clean)
    reason.loc[clean.index[torn]] = "conflicting_trade_id_in_file"
    clean = _fill_sides(clean[~torn])
    dup = clean.duplicated(subset=["trade_id"], keep="first")
    rejected = reason.notna()
    bad = rejected_rows(raw[rejected], reason[rejected], ts[rejected])
    return clean.loc[~dup, ["trade_id", "ts", "price", "size", "side"]], bad


def _torn_ids(clean: pd.DataFrame) -> pd.Series:
    """Mask of the rows whose trade id comes with a different time, price, size or a different side elsewhere in
    the file: all of them, so that a dump and the same dump reversed store the same trades (keeping the first
    would let row order decide). A row without a side is that trade told without it (as lake/trade_twins.py
    matches a missing side with either), not a conflict."""
    values = clean.drop_duplicates(subset=["trade_id", "ts", "price", "size"])
    moved = values["trade_id"][values["trade_id"].duplicated(keep=False)]
    sides = clean.dropna(subset=["side"]).drop_duplicates(subset=["trade_id", "side"])
    two_sided = sides["trade_id"][sides["trade_id"].duplicated(keep=False)]
    return clean["trade_id"].isin(moved) | clean["trade_id"].isin(two_sided)


def _fill_sides(clean: pd.DataFrame) -> pd.DataFrame:
    """Rows without a side take the side another row of their trade id gives (one trade, told once with its side
    and once without), so the two are plain duplicates and the side is kept whichever row comes first."""
    missing = clean["side"].isna()
    if not missing.any():
        return clean
    known = clean[~missing].drop_duplicates(subset=["trade_id"]).set_index("trade_id")["side"]
    filled = clean["trade_id"].map(known)
    out = clean.copy()
    out.loc[missing, "side"] = filled[missing]
    out["side"] = out["side"].astype(object).where(out["side"].notna(), None)
    return out


def file_key(path: Path) -> str:
    """Content hash of a file (first 16 hex of sha256): names its quarantine file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _read_and_validate(path: Path, now: int, symbol: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(raw rows, malformed lines, clean trades, rejected rows); whatever the content, a failure is one
    IngestError line, never a traceback."""
    try:
        raw, malformed = read_raw(path)
        mapping = map_columns([c for c in raw.columns if c != "__row"])
        clean, bad = validate(raw, mapping, now, symbol)
    except IngestError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, UnicodeError, OSError, csv.Error,
            pa.ArrowException) as exc:
        why = " ".join(str(exc).split())
        raise IngestError(f"cannot ingest {path}: {type(exc).__name__}: {clip(why, 300)}") from None
    return raw, malformed, clean, bad


def ingest_file(paths: Paths, path: Path | str, symbol: str, now: int | None = None,
                progress: bool = False, source_name: str | None = None, guard: Guard = None,
                before_store: Callable[[tuple[str, ...]], None] | None = None) -> IngestResult:
    """Read, validate and store one trades file; raises IngestError before writing anything if unusable.
    Every input row ends up added, a duplicate (of a row in the file or the lake) or quarantined, its
    quarantine rows naming the file source_name (default: its own name; the inbox files it under another).
    With `progress`, a large file reports its steps and a bar over the day partitions it writes; `guard` (see
    lake.store.Guard) may refuse the file under the symbol's lock, before anything is stored. `before_store` gets
    every day the file's rows fall on (new rows or not, touched_days of all its clean rows) before anything is
    stored: a caller killed midway knows every day that may have changed (the result names only the days that did)."""
    path = Path(path)
    symbol = normalize_symbol(symbol)
    loud = progress and path.stat().st_size >= PROGRESS_FILE_BYTES
    t0 = time.perf_counter()
    raw, malformed, clean, bad = _read_and_validate(path, now if now is not None else now_ms(), symbol)
    if loud:
        say(step_line(1, 2, f"read and validate {path.name}", time.perf_counter() - t0, len(raw) + len(malformed)))
    dup_in_file = len(raw) - len(clean) - len(bad)
    if before_store is not None:
        before_store(touched_days((), pd.concat([clean["ts"].astype("Int64"), bad["ts"]])))
    t1 = time.perf_counter()
    stats = write_trades(paths, symbol, clean.reset_index(drop=True), bar_label=f"{symbol} days" if loud else None,
                         guard=guard)
    if loud:
        say(step_line(2, 2, f"store {symbol} ({len(stats.partitions)} days)", time.perf_counter() - t1, stats.added))
    if stats.conflicts:  # the id is stored in the lake with other values: the stored row wins
        held = clean.index[clean["trade_id"].isin(stats.conflicts)]
        bad = pd.concat([bad, rejected_rows(raw.loc[held], "conflicting_trade_id", clean.loc[held, "ts"])])
    malformed = malformed.assign(ts=pd.Series([pd.NA] * len(malformed), dtype="Int64"))
    bad = pd.concat([bad, malformed], ignore_index=True) if len(malformed) else bad
    bad = bad.assign(source_file=source_name or path.name)
    bad = bad[["source_file", "source_row", "reason", "raw_record", "ts"]].sort_values("source_row", kind="mergesort")
    rows_read = len(raw) + len(malformed)
    qfile = write_quarantine(paths, symbol, file_key(path), bad.reset_index(drop=True))
    hashed_twins = int(content_hashed(pd.Series(stats.twins, dtype=object)).sum())
    return IngestResult(
        symbol=symbol,
        rows_read=rows_read,
        rows_clean=len(clean),
        rows_added=stats.added,
        duplicates=dup_in_file + stats.duplicates,
        quarantined=len(bad),
        reasons={str(k): int(v) for k, v in bad["reason"].value_counts().sort_index().items()},
        partitions=touched_days(stats.partitions, bad["ts"]),
        quarantine_file=str(qfile) if qfile else None,
        stored_with_id=hashed_twins,
        stored_without_id=len(stats.twins) - hashed_twins,
    )
