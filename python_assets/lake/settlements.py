"""One lake row per funding settlement, whichever source stamped it: a settlement's instant is its whole second
(stg_funding_rates drops the milliseconds), and sources stamp the same settlement a few ms apart (BloFin's
history at 08:00:00.000, freqtrade's funding files at 08:00:00.007). Pure: no I/O."""

from __future__ import annotations

import pandas as pd

SECOND_MS = 1_000


def on_stored_stamps(fresh: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """fresh (funding_ts, funding_rate) with each row's stamp replaced by the stamp the lake (stored) or an earlier
    row of fresh already gives its settlement second, so the lake's merge by funding_ts sees the same settlement:
    a duplicate when the rate agrees, a conflict (the stored rate kept) when it does not, never a second row (the
    backtests charged both). Rows, order and rates are unchanged."""
    if fresh.empty:
        return fresh
    first = pd.concat([stored["funding_ts"], fresh["funding_ts"]], ignore_index=True)
    by_second = first.groupby(first // SECOND_MS, sort=False).first()  # the stored stamp, else fresh's first
    out = fresh.copy()
    out["funding_ts"] = (fresh["funding_ts"] // SECOND_MS).map(by_second).astype(fresh["funding_ts"].dtype)
    return out
