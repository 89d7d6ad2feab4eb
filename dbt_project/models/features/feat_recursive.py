"""Recursive indicators (EMA family, Wilder smoothing, OBV/AD lines) as TA-Lib seeds them.

Incremental: these values depend on every earlier bar, so the last bar of each series on each UTC
day carries resume_state, the recursions' state after it (counters, in-order seed sums, last
values: recursive.STATE_FIELDS). A daily run reads only the partition window's bars plus, per
series, the resume_state of its last bar before the window, and continues from there with the same
floating-point operations as a full pass: bit-identical to a full rebuild, time flat in history.
A full build (--full-refresh, first run) starts every series from its first bar.
"""


def model(dbt, session):
    # append_new_columns: a table built before resume_state/bar_date gains them (one full pass, below)
    dbt.config(materialized="incremental", unique_key=["symbol", "timeframe", "bar_at_ms"],
               on_schema_change="append_new_columns")
    columns = ["symbol", "timeframe", "bar_at_ms", "bar_date", "high", "low", "close", "volume"]
    relation = dbt.ref("int_bars_unioned")
    if hasattr(relation, "groupBy"):  # Spark / Databricks: each series on an executor, a full pass every run
        from python_assets.features.recursive import FEATURE_COLUMNS, recursive_features

        schema = ("symbol string, timeframe string, bar_at_ms bigint, bar_date date, "
                  + ", ".join(f"{c} double" for c in FEATURE_COLUMNS) + ", resume_state array<double>")
        # applyInPandas hands NaN to Arrow as NULL, as pa.array(from_pandas=True) does below
        return relation.select(*columns).groupBy("symbol", "timeframe").applyInPandas(recursive_features, schema)
    from datetime import date

    from python_assets.features.recursive import recursive_columns
    from python_assets.platform.fanout import in_child
    from python_assets.platform.timeframes import DAY_MS

    carried = None
    if dbt.is_incremental and carries_state(session, repr(dbt.this)):
        # literal keys: dbt ships a Python model only the config keys its source names verbatim
        min_date = partition_bound("min_date", dbt.config.get("min_date"))
        max_date = partition_bound("max_date", dbt.config.get("max_date"))
        window_start_ms = (date.fromisoformat(min_date) - date(1970, 1, 1)).days * DAY_MS
        states = carried_states(session, repr(dbt.this), window_start_ms)
        if not uncarried_series(relation, states, window_start_ms):
            relation = relation.filter(f"bar_date >= date '{min_date}' and bar_date < date '{max_date}'")
            carried = {key: state for key, (_, state) in states.items()}
        # else a series' last earlier bar carries no state: continuing it would restart its seeds or skip
        # bars, so this run is a full pass (delete+insert by key rewrites every row the same way)
    # DuckDB: sorted columns in as Arrow, an Arrow table out, NumPy only through buffers (no pandas: pyarrow's
    # own NumPy converters import it, ~50 MiB and ~0.8 s, into this dbt process for the rest of the build).
    # symbol and timeframe reach the recursions as dictionary codes (they only compare them and look them up;
    # a million Python strings each way cost ~0.6 s); the keys go out as they came in.
    table = relation.project(", ".join(columns)).order("symbol, timeframe, bar_at_ms").to_arrow_table()
    arrays, names = series_arrays(table)
    if carried is not None:
        codes = {key: {v: i for i, v in enumerate(d)} for key, d in names.items()}
        carried = {(codes["symbol"][s], codes["timeframe"][tf]): state for (s, tf), state in carried.items()
                   if s in codes["symbol"] and tf in codes["timeframe"]}
    # the recursions run in a child process: numba and its compiled code (~120 MiB once loaded) and the
    # work arrays leave with it, instead of staying in this dbt process beside every later model of the build
    return feature_table(table, in_child(recursive_columns, arrays, carried))


def numpy_column(column, dtype):
    """An Arrow column's values as a NumPy array read from its buffers (NULL floats as NaN): pyarrow's
    to_numpy would import pandas into this process."""
    import numpy as np
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    width = np.dtype(dtype).itemsize
    if len(array) == 0:
        return np.empty(0, dtype=dtype)
    values = np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * width)
    if array.null_count:
        if np.dtype(dtype).kind != "f":
            raise ValueError(f"NULL in a {dtype} column")
        valid = np.unpackbits(np.frombuffer(array.buffers()[0], dtype=np.uint8), count=array.offset + len(array),
                              bitorder="little")[array.offset:].astype(bool)
        values = np.where(valid, values, np.nan)
    return values


