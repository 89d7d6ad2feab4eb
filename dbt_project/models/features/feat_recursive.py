"""Recursive indicators (EMA family, Wilder smoothing, OBV/AD lines) as TA-Lib seeds them.

A table rebuilt from the whole bar history every run: these values depend on every earlier bar
(that is what recursive means), so the only exact incremental run is a full pass; it is a
vectorised linear filter and takes well under a second per million bars.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from python_assets.features.recursive import recursive_features

    import pyarrow as pa

    bars = dbt.ref("int_bars_unioned").project("symbol, timeframe, bar_at_ms, high, low, close, volume").df()
    # Arrow hands the result back to DuckDB without a row-by-row conversion of the string keys.
    return pa.Table.from_pandas(recursive_features(bars), preserve_index=False)
