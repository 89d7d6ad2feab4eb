"""Training data: ml_training_set exported once per run to Parquet, loaded as arrays (feature
columns are the registered numeric, scale-free features; fwd_* columns are labels)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from python_assets.features.registry import Feature
from python_assets.warehouse.connection import connect_warehouse

LABELS = ("fwd_return_12", "fwd_direction_12", "fwd_momentum_class_12", "fwd_realized_vol_12", "fwd_mae_12",
          "fwd_adverse_12")
HORIZON_BARS = 12
KEYS = ("symbol", "timeframe", "bar_at_ms")
EXTRA = ("baseline_vol_12", "close")  # the close: the lookahead check's forward returns


@dataclass
class Dataset:
    """Rows sorted by (bar_at_ms, symbol): features X, labels (NaN when unknown), keys."""

    X: np.ndarray
    features: list[str]
    labels: dict[str, np.ndarray]
    ts: np.ndarray
    symbol: np.ndarray
    timeframe: str
    bar_ms: int
    baseline_vol: np.ndarray
    # when each row's label window closes (label_known_at_ms): 12 rows ahead, later than 12 bars where bars
    # are missing; None: 12 bars after the bar's close (gapless data)
    label_end: np.ndarray | None = None
    # each bar's close (float64; the lookahead check's forward returns, no model input); None: not exported
    close: np.ndarray | None = None

    @property
    def label_end_ms(self) -> np.ndarray:
        """label_end, or the gapless value bar_at_ms + (HORIZON_BARS + 1) bars where not given."""
        gapless = self.ts + (HORIZON_BARS + 1) * self.bar_ms
        return gapless if self.label_end is None else np.where(self.label_end > 0, self.label_end, gapless)

    @property
    def data_hash(self) -> str:
        """Content hash of everything a model's version depends on (features, labels, keys, the baseline's
        volatility, the label windows): its metadata names the data it saw."""
        h = hashlib.sha256()
        for arr in (self.X, self.ts, self.baseline_vol, self.label_end_ms, *(self.labels[k] for k in sorted(self.labels))):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("|".join(self.features).encode())
        h.update("|".join(map(str, self.symbol)).encode())
        return h.hexdigest()[:16]

    def subset(self, rows: np.ndarray) -> "Dataset":
        return Dataset(self.X[rows], self.features, {k: v[rows] for k, v in self.labels.items()}, self.ts[rows],
                       self.symbol[rows], self.timeframe, self.bar_ms, self.baseline_vol[rows],
                       None if self.label_end is None else self.label_end[rows],
                       None if self.close is None else self.close[rows])


def training_select(timeframe: str, feature_names: list[str], bar_ms: int, end_ms: int,
                    start_ms: int = 0, score_from_ms: int | None = None) -> tuple[str, list]:
    """The training rows a partition ending at end_ms may see: bars closed by end_ms, and each label
    only when its horizon closed by end_ms (NULL otherwise), so a backfilled day never trains on a
    later day's prices whatever else the warehouse already holds; bars opened before start_ms are
    left out (the trailing training window: what a day reads stays flat as history grows).
    score_from_ms: keep only bars from there on plus each symbol's newest bar (a day whose models all
    score with saved versions needs no training rows); None keeps the whole window."""
    # label_known_at_ms too (when each label's window closes: the walk-forward's purge), under the same rule
    known = ", ".join(f'case when label_known_at_ms <= {int(end_ms)} then "{c}" end as "{c}"'
                      for c in (*LABELS, "label_known_at_ms"))
    cols = ", ".join(f'"{c}"' for c in (*KEYS, *feature_names, *EXTRA))
    window = "from ml_training_set where timeframe = ? and bar_at_ms + ? <= ? and bar_at_ms >= ?"
    params = [timeframe, int(bar_ms), int(end_ms), int(start_ms)]
    if score_from_ms is None:
        return f"select {cols}, {known} {window} order by bar_at_ms, symbol", params
    newest = "bar_at_ms = max(bar_at_ms) over (partition by symbol) as newest_of_symbol"
    sql = (f"select {cols}, {known} from (select *, {newest} {window}) as w "
           "where bar_at_ms >= ? or newest_of_symbol order by bar_at_ms, symbol")
    return sql, [*params, int(score_from_ms)]


def export_training_set(warehouse: Path, timeframe: str, feature_names: list[str], path: Path, bar_ms: int,
                        end_ms: int, start_ms: int = 0, score_from_ms: int | None = None) -> int:
    """Copy the rows of one timeframe in [start_ms, end_ms) known by end_ms to Parquet (one warehouse
    read per run); score_from_ms: only the scoring rows (see training_select)."""
    sql, params = training_select(timeframe, feature_names, bar_ms, end_ms, start_ms, score_from_ms)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.parquet")
    with connect_warehouse(warehouse, read_only=True) as con, join_sides_kept(con):
        con.execute(f"copy ({sql}) to '{tmp}' (format parquet)", params)
        n = con.execute(f"select count(*) from read_parquet('{tmp}')").fetchall()[0][0]
    tmp.replace(path)
    return int(n)


@contextmanager
def join_sides_kept(con) -> Iterator[None]:
    """Hash joins build on their right side as written while the block runs. The features view LEFT JOINs
    seven family tables onto the bars; DuckDB's build-side optimizer, misled by the window filters' row
    estimates, turns the later ones into RIGHT joins whose hash tables hold the growing left side with
    every family's columns so far. As written each build side is one family: the same rows, ~145 MiB less
    at the export of 120 days of the demo (docs/scaling.md). The setting is the database's (every
    connection to the file in this process shares it): set back as it was when the block ends."""
    before = con.execute("select current_setting('disabled_optimizers')").fetchone()[0] or ""
    con.execute(f"set disabled_optimizers = '{','.join(filter(None, (before, 'build_side_probe_side')))}'")
    try:
        yield
    finally:
        con.execute(f"set disabled_optimizers = '{before}'")


def numeric_features(warehouse: Path, registered: Iterable[Feature]) -> list[str]:
    """Registered features the models read, sorted by name: scale-free ones (no meta scale) whose warehouse type
    is numeric (regime labels are text). The models pool symbols priced ~1 to ~20k: a level in price or volume
    units (an SMA, ATR, OBV) says which symbol a row is, not what its market does, and a fold where a 19k
    symbol joins one at 1 scored an RMSE 15,000x its baseline's."""
    with connect_warehouse(warehouse, read_only=True) as con:
        types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                 "where table_name = 'ml_training_set'").fetchall())
    names = sorted(f.name for f in registered if f.is_scale_free)
    return [f for f in names if f in types and types[f] not in ("VARCHAR",)]


