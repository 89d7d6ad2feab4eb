"""What every trade in the lake satisfies, whoever writes it (ingest, importers, the recorder, synthetic).

The bars cast each trade's size and notional (price * size) to DECIMAL(38, 12) and sum them per minute,
then per 5m .. 1d bar (`exact_sum` in dbt_project/macros/aggregates.sql, bars_1m.sql, rollup_bars.sql):
a value or a day's sum of 1e26 or more fails the cast or the sum (DuckDB adds them as HUGEINT, 1.7e38
scaled by 1e12) and with it the day's run. The bounds below make that impossible for accepted rows:
- per row: price <= 1e12 and size <= 1e15 (beyond any listed asset's price or any trade's quantity,
  memecoins included) and notional <= 1e15 quote units, so each cast value is < 1e26 by a factor 1e11;
- per row: size and notional held by the DECIMAL to 1e-10 relative (RELATIVE_ERROR): below 1e-12 one is
  stored as 0 (a bar of such trades had a volume or quote volume of 0, a VWAP of 0 and an infinite
  vwap_dev), and digits past the 12th decimal are rounded away (a size of 1.4e-12 stored as 1e-12, a
  notional of 1.23456789e-8 as 1.2346e-8: a one-trade bar's VWAP then left its price by 3e-5 to 50 % and
  failed the bars' VWAP test, 1e-9, which stops the day's build). Exchange lot and tick sizes make real
  trades exact at 12 decimals; what this refuses is dust (a notional under ~1e-3 with many digits);
- per (symbol, day): the stored sizes and notionals must each sum to <= 1e25 (checked on every write of
  a day file, `check_day_totals`): a tenth of the cast's range, so neither the DECIMAL rounding (0.5e-12
  a row) nor the float sum used for the check can carry a day over 1e26. With rows at <= 1e15 this
  takes 1e10 trades in one day, so no real day ever hits it; it is the guarantee, not a filter.
Coarser sums than a day (features, marts) are DOUBLE and cannot overflow.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_TS_MS = 1_230_768_000_000  # 2009-01-01: anything earlier is a unit mix-up, not a crypto trade
MAX_PRICE = 1e12
MAX_SIZE = 1e15
MAX_NOTIONAL = 1e15
RELATIVE_ERROR = 1e-10  # how far the bars' DECIMAL(38, 12) may round a row's size or notional (their VWAP test: 1e-9)
MAX_DAY_TOTAL = 1e25
SIDES = ("buy", "sell")
# how a trade's side is written, as the lake stores it (ingest's files and the recorder's messages alike, stripped and
# lowercased first); any other text is an invalid_side
SIDE_NAMES = {"buy": "buy", "b": "buy", "bid": "buy", "sell": "sell", "s": "sell", "ask": "sell", "a": "sell"}
# pandas' text for a missing value: freqtrade's trades files hold "nan" / "None" for an id or side the exchange
# did not give (its trades_convert_types casts them with astype(str) before storing, pandas < 3)
MISSING_TEXTS = frozenset({"nan", "none", "null"})
FLOAT_MAX = float(np.finfo(np.float64).max)  # abs(v) <= FLOAT_MAX: v is finite (NaN and inf fail)


class TradeRangeError(ValueError):
    """Trades a writer offered break the lake's rules (a bug in that writer, or a day past its totals)."""


def record_fault(record: dict, id_key: str, fields: tuple[tuple[str, type], ...]) -> str | None:
    """Why an exchange's trade record cannot become a row (its quarantine reason): no id under id_key, or a
    field its parser refuses (missing, None, unreadable, out of range); None when every field reads."""
    if record.get(id_key) in (None, ""):
        return "missing_trade_id"
    for key, parse in fields:
        try:
            parse(record[key])
        except (KeyError, TypeError, ValueError, OverflowError):
            return f"unreadable_{key}"
    return None


def _on_grid(values):  # noqa: ANN001, ANN202 - an array or a scalar, answered in kind
    """Whether the bars' DECIMAL(38, 12) holds each value within RELATIVE_ERROR (numpy's round: rint(v * 1e12) / 1e12,
    the same for an array and a scalar); NaN and infinity are not (the rules before this one name them)."""
    return np.abs(np.round(values, 12) - values) <= RELATIVE_ERROR * np.abs(values)


