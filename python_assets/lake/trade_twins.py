"""The same trades stored under the other kind of id (pure: no I/O). Rows of a file without trade ids get
content-hash ids (`h` + 16 hex, ingest's _row_hash_ids), which never equal an exchange's id, so trades
ingested once without ids and once with them (or the other way) were stored twice and a minute's volume
doubled. A row is matched on its content: time, price and size equal (floats bit for bit) and sides equal,
a missing side matching any side (a file without a side column holds the same trades as one with it; two
missing sides match too). Matching is one to one, up to multiplicity: two genuine identical trades in one
millisecond stay two where the other kind holds one. Within one day file, in this order:

1. a new row (new by its id) that a stored row of the other kind matches is a duplicate; the stored row is
   never replaced, so whichever kind came first stays;
2. among the rows of one write, a content-hash row that a row of the write with an exchange id matches is a
   duplicate (the exchange's id carries more information), so one file holding a trade with and without an
   id stores what those rows as two files store: as many rows, the kept one's id the one of the kind stored
   first (one file: the exchange id).

Which rows match is the most the rule allows (a maximum matching per time, price and size): equal sides
first, then a missing side on one end with the sided rows left on the other, then missing with missing;
among interchangeable rows the earlier in the write match first, so a rerun makes the same rows. The count
of stored rows is the same whichever of two files comes first, and the same as the two in one file; where a
day already holds a content under both kinds and some of its rows lack a side, a third file may still store
one row more in one order than the other (which sided row took a missing side is not revisited later).
Rows of the same kind keep their dedup on the id alone (a file without ids and without sides, then the same
trades without ids but with sides, are two sets of hashes: the rule is between the two kinds only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from python_assets.lake.trade_index import HASH_ID

_SIDE_CODES = {"buy": 1, "sell": 2}  # 0: missing, matching either


def content_hashed(ids: pd.Series) -> np.ndarray:
    """Which ids are content hashes (HASH_ID: made by ingest for a row without an id), not an exchange's id."""
    arr = pa.array(ids.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    return pc.fill_null(pc.match_substring_regex(arr, HASH_ID), False).to_numpy(zero_copy_only=False)


def _content(rows: pd.DataFrame) -> pd.DataFrame:
    """Each row's ts, price and size bits (floats equal exactly when their bits do) and side code, 0 if missing."""
    return pd.DataFrame({
        "ts": rows["ts"].to_numpy(dtype=np.int64),
        "price": rows["price"].to_numpy(dtype=np.float64).view(np.int64),
        "size": rows["size"].to_numpy(dtype=np.float64).view(np.int64),
        "side": rows["side"].map(_SIDE_CODES).fillna(0).to_numpy(dtype=np.int64),
    })


def matched_rows(new: pd.DataFrame, held: pd.DataFrame) -> np.ndarray:
    """Per row of new: whether a row of held is its trade, one to one (see the module docstring): the most rows
    matched, earlier rows of new first among interchangeable ones."""
    out = np.zeros(len(new), dtype=bool)
    if new.empty or held.empty:
        return out
    new_ts, held_ts = new["ts"].to_numpy(dtype=np.int64), held["ts"].to_numpy(dtype=np.int64)
    close = pd.Series(held_ts).isin(new_ts).to_numpy()  # only a millisecond both hold can match: cut a 1M-row day
    near = pd.Series(new_ts).isin(held_ts[close]).to_numpy()
    if not near.any():
        return out
    mine, theirs = _content(new[near]), _content(held[close])
    both = pd.concat([mine, theirs], ignore_index=True)
    base = both.groupby(["ts", "price", "size"], sort=False).ngroup().to_numpy()
    b, h = base[: len(mine)], base[len(mine):]
    side = mine["side"].to_numpy()
    n_new = np.bincount(b * 3 + side, minlength=3 * (base.max() + 1)).reshape(-1, 3)
    n_held = np.bincount(h * 3 + theirs["side"].to_numpy(), minlength=n_new.size).reshape(-1, 3)
    rank = pd.Series(b * 3 + side).groupby(b * 3 + side).cumcount().to_numpy()
    sided = side > 0
    exact = sided & (rank < n_held[b, side])
    left = sided & ~exact  # sided rows that no equal side holds: a missing side held may take them
    left_rank = np.zeros(len(b), dtype=np.int64)
    left_rank[left] = pd.Series(b[left]).groupby(b[left]).cumcount().to_numpy()
    free_held = n_held[:, 0]
    new_left = np.clip(n_new[:, 1:] - n_held[:, 1:], 0, None).sum(axis=1)
    held_left = np.clip(n_held[:, 1:] - n_new[:, 1:], 0, None).sum(axis=1)
    for_missing = held_left + np.clip(free_held - new_left, 0, None)  # what a new row without a side may take
    out[near] = exact | (left & (left_rank < free_held[b])) | (~sided & (rank < for_missing[b]))
    return out


def twin_rows(fresh: pd.DataFrame, stored: pd.DataFrame) -> np.ndarray:
    """Per row of fresh (new to the day by id): whether its trade is stored under the other kind of id, or held
    by a row of fresh with an exchange id while it has a content-hash id (the module docstring's two steps)."""
    out = np.zeros(len(fresh), dtype=bool)
    if fresh.empty:
        return out
    new_hashed = content_hashed(fresh["trade_id"])
    old_hashed = content_hashed(stored["trade_id"]) if not stored.empty else np.zeros(0, dtype=bool)
    for kind in (True, False):
        mine, theirs = new_hashed == kind, old_hashed != kind
        if mine.any() and theirs.any():
            out[mine] = matched_rows(fresh[mine], stored[theirs])
    hashed_left, exchange_left = new_hashed & ~out, ~new_hashed & ~out
    if hashed_left.any() and exchange_left.any():
        out[hashed_left] = matched_rows(fresh[hashed_left], fresh[exchange_left])
    return out
