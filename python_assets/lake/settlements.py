"""One lake row per funding settlement, whichever source stamped it: a settlement's instant is its whole second
(stg_funding_rates drops the milliseconds), and sources stamp the same settlement a few ms apart (BloFin's
history at 08:00:00.000, freqtrade's funding files at 08:00:00.007). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

SECOND_MS = 1_000


def stamps_by_second(fresh: Iterable[int], stored: Iterable[int]) -> dict[int, int]:
    """Each fresh stamp -> the stamp its settlement second already has: the stored one, else the first fresh one."""
    first: dict[int, int] = {}
    for ts in (*stored, *fresh):
        first.setdefault(int(ts) // SECOND_MS, int(ts))
    return {int(ts): first[int(ts) // SECOND_MS] for ts in fresh}


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
