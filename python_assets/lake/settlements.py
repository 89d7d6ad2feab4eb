"""One lake row per funding settlement, whichever source stamped it: a settlement's instant is its nearest whole
second (stg_funding_rates rounds the same way), and sources stamp one settlement a few ms apart (BloFin's history
at 08:00:00.000, freqtrade's funding files at 08:00:00.007, a skewed clock at 07:59:59.998). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

SECOND_MS = 1_000


def second_of(ts: int) -> int:
    """The settlement second of a stamp: the nearest whole second, half up (floor((ts + 500) / 1000), as in SQL)."""
    return (int(ts) + SECOND_MS // 2) // SECOND_MS


def stamps_by_second(fresh: Iterable[int], stored: Iterable[int]) -> dict[int, int]:
    """Each fresh stamp -> the stamp its settlement second already has: the stored one, else the first fresh one."""
    fresh = [int(ts) for ts in fresh]
    first: dict[int, int] = {}
    for ts in (*(int(t) for t in stored), *fresh):
        first.setdefault(second_of(ts), ts)
    return {ts: first[second_of(ts)] for ts in fresh}


def on_stored_stamps(fresh: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """fresh (funding_ts, funding_rate) with each row's stamp replaced by the stamp the lake (stored) or an earlier
    row of fresh already gives its settlement second, so the lake's merge by funding_ts sees the same settlement:
    a duplicate when the rate agrees, a conflict (the stored rate kept) when it does not, never a second row (the
    backtests charged both). Rows, order and rates are unchanged."""
    if fresh.empty:
        return fresh
    stamps = stamps_by_second(fresh["funding_ts"].tolist(), stored["funding_ts"].tolist())
    out = fresh.copy()
    out["funding_ts"] = fresh["funding_ts"].map(stamps).astype(fresh["funding_ts"].dtype)
    return out


def known_first(funding: pd.DataFrame) -> np.ndarray:
    """The row order of a write that puts the known rates before the unknown ones (NaN: an older recorder's stream
    value), else as given: a settlement takes the stamp and the merge keeps the row that comes first, so a known
    rate given in the same write as an unknown one is the one stored (or replaces a stored unknown one)."""
    return np.argsort(funding["funding_rate"].isna().to_numpy(), kind="stable")


def repeated_with_another_rate(mapped: pd.DataFrame) -> pd.Series:
    """Rows of a mapped frame whose settlement an earlier row of it gives another rate: conflicts, not duplicates
    (the lake's merge keeps the first row of a stamp)."""
    first = mapped.groupby("funding_ts", sort=False)["funding_rate"].transform("first")
    differs = ~((first == mapped["funding_rate"]) | (first.isna() & mapped["funding_rate"].isna()))
    return mapped["funding_ts"].duplicated() & differs


def replaces(stored: object, rate: object, unknown_only: bool = True) -> np.ndarray:
    """Whether a rate takes the place of the rate stored for its settlement (scalars or aligned arrays): a known rate
    over an unknown one (NaN/NULL: an older recorder stored the stream's NaN; never a settled rate), and, unless
    unknown_only (only the exchange's settled rate may), over another known one; an unknown rate never."""
    stored, rate = np.asarray(stored, dtype="float64"), np.asarray(rate, dtype="float64")
    return ~np.isnan(rate) & (np.isnan(stored) | ((not unknown_only) & (stored != rate)))


def as_given(stamps: Iterable[int], given: list[int], mapped: list[int]) -> list[int]:
    """Mapped (stored) stamps named back by the stamp the writer gave (given[i] became mapped[i]): the first given
    stamp mapped to each."""
    named = dict(zip(mapped[::-1], given[::-1]))
    return [named.get(int(ts), int(ts)) for ts in stamps]
