"""Recursive indicators (EMA family, Wilder smoothing, OBV/AD lines) as TA-Lib seeds them.

A table rebuilt from the whole bar history every run: these values depend on every earlier bar
(that is what recursive means), so the only exact incremental run is a full pass; it is a
vectorised linear filter and takes well under a second per million bars.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    columns = ["symbol", "timeframe", "bar_at_ms", "high", "low", "close", "volume"]
    relation = dbt.ref("int_bars_unioned")
    if hasattr(relation, "groupBy"):  # Spark / Databricks: each series on an executor, same function
        from python_assets.features.recursive import FEATURE_COLUMNS, recursive_features

        schema = "symbol string, timeframe string, bar_at_ms bigint, " + ", ".join(f"{c} double" for c in FEATURE_COLUMNS)
        # applyInPandas hands NaN to Arrow as NULL, as pa.array(from_pandas=True) does below
        return relation.select(*columns).groupBy("symbol", "timeframe").applyInPandas(recursive_features, schema)
    import pyarrow as pa

    from python_assets.features.recursive import recursive_columns

    # DuckDB: sorted numpy columns in, an Arrow table out (no pandas: its import alone is ~0.8 s).
    arrays = relation.project(", ".join(columns)).order("symbol, timeframe, bar_at_ms").fetchnumpy()
    return pa.table({k: pa.array(v, from_pandas=True) for k, v in recursive_columns(arrays).items()})  # NaN -> NULL
