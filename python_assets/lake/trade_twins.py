"""The same trades stored under the other kind of id (pure: no I/O). Rows of a file without trade ids get
content-hash ids (`h` + 16 hex, ingest's _row_hash_ids), which never equal an exchange's id, so trades
ingested once without ids and once with them (or the other way) were stored twice and a minute's volume
doubled. Within one day file, a new row whose content (ts, price, size, side) a stored row of the other kind
holds is that trade, up to multiplicity: the n-th new row of a content matches the n-th stored row of the
other kind with it, so two genuine identical trades in one millisecond stay two where the other kind holds
one. Rows of the same kind keep their dedup on the id alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from python_assets.lake.trade_index import HASH_ID


def content_hashed(ids: pd.Series) -> np.ndarray:
    """Which ids are content hashes (HASH_ID: made by ingest for a row without an id), not an exchange's id."""
    arr = pa.array(ids.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    return pc.fill_null(pc.match_substring_regex(arr, HASH_ID), False).to_numpy(zero_copy_only=False)


def content_keys(rows: pd.DataFrame) -> pd.Series:
    """Each row's (ts, price, size, side) as one exact text (floats by repr, a missing side as '')."""
    side = rows["side"].astype(object).where(rows["side"].notna(), "").astype(str)
    return (rows["ts"].astype("int64").astype(str) + "|" + rows["price"].astype("float64").map(repr) + "|"
            + rows["size"].astype("float64").map(repr) + "|" + side)


def twin_rows(fresh: pd.DataFrame, stored: pd.DataFrame) -> np.ndarray:
    """Per row of fresh (new to the day by id): whether the day's stored rows hold its trade under the other kind
    of id, the n-th fresh row of a content matching while the other kind stores at least n of it."""
    out = np.zeros(len(fresh), dtype=bool)
    if fresh.empty or stored.empty:
        return out
    new_hashed, old_hashed = content_hashed(fresh["trade_id"]), content_hashed(stored["trade_id"])
    for kind in (True, False):
        mine, theirs = new_hashed == kind, old_hashed != kind
        if not mine.any() or not theirs.any():
            continue
        keys = content_keys(fresh[mine])
        held = keys.map(content_keys(stored[theirs]).value_counts()).fillna(0).to_numpy()
        out[mine] = keys.groupby(keys).cumcount().to_numpy() < held
    return out