def series_arrays(table) -> tuple[dict, dict]:
    """The recursions' inputs as NumPy columns (symbol and timeframe as int32 codes into their dictionaries,
    returned as lists of str) from the sorted bars table."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays, names = {}, {}
    for name in ("symbol", "timeframe"):
        encoded = pc.dictionary_encode(table.column(name).combine_chunks())
        arrays[name] = numpy_column(pc.cast(encoded.indices, pa.int32()), np.int32)
        names[name] = encoded.dictionary.to_pylist()
    arrays["bar_at_ms"] = numpy_column(pc.cast(table.column("bar_at_ms"), pa.int64()), np.int64)
    for name in ("high", "low", "close", "volume"):
        arrays[name] = numpy_column(pc.cast(table.column(name), pa.float64()), np.float64)
    return arrays, names


def partition_bound(name: str, configured) -> str:
    """The window bound as macro partition_bound gives it: the --vars value (reaching the model as
    config), else BLOFIN_DBT_<NAME> (Dagster's window), else everything."""
    import os

    defaults = {"min_date": "1970-01-01", "max_date": "2100-01-01"}
    return (str(configured or "") or os.environ.get(f"BLOFIN_DBT_{name.upper()}") or defaults[name])[:10]


def carries_state(session, this: str) -> bool:
    """Whether the existing table has resume_state (a warehouse built before it has not: one full pass
    rewrites every row, the new columns appended)."""
    return "resume_state" in session.sql(f"select * from {this} limit 0").columns


def uncarried_series(bars, carried: dict, before_ms: int) -> list:
    """Series whose last bar before before_ms carries no state (a table built before resume_state, or a
    day of bars whose features never ran): the incremental run falls back to a full pass rather than
    restart their seeds or skip bars."""
    last = bars.filter(f"bar_at_ms < {int(before_ms)}").aggregate("symbol, timeframe, max(bar_at_ms)", "symbol, timeframe").fetchall()
    return [(s, tf) for s, tf, at in last if (s, tf) not in carried or carried[(s, tf)][0] != at]


def carried_states(session, this: str, before_ms: int) -> dict:
    """Per series, (bar_at_ms, resume_state) of its last bar before before_ms that carries a state."""
    table = session.sql(
        f"select symbol, timeframe, max(bar_at_ms) as state_at_ms, max_by(resume_state, bar_at_ms) as state from {this} "
        f"where resume_state is not null and bar_at_ms < {int(before_ms)} group by symbol, timeframe"
    ).to_arrow_table()
    import numpy as np

    states = table.column("state").combine_chunks()
    values = numpy_column(states.flatten(), np.float64)
    flat = values.reshape(len(states), len(values) // max(len(states), 1))
    keys = zip(table.column("symbol").to_pylist(), table.column("timeframe").to_pylist())
    return {key: (at, state) for key, at, state in zip(keys, table.column("state_at_ms").to_pylist(), flat)}


def feature_table(table, cols: dict):
    """The keys as they came in, the features (NaN -> NULL) and resume_state (a list on each series' last
    bar of a day, else NULL), built from NumPy buffers (no pandas, as numpy_column)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from python_assets.features.recursive import FEATURE_COLUMNS

    def bitmap(valid):
        return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))

    def floats(values):
        values = np.ascontiguousarray(values, dtype=np.float64)
        return pa.Array.from_buffers(pa.float64(), len(values), [bitmap(~np.isnan(values)), pa.py_buffer(values)])

    n, rows, states = table.num_rows, cols["resume_rows"], cols["resume_state"]
    types = {"symbol": pa.string(), "timeframe": pa.string(), "bar_at_ms": pa.int64(), "bar_date": pa.date32()}
    out = {k: pc.cast(table.column(k), t).combine_chunks() for k, t in types.items()}
    out.update({name: floats(cols[name]) for name in FEATURE_COLUMNS})
    lengths = np.zeros(n, dtype=np.int32)
    lengths[rows] = states.shape[1]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    has_state = np.zeros(n, dtype=bool)
    has_state[rows] = True
    values = np.ascontiguousarray(states, dtype=np.float64).ravel()
    out["resume_state"] = pa.Array.from_buffers(
        pa.list_(pa.float64()), n, [bitmap(has_state), pa.py_buffer(offsets)],
        children=[pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])])
    return pa.table(out)

