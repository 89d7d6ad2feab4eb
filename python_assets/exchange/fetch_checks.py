"""Checks of fetched history records (pure, no I/O): the value rules `import` applies to candle and funding
files (backtest/files.read_ohlcv, ingest/importers.import_funding: MAX_PRICE, OHLC coherence,
MAX_ABS_FUNDING_RATE), per record, so a fetch skips and counts a bad record instead of storing it; and the
time of a record, which a fetch needs to place it at all."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from python_assets.ingest.importers import MAX_ABS_FUNDING_RATE
from python_assets.lake.trade_rules import MAX_PRICE
from python_assets.platform.timeframes import HOUR_MS

PRICES = ["open", "high", "low", "close"]


def record_time(value: object) -> int | None:
    """A record's epoch-ms time as an int, or None when it is missing or not a whole number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number == int(number) else None


def _first_fault(index: pd.Index, rules: list[tuple[str, np.ndarray]]) -> pd.Series:
    """The first rule each row breaks (None where it breaks none)."""
    reason = pd.Series([None] * len(index), index=index, dtype=object)
    for why, mask in rules:
        reason[np.asarray(mask, dtype=bool) & reason.isna().to_numpy()] = why
    return reason


def candle_faults(frame: pd.DataFrame) -> pd.Series:
    """First broken rule per candle (None where fine): a missing or non-finite price, a price <= 0 or above
    MAX_PRICE, a non-finite or negative volume, high below open/close or low above them."""
    p = frame[PRICES].apply(pd.to_numeric, errors="coerce").astype("float64")
    vol = pd.to_numeric(frame["volume"], errors="coerce").astype("float64").to_numpy()
    with np.errstate(invalid="ignore"):
        return _first_fault(frame.index, [
            ("missing_price", ~np.isfinite(p.to_numpy()).all(axis=1)),
            ("non_positive_price", (p <= 0).any(axis=1).to_numpy()),
            ("price_out_of_range", (p > MAX_PRICE).any(axis=1).to_numpy()),
            ("bad_volume", ~np.isfinite(vol) | (vol < 0)),
            ("high_low_incoherent", ((p["high"] < p[["open", "close"]].max(axis=1))
                                     | (p["low"] > p[["open", "close"]].min(axis=1))).to_numpy()),
        ])


def funding_faults(ts: pd.Series, rate: pd.Series) -> pd.Series:
    """First broken rule per settlement (None where fine): a missing or non-finite rate, one beyond
    ±MAX_ABS_FUNDING_RATE (a unit mix-up, as `import` refuses it), a time off the hour grid."""
    r = pd.to_numeric(rate, errors="coerce").astype("float64").to_numpy()
    with np.errstate(invalid="ignore"):
        return _first_fault(ts.index, [("missing_rate", ~np.isfinite(r)), ("rate_out_of_range", np.abs(r) > MAX_ABS_FUNDING_RATE),
                                       ("off_hour_grid", (ts.astype("int64") % HOUR_MS != 0).to_numpy())])


def when(ms: int) -> str:
    """Epoch ms as 'YYYY-MM-DD HH:MM UTC', for lines naming a record."""
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def split_bad(frame: pd.DataFrame, faults: pd.Series, time_col: str) -> tuple[pd.DataFrame, dict[int, str]]:
    """(the rows that break no rule, {time: reason} of those that do)."""
    bad = faults.notna()
    return frame[~bad], {int(t): str(why) for t, why in zip(frame.loc[bad, time_col], faults[bad])}


def conflicting(frame: pd.DataFrame, time_col: str, values: list[str]) -> dict[int, str]:
    """{time: 'conflicting_values'} of times that come more than once with different values (the first is kept)."""
    dup = frame[frame.duplicated(time_col, keep=False)]
    differ = dup.astype(str).drop_duplicates([time_col, *values]).duplicated(time_col, keep=False)
    return {int(t): "conflicting_values (the first kept)" for t in dup.loc[differ, time_col]}
