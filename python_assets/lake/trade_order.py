"""The order of a day's trades in the lake (pure: no I/O), which `seq` numbers and the bars' open and close
follow: by time; within one millisecond by trade id when every id there is a whole number (compared as
integers, as the live recorder reads ids: python_assets/exchange/continuity.py), so a newest-first dump
and an oldest-first one of the same trades give the same file; else in arrival order (the rows already
stored first, in their stored order, then the new ones in the file's order)."""

from __future__ import annotations

import numpy as np
import pandas as pd

_WHOLE = r"\d+"  # a trade id that is a whole number (no sign: exchanges number trades from 1)


def trade_order(ts: np.ndarray, trade_ids: pd.Series) -> np.ndarray:
    """Positions that put rows (given in arrival order) in lake order: ts, then integer id within a
    millisecond whose ids are all integers, then arrival."""
    ts = np.asarray(ts, dtype=np.int64)
    arrival = np.arange(len(ts))
    shared = pd.Series(ts).duplicated(keep=False).to_numpy()
    tie = np.zeros(len(ts), dtype=np.int64)
    if shared.any():
        ids = trade_ids.iloc[np.flatnonzero(shared)].astype(str)
        whole = ids.str.fullmatch(_WHOLE).to_numpy(dtype=bool)
        all_whole = pd.Series(whole).groupby(ts[shared]).transform("all").to_numpy(dtype=bool)
        digits = ids.str.lstrip("0")
        width = int(digits[whole].str.len().max()) if whole.any() else 0
        key = pd.Series(np.where(all_whole, digits.str.zfill(width).to_numpy(dtype=object), ""), dtype=object)
        tie[shared] = pd.factorize(key, sort=True)[0]  # zero-padded digits sort as their integers do
    return np.lexsort((arrival, tie, ts))
