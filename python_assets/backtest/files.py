"""Any OHLCV file (CSV or Parquet with a time column and Open/High/Low/Close/Volume) as bars."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

from python_assets.ingest import parse_timestamps_ms

TIME_COLUMNS = ("date", "datetime", "time", "timestamp", "open_time", "ts")
PRICE_COLUMNS = ("open", "high", "low", "close")
TIMEFRAME_LABELS = {60_000: "1m", 300_000: "5m", 900_000: "15m", 3_600_000: "1h", 14_400_000: "4h", 86_400_000: "1d"}


class OhlcvFileError(ValueError):
    """A file that cannot be read as bars; the message names the file, column or row."""


def timeframe_label(bar_ms: int) -> str:
    """'5m' for 300000 ms; other spacings as '<n>m' / '<n>s'."""
    if bar_ms in TIMEFRAME_LABELS:
        return TIMEFRAME_LABELS[bar_ms]
    return f"{bar_ms // 60_000}m" if bar_ms % 60_000 == 0 else f"{bar_ms // 1000}s"


FREQTRADE_CANDLE_COLUMNS = ("date", "open", "high", "low", "close", "volume")


def _suffix(path: Path) -> str:
    """'.json' for x.json.gz too: the format under an optional gzip layer."""
    suffixes = [x.lower() for x in path.suffixes]
    return suffixes[-2] if len(suffixes) >= 2 and suffixes[-1] == ".gz" else path.suffix.lower()


def read_table(path: Path, json_columns: tuple[str, ...] = FREQTRADE_CANDLE_COLUMNS) -> pd.DataFrame:
    """A CSV / Parquet / Feather / JSON (freqtrade's list-of-rows or a list of objects) file as a frame."""
    suffix = _suffix(path)
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path)
        if suffix == ".feather":
            return pd.read_feather(path)
        if suffix == ".json":
            opener = gzip.open if path.suffix.lower() == ".gz" else open
            with opener(path, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, list) and data and isinstance(data[0], list):
                width = len(data[0])
                return pd.DataFrame(data, columns=list(json_columns[:width]) + [f"col{i}" for i in range(len(json_columns), width)])
            return pd.DataFrame(data)
    except (OSError, ValueError) as exc:
        raise OhlcvFileError(f"{path}: cannot read as {suffix[1:]}: {exc}") from exc
    raise OhlcvFileError(f"{path}: unsupported file type {suffix!r} (CSV, Parquet, Feather or JSON)")


def read_ohlcv(path: Path, symbol: str | None = None) -> tuple[pd.DataFrame, int]:
    """(bars frame with symbol, timeframe, bar_at_ms, open, high, low, close, volume; bar length in ms)."""
    path = Path(path)
    if not path.exists():
        raise OhlcvFileError(f"{path}: no such file")
    raw = read_table(path)
    lower = {str(c).strip().lower(): c for c in raw.columns}
    time_col = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
    if time_col is None and isinstance(raw.index, pd.DatetimeIndex):
        raw = raw.reset_index()
        time_col = raw.columns[0]
    missing = [c for c in (*PRICE_COLUMNS, "volume") if c not in lower]
    if time_col is None or missing:
        need = ("a time column (" + "/".join(TIME_COLUMNS) + ")") if time_col is None else ""
        raise OhlcvFileError(f"{path}: missing {', '.join(filter(None, [need, *missing]))}; columns are {list(raw.columns)}")
    ms = parse_timestamps_ms(raw[time_col])
    bars = pd.DataFrame({"bar_at_ms": ms})
    for c in (*PRICE_COLUMNS, "volume"):
        bars[c] = pd.to_numeric(raw[lower[c]], errors="coerce").astype("float64")
    bad = bars["bar_at_ms"].isna() | bars[list(PRICE_COLUMNS)].isna().any(axis=1) | (bars[list(PRICE_COLUMNS)] <= 0).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise OhlcvFileError(f"{path}: row {row + 1} has an unparsable time or a missing/non-positive price: "
                             f"{raw.iloc[row].to_dict()}")
    incoherent = (bars["high"] < bars[["open", "close"]].max(axis=1)) | (bars["low"] > bars[["open", "close"]].min(axis=1))
    if incoherent.any():
        row = int(np.flatnonzero(incoherent.to_numpy())[0])
        raise OhlcvFileError(f"{path}: row {row + 1} has high below open/close or low above them")
    bars["bar_at_ms"] = bars["bar_at_ms"].astype("int64")
    bars = bars.sort_values("bar_at_ms", kind="stable")
    if bars["bar_at_ms"].duplicated().any():
        dup = int(bars.loc[bars["bar_at_ms"].duplicated(), "bar_at_ms"].iloc[0])
        raise OhlcvFileError(f"{path}: two bars share the time {pd.Timestamp(dup, unit='ms', tz='UTC')}")
    if len(bars) < 2:
        raise OhlcvFileError(f"{path}: needs at least 2 bars")
    bar_ms = int(np.median(np.diff(bars["bar_at_ms"].to_numpy())))
    bars.insert(0, "timeframe", timeframe_label(bar_ms))
    bars.insert(0, "symbol", symbol or path.name.split(".")[0].upper())
    return bars.reset_index(drop=True), bar_ms
