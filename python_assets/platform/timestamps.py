"""Trade times -> epoch ms (UTC), exactly: integer arithmetic for every unit and form, never a float.

A number is epoch seconds below 1e11, ms below 1e14, us below 1e17 and ns above (by magnitude, per
value), then floored to the millisecond. Integers (numbers or digit strings) are scaled as int64;
decimal strings and fractional floats as exact decimals (a float by its shortest repr, the number its
writer meant); datetimes and ISO-8601 strings (naive ones are UTC; a trailing " UTC", BigQuery's export,
is read as Z) by their integer ticks. Anything else, or a value beyond int64 milliseconds, is <NA>.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation, localcontext

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SECONDS_BELOW, MS_BELOW, US_BELOW = 10**11, 10**14, 10**17
_LIMIT = 10**20  # beyond int64 nanoseconds: no unit makes it a time
_INT_TEXT = r"^-?[0-9]{1,19}$"
_DECIMAL_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_ISO_TEXT = r"^[0-9]{4}"  # ISO-8601 opens with its year: pandas also reads 'now' and 'today', times of the reading
# BigQuery's "2025-03-10 00:00:00 UTC": a trailing UTC, GMT (HTTP dates, many exports) or Z, spaced, as ISO's Z
_UTC_SUFFIX = r"(?i)\s*(?:UTC|GMT|Z)$"
_TICKS_PER_MS = {"s": None, "ms": 1, "us": 1_000, "ns": 1_000_000}


def ints_to_ms(values: np.ndarray) -> np.ndarray:
    """int64 epoch s/ms/us/ns (by magnitude) -> int64 epoch ms, floored."""
    v = np.asarray(values, dtype=np.int64)
    mag = np.abs(v)
    with np.errstate(over="ignore"):
        units = [mag < SECONDS_BELOW, mag < MS_BELOW, mag < US_BELOW]
        return np.select(units, [v * 1000, v, v // 1000], v // 1_000_000)


def exact_to_ms(number: Decimal | int) -> int | None:
    """One exact number (epoch s/ms/us/ns by magnitude) -> epoch ms floored; None if not a finite time."""
    try:
        if isinstance(number, Decimal) and not number.is_finite():
            return None
        mag = abs(number)
        if mag >= _LIMIT:
            return None
        with localcontext() as ctx:
            ctx.prec = 80
            shift = 3 if mag < SECONDS_BELOW else 0 if mag < MS_BELOW else -3 if mag < US_BELOW else -6
            ms = math.floor(Decimal(number).scaleb(shift))
    except (InvalidOperation, ArithmeticError, ValueError):
        return None
    return ms if -(2**63) <= ms < 2**63 else None


def _ticks_to_ms(ticks: np.ndarray, unit: str) -> np.ndarray:
    """int64 datetime ticks of a unit (s/ms/us/ns) -> epoch ms, floored."""
    per_ms = _TICKS_PER_MS[unit]
    return ticks * 1000 if per_ms is None else ticks // per_ms


def _datetimes_to_ms(values: pd.Series) -> pd.Series:
    """Datetimes (naive ones are UTC) -> epoch ms, floored."""
    utc = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    ms = _ticks_to_ms(utc.array.asi8, utc.dt.unit)
    return pd.Series(ms, index=values.index, dtype="Int64").mask(values.isna())


def _result(ms: np.ndarray, ok: np.ndarray, index: pd.Index) -> pd.Series:
    """An Int64 Series of ms with <NA> where not ok."""
    return pd.Series(pd.arrays.IntegerArray(ms.astype(np.int64), ~ok), index=index)


def _fill_exact(ms: np.ndarray, ok: np.ndarray, where: np.ndarray, numbers: list) -> None:
    """Set ms/ok at positions `where` from exact numbers (Decimal or int), each unique value once."""
    exact = {n: exact_to_ms(n) for n in set(numbers)}
    got = [exact[n] for n in numbers]
    ok[where] = [g is not None for g in got]
    ms[where] = [g if g is not None else 0 for g in got]


def _floats_to_ms(values: pd.Series) -> pd.Series:
    """Floats -> epoch ms: whole ones as int64, fractional ones as the decimal their repr shows."""
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    ms, ok = np.zeros(len(arr), dtype=np.int64), np.zeros(len(arr), dtype=bool)
    finite = np.isfinite(arr)
    safe = np.where(finite, arr, 0.0)
    whole = finite & (np.floor(safe) == safe) & (np.abs(safe) < 2.0**63)
    ms[whole], ok[whole] = ints_to_ms(safe[whole].astype(np.int64)), True
    fractional = np.flatnonzero(finite & ~whole)
    if len(fractional):
        _fill_exact(ms, ok, fractional, [Decimal(repr(float(v))) for v in arr[fractional]])
    return _result(ms, ok, values.index)


def _texts_to_ms(values: pd.Series) -> pd.Series:
    """Strings (or any objects, by str) -> epoch ms: digits as int64, decimals exactly, the rest as ISO-8601."""
    n = len(values)
    ms, ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    present = np.flatnonzero(values.notna().to_numpy())
    if not len(present):
        return _result(ms, ok, values.index)
    text = pc.utf8_trim_whitespace(pa.array(values.iloc[present].astype(str).tolist(), type=pa.string()))
    is_int = pc.match_substring_regex(text, _INT_TEXT).to_numpy(zero_copy_only=False)
    is_dec = pc.match_substring_regex(text, _DECIMAL_TEXT).to_numpy(zero_copy_only=False) & ~is_int
    # anything else is a date only when it opens with a year ('now', 'today': unparsable, not the clock)
    rest = ~(is_int | is_dec) & pc.match_substring_regex(text, _ISO_TEXT).to_numpy(zero_copy_only=False)
    if is_int.any():
        ints = pc.filter(text, pa.array(is_int))
        try:
            ms[present[is_int]], ok[present[is_int]] = ints_to_ms(pc.cast(ints, pa.int64()).to_numpy()), True
        except pa.ArrowInvalid:  # past int64: one by one (then out of range)
            _fill_exact(ms, ok, present[is_int], [int(t) for t in ints.to_pylist()])
    if is_dec.any():
        _fill_exact(ms, ok, present[is_dec], [Decimal(t) for t in pc.filter(text, pa.array(is_dec)).to_pylist()])
    if rest.any():
        zoned = pc.replace_substring_regex(pc.filter(text, pa.array(rest)), _UTC_SUFFIX, "Z")
        iso = pd.to_datetime(pd.Series(zoned.to_pylist(), dtype=object),
                             utc=True, errors="coerce", format="ISO8601")
        parsed = _datetimes_to_ms(iso)
        ms[present[rest]] = parsed.fillna(0).to_numpy(dtype=np.int64)
        ok[present[rest]] = parsed.notna().to_numpy()
    return _result(ms, ok, values.index)


def parse_timestamps_ms(values: pd.Series) -> pd.Series:
    """Epoch s/ms/us/ns numbers (by magnitude) or ISO strings -> epoch ms (Int64, <NA> when unparsable)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return _datetimes_to_ms(values)
    if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_unsigned_integer_dtype(values):
        ints = values.astype("Int64")
        ms = ints_to_ms(ints.fillna(0).to_numpy(dtype=np.int64))
        return pd.Series(ms, index=values.index, dtype="Int64").mask(ints.isna())
    if pd.api.types.is_float_dtype(values):
        return _floats_to_ms(values)
    return _texts_to_ms(values)
