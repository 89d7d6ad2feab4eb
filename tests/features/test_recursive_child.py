"""feat_recursive runs its recursions in a child process (in_child): importing the module loads no numba (its
kernel compiles on first use), and the child's columns are the in-process ones bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from python_assets.features.recursive import recursive_columns
from python_assets.platform.fanout import in_child

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_recursions_loads_no_numba():
    code = "import sys, python_assets.features.recursive; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


def test_the_childs_columns_are_the_in_process_ones_bit_for_bit():
    rng = np.random.default_rng(5)
    n = 5_000
    symbol = np.repeat(np.array([0, 1], dtype=np.int32), n // 2)
    timeframe = np.zeros(n, dtype=np.int32)
    bar_at_ms = np.tile(np.arange(n // 2, dtype=np.int64) * 60_000, 2)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    high, low = close * (1 + rng.uniform(0, 0.003, n)), close * (1 - rng.uniform(0, 0.003, n))
    volume = rng.lognormal(0, 1, n)
    volume[17:40] = 0.0  # flat, empty bars
    high[100:130] = low[100:130] = close[100:130] = close[99]
    arrays = {"symbol": symbol, "timeframe": timeframe, "bar_at_ms": bar_at_ms, "high": high, "low": low,
              "close": close, "volume": volume}
    first = recursive_columns({k: v[:3_000] for k, v in arrays.items()})  # series 1 stops mid-way: carry its state
    carried = {(1, 0): first["resume_state"][-1]}
    rest = {k: v[3_000:] for k, v in arrays.items()}
    here, there = recursive_columns(rest, carried), in_child(recursive_columns, rest, carried)
    assert here.keys() == there.keys()
    for name in here:
        a, b = np.asarray(here[name]), np.asarray(there[name])
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name


MODEL = ROOT / "dbt_project" / "models" / "features" / "feat_recursive.py"

_CONVERT = f"""
import importlib.util, sys
import duckdb
import pyarrow as pa
import pyarrow.ipc
spec = importlib.util.spec_from_file_location("feat_recursive_model", {str(MODEL)!r})
model = importlib.util.module_from_spec(spec); spec.loader.exec_module(model)
from python_assets.features.recursive import recursive_columns
table = pa.ipc.open_file(sys.argv[1]).read_all().slice(3)  # a non-zero offset into every buffer
arrays, names = model.series_arrays(table)
out = model.feature_table(table, recursive_columns(arrays))
with pa.ipc.new_file(sys.argv[2], out.schema) as sink:
    sink.write_table(out)
pandas = "pandas" in sys.modules  # read before the lines below, whose pa.array(list) imports it
import json, numpy as np
sliced = model.numpy_column(pa.array([1.0, None, 3.0, None, 5.0]).slice(1), np.float64)  # offset and NULLs
ints = model.numpy_column(pa.array([7, 8, 9], type=pa.int64()).slice(2), np.int64)
print(json.dumps({{"names": names, "sliced": sliced.tolist(), "ints": ints.tolist(), "pandas": pandas}}))
"""


def _reference(table):
    """The conversion through pyarrow's own NumPy converters (what the model did before): the keys, the
    features with NaN as NULL, resume_state on each series' last bar of a day."""
    import pyarrow as pa

    from python_assets.features.recursive import FEATURE_COLUMNS

    df = table.to_pandas()
    codes = {k: df[k].astype("category") for k in ("symbol", "timeframe")}
    arrays = {k: codes[k].cat.codes.to_numpy().astype(np.int32) for k in codes}
    arrays.update({"bar_at_ms": df["bar_at_ms"].to_numpy(np.int64)})
    arrays.update({k: df[k].to_numpy(np.float64, na_value=np.nan) for k in ("high", "low", "close", "volume")})
    cols = recursive_columns(arrays)
    resume = [None] * len(df)
    for row, state in zip(cols["resume_rows"], cols["resume_state"]):
        resume[row] = state.tolist()
    return pa.table({"symbol": table.column("symbol"), "timeframe": table.column("timeframe"),
                     "bar_at_ms": table.column("bar_at_ms"), "bar_date": table.column("bar_date"),
                     **{k: pa.array(cols[k], type=pa.float64(), from_pandas=True) for k in FEATURE_COLUMNS},
                     "resume_state": pa.array(resume, type=pa.list_(pa.float64()))})


def test_the_models_arrow_conversions_import_no_pandas_and_match_pyarrows(tmp_path):
    """feat_recursive reads its columns from Arrow buffers and builds its table from NumPy buffers, in the dbt
    process without pandas (pyarrow's converters import it, ~50 MiB for the rest of the build): the same
    table as pyarrow's own conversions give, NULL inputs (as NaN), NaN features (as NULL) and offsets included."""
    import duckdb
    import pyarrow as pa

    with duckdb.connect() as con:
        table = con.sql("""
            select s.symbol, t.timeframe, (i * 60000)::bigint as bar_at_ms,
                   (date '2026-01-01' + (i * 60000 // 86400000)::int) as bar_date,
                   case when i = 7 then null else 100 + sin(i / 9.0) + 0.5 end::double as high,
                   100 + sin(i / 9.0) - 0.5 as low, 100 + sin(i / 9.0) as close,
                   case when i % 50 = 3 then null else (i % 13)::double end as volume
            from (values ('BTC-USDT'), ('DOGE-USDT')) s(symbol), (values ('1m'), ('5m')) t(timeframe), range(3000) r(i)
            order by 1, 2, 3""").to_arrow_table()
    source, result = tmp_path / "in.arrow", tmp_path / "out.arrow"
    with pa.ipc.new_file(str(source), table.schema) as sink:
        sink.write_table(table)
    out = subprocess.run([sys.executable, "-c", _CONVERT, str(source), str(result)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    said = json.loads(out.stdout)
    assert said["pandas"] is False  # no pandas in that process
    assert said["names"] == {"symbol": ["BTC-USDT", "DOGE-USDT"], "timeframe": ["1m", "5m"]}
    assert np.array_equal(said["sliced"], [np.nan, 3.0, np.nan, 5.0], equal_nan=True)
    assert said["ints"] == [9]
    got = pa.ipc.open_file(str(result)).read_all()
    want = _reference(table.slice(3))
    assert got.schema == want.schema and got.num_rows == want.num_rows
    with duckdb.connect() as con:  # every row the same both ways (DuckDB compares NaN equal, as the builds' checks)
        for a, b in (("got", "want"), ("want", "got")):
            assert con.execute(f"select count(*) from (select * from {a} except all select * from {b})").fetchone() == (0,)
        assert con.execute("select count(*) from got where rsi_14 is not null and isnan(rsi_14)").fetchone() == (0,)
    assert got.column("rsi_14").null_count > 0 and got.column("resume_state").null_count > 0
