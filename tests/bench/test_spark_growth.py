"""The Spark growth bench's arithmetic: layers summed per dbt folder, exponents and ratios per row."""

from __future__ import annotations

from bench.spark_growth import per_layer, report


def run(bars: int, duck_features: float, spark_features: float) -> dict:
    return {"bars_1m": bars, "duckdb_wall_s": 10.0, "spark_wall_s": 40.0,
            "duckdb": per_layer({"feat_price": ("features", duck_features / 2), "feat_volume": ("features", duck_features / 2),
                                 "bars_1m": ("bars", 1.0)}),
            "spark": per_layer({"feat_price": ("features", spark_features), "bars_1m": ("bars", 2.0)})}


def test_rows_give_each_engines_exponent_and_the_ratio_at_the_longest_history():
    rows = {r[0]: r for r in report([run(1_000, 2.0, 20.0), run(4_000, 8.0, 40.0)])}
    layer, duck, spark, all_sizes, last_two, ratio = rows["features"]
    assert (duck, spark) == ("2.0 / 8.0", "20.0 / 40.0")
    assert all_sizes == last_two == "1.00 / 0.50"  # 4x the bars: DuckDB 4x the time, Spark 2x
    assert ratio == "5x"
    assert rows["bars"][3] == "0.00 / 0.00"  # flat: fixed cost only
    assert rows["all models"][2] == "22.0 / 42.0"
    assert rows["labels"][3] == "-"  # a layer with no model in it has no exponent
