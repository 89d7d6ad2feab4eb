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
    # DuckDB: sorted columns in as Arrow, an Arrow table out (no pandas: its import alone is ~0.8 s).
    # symbol and timeframe travel as dictionary codes: recursive_columns only compares them and looks
    # them up, and a million Python strings each way cost ~0.6 s (1.29M rows).
    table = relation.project(", ".join(columns)).order("symbol, timeframe, bar_at_ms").to_arrow_table()
    arrays, dictionaries = coded_columns(table)
    if carried is not None:
        codes = {key: {v: i for i, v in enumerate(d)} for key, d in dictionaries.items()}
        carried = {(codes["symbol"][s], codes["timeframe"][tf]): state for (s, tf), state in carried.items()
                   if s in codes["symbol"] and tf in codes["timeframe"]}
    # the recursions run in a child process: numba and its compiled code (~120 MiB once loaded) and the
    # work arrays leave with it, instead of staying in this dbt process beside every later model of the build
    return to_arrow(in_child(recursive_columns, arrays, carried), dictionaries)


def coded_columns(table) -> tuple[dict, dict]:
    """NumPy columns of an Arrow table, symbol and timeframe as int32 codes into their dictionaries
    (returned as lists of str); NULL floats become NaN."""
    import pyarrow.compute as pc

    arrays, dictionaries = {}, {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if name in ("symbol", "timeframe"):
            encoded = pc.dictionary_encode(column)
            arrays[name] = encoded.indices.to_numpy(zero_copy_only=False)
            dictionaries[name] = encoded.dictionary.to_pylist()
        else:
            arrays[name] = column.to_numpy(zero_copy_only=False)
    return arrays, dictionaries


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
    states = table.column("state").combine_chunks()
    values = states.flatten().to_numpy(zero_copy_only=False)
    flat = values.reshape(len(states), len(values) // max(len(states), 1))
    keys = zip(table.column("symbol").to_pylist(), table.column("timeframe").to_pylist())
    return {key: (at, state) for key, at, state in zip(keys, table.column("state_at_ms").to_pylist(), flat)}


def to_arrow(cols: dict, dictionaries: dict):
    """Keys (symbol, timeframe decoded from their codes), features (NaN -> NULL) and resume_state (a
    list on each series' last bar of a day, else NULL)."""
    import numpy as np
    import pyarrow as pa

    n, rows, states = len(cols["symbol"]), cols.pop("resume_rows"), cols.pop("resume_state")
    lengths = np.zeros(n, dtype=np.int32)
    lengths[rows] = states.shape[1]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    has_state = np.zeros(n, dtype=bool)
    has_state[rows] = True
    types = {"bar_at_ms": pa.int64(), "bar_date": pa.date32()}
    table = {k: pa.DictionaryArray.from_arrays(pa.array(v, type=pa.int32()), dictionaries[k]).cast(pa.string())
             if k in dictionaries else pa.array(v, type=types.get(k, pa.float64()), from_pandas=True)
             for k, v in cols.items()}
    table["resume_state"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(states.ravel()), mask=pa.array(~has_state))
    return pa.table(table)
