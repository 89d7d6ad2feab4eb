"""load_dataset reads the exported training set column by column into the arrays frame_to_dataset makes
from a whole pandas frame: the same bits, row order (bar_at_ms, then symbol, stable) and NaNs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from python_assets.ml.dataset import frame_to_dataset, load_dataset


def same(x, y) -> bool:
    if isinstance(x, np.ndarray):
        return (isinstance(y, np.ndarray) and x.dtype == y.dtype and x.shape == y.shape
                and (list(x) == list(y) if x.dtype == object else np.array_equal(x, y, equal_nan=x.dtype.kind == "f")))
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    return x == y


def test_the_columnwise_load_equals_the_frame_load(tmp_path):
    rng = np.random.default_rng(4)
    n = 400
    ts = np.repeat(np.arange(n // 4, dtype=np.int64) * 300_000, 4)[::-1].copy()  # out of order, 4 rows per instant
    symbols = np.array(["SOL-USDT", "BTC-USDT", "ETH-USDT", "BTC-USDT"] * (n // 4), dtype=object)  # a tie within one
    x0 = rng.normal(size=n) * 1e-9  # values float32 rounds
    x0[::7] = np.nan
    x1 = rng.normal(size=n) * 1e6
    x1[::11], x1[::13] = np.inf, -np.inf
    direction = pa.array([None if i % 5 == 0 else int(i % 3) - 1 for i in range(n)], type=pa.int32())
    known = pa.array([None if i % 9 == 0 else int(t) + 3_600_000 for i, t in enumerate(ts)], type=pa.int64())
    big = np.full(n, 2**60 + 3 * 2**36 - 1, dtype=np.int64)  # beyond 2**53: float32 straight, not via float64
    table = pa.table({"symbol": symbols.tolist(), "timeframe": ["5m"] * n, "bar_at_ms": ts, "x0": x0, "x1": x1, "x2": big,
                      "fwd_return_12": rng.normal(size=n), "fwd_direction_12": direction,
                      "baseline_vol_12": np.where(np.arange(n) % 6 == 0, np.nan, 0.003), "label_known_at_ms": known,
                      "close": np.where(np.arange(n) % 8 == 0, np.nan, 100 + rng.random(n))})
    path = tmp_path / "set.parquet"
    pq.write_table(table, path)
    a, b = load_dataset(path, ["x1", "x0", "x2"], 300_000), frame_to_dataset(pd.read_parquet(path), ["x1", "x0", "x2"], 300_000)
    assert {f.name: same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)} == \
        {f.name: True for f in dataclasses.fields(a)}
    assert a.ts[0] == 0 and list(a.symbol[:4]) == ["BTC-USDT", "BTC-USDT", "ETH-USDT", "SOL-USDT"]
    assert np.isnan(a.X[:, 0]).any() and not np.isinf(a.X).any()  # inf -> NaN, as the frame path does


def test_an_empty_training_set_loads_as_empty_arrays(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"symbol": pa.array([], pa.string()), "timeframe": pa.array([], pa.string()),
                             "bar_at_ms": pa.array([], pa.int64()), "x0": pa.array([], pa.float64())}), path)
    a = load_dataset(path, ["x0"], 300_000)
    assert a.X.shape == (0, 1) and a.timeframe == "" and len(a.ts) == 0