def frame_to_dataset(df: pd.DataFrame, features: list[str], bar_ms: int) -> Dataset:
    df = df.sort_values(["bar_at_ms", "symbol"], kind="stable").reset_index(drop=True)
    X = df[features].to_numpy(dtype=np.float32, na_value=np.nan, copy=True)
    X[~np.isfinite(X)] = np.nan
    labels = {k: df[k].to_numpy(dtype=np.float64, na_value=np.nan, copy=True) for k in LABELS if k in df}
    base = df["baseline_vol_12"].to_numpy(np.float64, na_value=np.nan, copy=True) if "baseline_vol_12" in df else np.full(len(df), np.nan)
    ends = (df["label_known_at_ms"].to_numpy(np.float64, na_value=np.nan, copy=True) if "label_known_at_ms" in df
            else np.full(len(df), np.nan))
    close = df["close"].to_numpy(np.float64, na_value=np.nan, copy=True) if "close" in df else None
    return Dataset(X, list(features), labels, df["bar_at_ms"].to_numpy(np.int64, copy=True),
                   df["symbol"].astype(object).to_numpy(copy=True), str(df["timeframe"].iloc[0]) if len(df) else "",
                   bar_ms, base, np.nan_to_num(ends, nan=0.0).astype(np.int64), close)


def load_dataset(path: Path, features: list[str], bar_ms: int) -> Dataset:
    """frame_to_dataset's arrays (the same bits) read column by column: each feature goes from the Parquet
    file's Arrow column into float32 X in row order, so no float64 frame of the whole set (and its sorted
    copy) is ever held: 120 days of the demo, 103k rows x 75 features, peaked ~310 MiB above X's 31 MiB."""
    import pyarrow.parquet as pq

    from python_assets.platform.memory import release_freed_memory

    table = pq.read_table(path)
    names = set(table.column_names)

    def column(name: str, dtype=None) -> np.ndarray:
        """A column in row order (NULL -> NaN, as pandas reads it), as dtype when given; objects (decimals,
        NULLs) through float64 as pandas converts them. Integers stay integers until the caller's cast: int64
        straight to float32, as pandas casts it (through float64 would round twice beyond 2**53)."""
        values = table.column(name).to_numpy(zero_copy_only=False)
        values = np.asarray(values, dtype=np.float64) if values.dtype == object else values
        return (values if dtype is None else values.astype(dtype, copy=False))[order]

    ts = np.asarray(table.column("bar_at_ms").to_numpy(zero_copy_only=False), dtype=np.int64)
    symbols = np.asarray(table.column("symbol").to_numpy(zero_copy_only=False), dtype=object)
    order = np.lexsort((np.unique(symbols, return_inverse=True)[1], ts)) if len(ts) else np.arange(0)
    X = np.empty((len(ts), len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        X[:, j] = column(name)
    X[~np.isfinite(X)] = np.nan
    labels = {k: column(k, np.float64) for k in LABELS if k in names}
    missing = np.full(len(ts), np.nan)
    base = column("baseline_vol_12", np.float64) if "baseline_vol_12" in names else missing
    ends = column("label_known_at_ms", np.float64) if "label_known_at_ms" in names else missing
    close = column("close", np.float64) if "close" in names else None
    timeframe = str(table.column("timeframe")[0]) if len(ts) else ""
    data = Dataset(X, list(features), labels, ts[order], symbols[order], timeframe, bar_ms, base,
                   np.nan_to_num(ends, nan=0.0).astype(np.int64), close)
    del table
    release_freed_memory()  # Arrow's allocator keeps the file's freed pages (~100 MiB at 120 days)
    return data
