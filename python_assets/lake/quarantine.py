"""The lake's quarantine: rows a writer refused, one file per source, keyed by content so re-offering changes nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from python_assets.config import Paths
from python_assets.lake.atomic import write_table_atomic
from python_assets.lake.store import QUARANTINE_SCHEMA, normalize_symbol, symbol_lock


def quarantine_keys(rows: pd.DataFrame) -> pd.Series:
    """Content key of quarantined rows: the raw record plus its occurrence number among equal records."""
    raw = rows["raw_record"].astype(str)
    return raw + "\x00" + raw.groupby(raw).cumcount().astype(str)


def write_quarantine(paths: Paths, symbol: str, source_key: str, rows: pd.DataFrame) -> Path | None:
    """Add the rejected rows of one source to its file (named by source_key, so re-ingesting it or merging a recorder
    hour again writes to the same file), leaving out rows that file or another source file of the symbol already
    holds: quarantine rows are keyed by content (quarantine_keys), so a re-export that grew quarantines only its new
    bad rows, a source offered again keeps its earlier rows, and offering the same rows twice changes nothing."""
    symbol = normalize_symbol(symbol)
    if rows.empty:
        return None
    with symbol_lock(paths, symbol):  # another source's rows are read and left out under the same lock
        return _store_quarantine(paths.quarantine / f"symbol={symbol}", source_key, rows)


def _store_quarantine(folder: Path, source_key: str, rows: pd.DataFrame) -> Path | None:
    """write_quarantine's work, with the symbol's lock held: the source's stored rows stay as they are (joined as
    Arrow tables: a null ts is not turned into a float), its new rows are appended."""
    target = folder / f"{source_key}.parquet"
    others = [f for f in folder.glob("*.parquet") if f != target] if folder.exists() else []
    stored = pq.read_table(target, schema=QUARANTINE_SCHEMA) if target.exists() else QUARANTINE_SCHEMA.empty_table()
    # a record held n times over the symbol's files (this one included) leaves out its first n offered occurrences
    held = pa.concat_tables([*(pq.read_table(f, columns=["raw_record"]) for f in others),
                             stored.select(["raw_record"])])
    rows = rows[~quarantine_keys(rows).isin(set(quarantine_keys(held.to_pandas()))).to_numpy()]
    if rows.empty:
        return target if target.exists() else None
    fresh = pa.Table.from_pandas(rows, schema=QUARANTINE_SCHEMA, preserve_index=False)
    write_table_atomic(pa.concat_tables([stored, fresh]).combine_chunks(), target)
    return target
