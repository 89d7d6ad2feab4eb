"""Any OHLCV file (CSV, Parquet, Feather or freqtrade JSON with a time column and Open/High/Low/Close/Volume)
as bars, and what a freqtrade data file's name says (pair, timeframe, kind)."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from python_assets.ingest.read import json_lines
from python_assets.ingest.symbols import mismatch_message, other_symbol, symbol_column
from python_assets.ingest.trades import parse_timestamps_ms
from python_assets.lake.store import normalize_symbol
from python_assets.platform.timeframes import MINUTE_MS, SECOND_MS, TIMEFRAME_LABELS, bar_spacing_ms

TIME_COLUMNS = ("date", "datetime", "time", "timestamp", "open_time", "ts")
PRICE_COLUMNS = ("open", "high", "low", "close")


class OhlcvFileError(ValueError):
    """A file that cannot be read as bars; the message names the file, column or row."""


def timeframe_label(bar_ms: int) -> str:
    """The label of a bar length in ms ('5m' for five minutes); other spacings as '<n>m' / '<n>s'."""
    if bar_ms in TIMEFRAME_LABELS:
        return TIMEFRAME_LABELS[bar_ms]
    return f"{bar_ms // MINUTE_MS}m" if bar_ms % MINUTE_MS == 0 else f"{bar_ms // SECOND_MS}s"


FREQTRADE_CANDLE_COLUMNS = ("date", "open", "high", "low", "close", "volume")


def _suffix(path: Path) -> str:
    """'.json' for x.json.gz too: the format under an optional gzip layer."""
    suffixes = [x.lower() for x in path.suffixes]
    return suffixes[-2] if len(suffixes) >= 2 and suffixes[-1] == ".gz" else path.suffix.lower()


def read_table(path: Path, json_columns: tuple[str, ...] = FREQTRADE_CANDLE_COLUMNS) -> pd.DataFrame:
    """A CSV / Parquet / Feather / JSON (freqtrade's list-of-rows or a list of objects) / JSON Lines file as a frame."""
    suffix = _suffix(path)
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path)
        if suffix == ".feather":
            return pd.read_feather(path)
        if suffix in (".jsonl", ".ndjson"):  # values as written: no dtype or date guessing
            return pd.read_json(path, lines=True, dtype=False)
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
    raise OhlcvFileError(f"{path}: unsupported file type {suffix!r} (CSV, Parquet, Feather, JSON or JSON Lines)")


KIND_SAMPLE_LINES = 100  # the JSON Lines objects whose keys tell a file's kind


def _jsonl_keys(path: Path) -> list[str]:
    """The keys of the JSON objects on a JSON Lines file's first non-blank lines (a byte-order mark, a
    gzip layer and lines that are not objects, such as a cut last line, are passed over)."""
    keys: dict[str, None] = {}
    for seen, (_, obj, _) in enumerate(json_lines(path), start=1):
        keys.update(dict.fromkeys(map(str, obj)) if obj is not None else {})
        if seen == KIND_SAMPLE_LINES:
            break
    if not keys:
        raise ValueError(f"no JSON object on its first {KIND_SAMPLE_LINES} lines")
    return list(keys)


def table_columns(path: Path) -> list[str]:
    """A file's column names as read_table reads them; a JSON Lines file's from its first lines only."""
    suffix = _suffix(path)
    if suffix not in (".jsonl", ".ndjson"):
        return [str(c) for c in read_table(path).columns]
    try:
        return _jsonl_keys(path)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise OhlcvFileError(f"{path}: cannot read as {suffix[1:]}: {exc}") from exc