# The value rules in precedence order, each as what a good row satisfies, written once for value_faults (numpy
# arrays) and value_fault (one trade's numbers): a NaN fails every comparison, so it breaks the first rule it meets.
_RULES = (
    ("time_before_2009", lambda ts, price, size: ts >= MIN_TS_MS),
    ("non_finite_price", lambda ts, price, size: abs(price) <= FLOAT_MAX),
    ("non_positive_price", lambda ts, price, size: price > 0),
    ("price_out_of_range", lambda ts, price, size: price <= MAX_PRICE),
    ("non_finite_size", lambda ts, price, size: abs(size) <= FLOAT_MAX),
    ("non_positive_size", lambda ts, price, size: size > 0),
    ("size_out_of_range", lambda ts, price, size: size <= MAX_SIZE),
    ("size_below_resolution", lambda ts, price, size: _on_grid(size)),
    ("notional_out_of_range", lambda ts, price, size: price * size <= MAX_NOTIONAL),
    ("notional_below_resolution", lambda ts, price, size: _on_grid(price * size)),
)


def value_faults(ts: pd.Series, price: pd.Series, size: pd.Series, side: pd.Series | None = None) -> pd.Series:
    """First broken rule per row (None where the row is fine): time, then price, size, notional, side."""
    t, p, s = _floats(ts), _floats(price), _floats(size)
    reason = np.full(len(t), None, dtype=object)
    open_rows = np.ones(len(t), dtype=bool)
    for why, ok in _RULES:
        with np.errstate(invalid="ignore", over="ignore"):
            hit = open_rows & ~np.asarray(ok(t, p, s), dtype=bool)
        reason[hit], open_rows = why, open_rows & ~hit
    if side is not None:
        reason[open_rows & ~(side.isna() | side.isin(SIDES)).to_numpy(dtype=bool)] = "invalid_side"
    return pd.Series(reason, index=ts.index, dtype=object)


def value_fault(ts: object, price: object, size: object, side: object = None) -> str | None:
    """value_faults for one trade, without a DataFrame (the recorder checks every trade as it arrives): the same
    rules in the same order, the same reasons; numbers are read as pandas reads them (text included)."""
    t, p, s = _number(ts), _number(price), _number(size)
    why = next((why for why, ok in _RULES if not ok(t, p, s)), None)
    if why is None and not (_missing(side) or side in SIDES):  # missing first: `pd.NA in SIDES` raises
        return "invalid_side"
    return why


def side_of(value: object) -> str | None:
    """One trade's side as the lake stores it (ingest's vectorised path uses SIDE_NAMES and MISSING_TEXTS alike):
    'buy' or 'sell'; None when missing, blank or pandas' text for missing; any other text stripped and lowercased
    (value_fault then calls it an invalid_side)."""
    if _missing(value):
        return None
    text = str(value).strip().lower()
    return None if text == "" or text in MISSING_TEXTS else SIDE_NAMES.get(text, text)


def _missing(value: object) -> bool:
    """None, NaN, pd.NA or NaT: a value pandas calls missing (a list or array is not one)."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _floats(values: pd.Series) -> np.ndarray:
    """A column as value_faults reads it: pd.to_numeric, unreadable values NaN; an int past the float range (pandas
    raises OverflowError on one, errors="coerce" or not) is +-inf, as value_fault's comparisons see it."""
    try:
        got = pd.to_numeric(values, errors="coerce")
    except OverflowError:
        got = pd.Series([_float(_number(v)) for v in values], index=values.index, dtype="float64")
    return got.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _float(value: float) -> float:
    """value as a float; an int too large for one is +-inf (its sign kept)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _number(value: object) -> float:
    """A value as value_faults reads it (pd.to_numeric, errors coerced to NaN); ints and floats as they are."""
    if type(value) in (int, float):
        return value  # type: ignore[return-value]
    got = pd.to_numeric(value, errors="coerce") if pd.api.types.is_scalar(value) else np.nan
    return float(got) if got is not None and not pd.isna(got) else np.nan


def check_trades(trades: pd.DataFrame) -> None:
    """Raise TradeRangeError when any row breaks value_faults (writers validate or quarantine first)."""
    faults = value_faults(trades["ts"], trades["price"], trades["size"], trades.get("side"))
    bad = faults.notna()
    if bad.any():
        first = trades.loc[bad].iloc[0].to_dict()
        raise TradeRangeError(f"{int(bad.sum())} trade(s) break the lake's rules ({faults[bad].iloc[0]}: {first}); "
                              "validate them first (python_assets/lake/trade_rules.py)")


def check_day_totals(where: str, columns: dict[str, pd.Series]) -> None:
    """Raise TradeRangeError when a day's sum of any column would pass MAX_DAY_TOTAL (see the module doc)."""
    for name, values in columns.items():
        total = float(np.abs(values.to_numpy(dtype="float64", na_value=0.0)).sum())
        if total > MAX_DAY_TOTAL:
            raise TradeRangeError(f"{where} would hold a total {name} of {total:.3g}, over the {MAX_DAY_TOTAL:.0e} "
                                  "the bars' DECIMAL(38,12) sums allow; nothing was written for that day")
