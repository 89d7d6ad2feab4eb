"""The ML feature set: numeric and scale-free registered features only. The models pool symbols priced ~1
(XRP) to ~20k (BTC): a level in price or volume units there scored fold RMSEs 15,000x the baseline's."""

from __future__ import annotations

import duckdb

from python_assets.config import DBT_PROJECT_DIR
from python_assets.features.registry import Feature, load_registry
from python_assets.ml.dataset import numeric_features


def feature(name: str, scale: str | None = None) -> Feature:
    return Feature(name, "feat_test", "test", 0, None, "", scale=scale)


def warehouse_with(path, columns: dict[str, str]) -> None:
    """A warehouse whose ml_training_set holds these columns (name: SQL type)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create table ml_training_set (" + ", ".join(f'"{c}" {t}' for c, t in columns.items()) + ")")


def test_the_models_read_no_feature_in_price_or_volume_units(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse_with(warehouse, {"sma_20": "double", "rsi_14": "double", "atr_14": "double", "obv": "double",
                               "natr_14": "double", "regime": "varchar"})
    registered = [feature("sma_20", "price"), feature("rsi_14"), feature("atr_14", "price_change"),
                  feature("obv", "volume"), feature("natr_14"), feature("regime"), feature("not_built")]
    assert numeric_features(warehouse, registered) == ["natr_14", "rsi_14"]


def test_the_registry_leaves_the_models_its_scale_free_numeric_features(tmp_path):
    """On the real registry: every numeric feature but the 23 in price, price-change or volume units."""
    registry = load_registry(DBT_PROJECT_DIR / "target" / "manifest.json")
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse_with(warehouse, {f.name: "varchar" if f.name.endswith("regime") else "double" for f in registry})
    chosen = numeric_features(warehouse, registry)
    assert {"sma_20", "ema_50", "bb_upper_20", "donchian_high_20", "atr_14", "macd_hist", "mom_10", "true_range",
            "linreg_slope_20", "obv", "ad_line"}.isdisjoint(chosen)
    assert {"rsi_14", "natr_14", "ppo_12_26", "bb_pctb_20", "keltner_pos_20", "ret_1", "volume_zscore_20",
            "cmf_20", "mfi_14", "htf_1h_rsi_14"} <= set(chosen)
    assert len(registry) - 4 == 75 and len(chosen) == 75 - 23  # 4 text regimes; 23 features with units