# freqtrade's data file names: PAIR-TF[-futures|-mark|-funding_rate].ext and PAIR-trades.ext, where a
# futures pair BASE/QUOTE:SETTLE is written BASE_QUOTE_SETTLE.
_FREQTRADE_NAME = re.compile(
    r"^(?P<pair>[A-Za-z0-9]+(?:_[A-Za-z0-9]+){1,2})-(?:(?P<tf>\d+[smhdwM])(?:-(?P<candle_type>futures|spot|mark|index|premiumIndex|funding_rate))?|(?P<trades>trades))$"
)
_SUFFIXES = (".feather", ".parquet", ".pq", ".json", ".csv", ".txt", ".gz", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class FileGuess:
    """What a file name says: symbol, timeframe and kind (None where it says nothing)."""

    symbol: str | None
    timeframe: str | None
    kind: str | None


def _stem(path: Path) -> str:
    name = path.name
    while Path(name).suffix.lower() in _SUFFIXES:
        name = name[: -len(Path(name).suffix)]
    return name


def pair_symbol(pair: str) -> str:
    """freqtrade's 'XRP_USDT_USDT' (XRP/USDT:USDT) or 'ETH_BTC' -> our 'XRP-USDT' / 'ETH-BTC'."""
    parts = pair.split("_")
    return normalize_symbol("-".join(parts[:2]) if len(parts) == 3 else "-".join(parts))


def market_from_name(path: Path) -> str | None:
    """'perp' or 'spot' as a freqtrade file name says (a BASE_QUOTE_SETTLE pair, or a futures, mark, index or
    funding file, is a perpetual swap; a BASE_QUOTE pair's candles or trades are spot); None for other names."""
    m = _FREQTRADE_NAME.match(_stem(path))
    if not m:
        return None
    perp = m["pair"].count("_") == 2 or (m["candle_type"] or "spot") != "spot"
    return "perp" if perp else "spot"


def guess_from_name(path: Path) -> FileGuess:
    """Read symbol, timeframe and kind from a freqtrade file name; all None for other names."""
    m = _FREQTRADE_NAME.match(_stem(path))
    if not m:
        return FileGuess(None, None, None)
    if m["trades"]:
        return FileGuess(pair_symbol(m["pair"]), None, "trades")
    candle_type = m["candle_type"] or "spot"
    kind = {"funding_rate": "funding", "futures": "candles", "spot": "candles"}.get(candle_type, candle_type)
    return FileGuess(pair_symbol(m["pair"]), m["tf"], kind)


def _is_unnamed_date_index(raw: pd.DataFrame) -> bool:
    """Whether the first column is a written-out date index: no name (pandas reads backtesting.py's
    `,Open,High,...` header as 'Unnamed: 0'), text rather than numbers, and its first value a date."""
    if raw.empty:
        return False
    name, first = str(raw.columns[0]).strip(), raw.iloc[:, 0]
    if (name and not name.startswith("Unnamed: ")) or pd.api.types.is_numeric_dtype(first):
        return False
    return bool(parse_timestamps_ms(first.iloc[:1]).notna().all())


def columns_by_name(columns, path: Path, error: type[ValueError] = OhlcvFileError) -> dict[str, Any]:
    """Each column under its stripped, lower-cased name; two columns under one name (`Close` and `close`)
    are refused with error, where a dict would silently keep the last."""
    out: dict[str, Any] = {}
    for c in columns:
        key = str(c).strip().lower()
        if key in out:
            raise error(f"{path}: ambiguous columns {out[key]!r} and {c!r}: they differ only in case or spacing; rename one")
        out[key] = c
    return out


def check_symbol_column(path: Path, raw: pd.DataFrame, symbol: str | None,
                        error: type[ValueError] = OhlcvFileError) -> None:
    """Refuse (raise error) a file whose own symbol column names another market than the symbol its rows go under."""
    column = symbol_column(list(raw.columns)) if symbol else None
    if column is not None and (wrong := other_symbol(raw[column], symbol)).any():
        raise error(mismatch_message(path, raw[column], symbol, wrong))


def read_ohlcv(path: Path, symbol: str | None = None, bar_ms: int | None = None) -> tuple[pd.DataFrame, int]:
    """(bars frame with symbol, timeframe, bar_at_ms, open, high, low, close, volume; bar length in ms).
    The symbol defaults to the pair a freqtrade file name gives (as `import` reads it), else the name; a
    file's own symbol column naming another market than the given or named one is refused. bar_ms: the bar
    length when known (import's --timeframe), so a file of one bar can be read."""
    path = Path(path)
    if not path.exists():
        raise OhlcvFileError(f"{path}: no such file")
    raw = read_table(path)
    lower = columns_by_name(raw.columns, path)
    check_symbol_column(path, raw, symbol or guess_from_name(path).symbol)
    time_col = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
    if time_col is None and isinstance(raw.index, pd.DatetimeIndex):
        raw = raw.reset_index()
        time_col = raw.columns[0]
    if time_col is None and _is_unnamed_date_index(raw):
        time_col = raw.columns[0]
    missing = [c for c in (*PRICE_COLUMNS, "volume") if c not in lower]
    if time_col is None or missing:
        need = ("a time column (" + "/".join(TIME_COLUMNS) + ")") if time_col is None else ""
        raise OhlcvFileError(f"{path}: missing {', '.join(filter(None, [need, *missing]))}; columns are {list(raw.columns)}")
    ms = parse_timestamps_ms(raw[time_col])
    bars = pd.DataFrame({"bar_at_ms": ms})
    for c in (*PRICE_COLUMNS, "volume"):
        bars[c] = pd.to_numeric(raw[lower[c]], errors="coerce").astype("float64")
    prices = bars[list(PRICE_COLUMNS)].to_numpy()
    bad = bars["bar_at_ms"].isna().to_numpy() | ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise OhlcvFileError(f"{path}: row {row + 1} has an unparsable time or a missing, infinite or non-positive price: "
                             f"{raw.iloc[row].to_dict()}")
    no_volume = ~np.isfinite(bars["volume"].to_numpy()) | (bars["volume"] < 0).to_numpy()
    if no_volume.any():
        row = int(np.flatnonzero(no_volume)[0])
        raise OhlcvFileError(f"{path}: row {row + 1} has a missing or negative volume: {raw.iloc[row].to_dict()}")
    incoherent = (bars["high"] < bars[["open", "close"]].max(axis=1)) | (bars["low"] > bars[["open", "close"]].min(axis=1))
    if incoherent.any():
        row = int(np.flatnonzero(incoherent.to_numpy())[0])
        raise OhlcvFileError(f"{path}: row {row + 1} has high below open/close or low above them")
    bars["bar_at_ms"] = bars["bar_at_ms"].astype("int64")
    bars = bars.sort_values("bar_at_ms", kind="stable")
    if bars["bar_at_ms"].duplicated().any():
        dup = int(bars.loc[bars["bar_at_ms"].duplicated(), "bar_at_ms"].iloc[0])
        raise OhlcvFileError(f"{path}: two bars share the time {pd.Timestamp(dup, unit='ms', tz='UTC')}")
    if len(bars) < 2 and not bar_ms:  # a bar length is read from the gaps between bars, or given
        raise OhlcvFileError(f"{path}: needs at least 2 bars (or its timeframe given)")
    bar_ms = bar_spacing_ms(bars["bar_at_ms"].to_numpy()) if len(bars) > 1 else int(bar_ms)
    bars.insert(0, "timeframe", timeframe_label(bar_ms))
    bars.insert(0, "symbol", symbol or guess_from_name(path).symbol or path.name.split(".")[0].upper())
    return bars.reset_index(drop=True), bar_ms


def _at(ms: int) -> str:
    """Epoch ms as 'YYYY-MM-DD HH:MM:SS UTC', for notes."""
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def closed_bars(bars: pd.DataFrame, bar_ms: int, now_ms: int, path: Path) -> tuple[pd.DataFrame, str | None]:
    """(the bars closed by now_ms, a line naming those left out or None): a bar whose close (open + bar_ms) is
    after now_ms was still forming when the file was written (freqtrade's drop_incomplete rule), and its partial
    prices would be traded as a whole bar. OhlcvFileError when fewer than 2 closed bars remain."""
    forming = (bars["bar_at_ms"] + bar_ms > now_ms).to_numpy()
    if not forming.any():
        return bars, None
    kept, dropped = bars.loc[~forming].reset_index(drop=True), bars.loc[forming, "bar_at_ms"]
    tf, n = bars["timeframe"].iloc[0], int(forming.sum())
    if len(kept) < 2:
        raise OhlcvFileError(f"{path}: needs at least 2 closed bars; {n} of its {len(bars)} {tf} bars close after "
                             f"now ({_at(now_ms)})")
    which = (f"the {tf} bar at {_at(int(dropped.iloc[0]))}" if n == 1 else
             f"{n} {tf} bars from {_at(int(dropped.iloc[0]))} to {_at(int(dropped.iloc[-1]))}")
    return kept, (f"left out {which} of {Path(path).name}: not closed at {_at(now_ms)} (still forming when the "
                  "file was written)")
