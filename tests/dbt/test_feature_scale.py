"""Feature scale: the registry's `scale` mark against the real feature SQL. A symbol and its copy with every
price and size x1024 (the same market quoted in other units) must give the same value of every unmarked
feature; a marked one must differ. The ML models pool symbols priced ~1 to ~20k, so they take only the
unmarked (scale-free) features: a new feature in price or volume units without the mark fails here."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import run_dbt

from python_assets.config import DBT_PROJECT_DIR, Paths
from python_assets.features.registry import load_registry
from python_assets.ingest.synthetic import generate_ticks
from python_assets.lake.store import write_trades

# a power of two: float scaling is exact, so moves equal on the tick grid stay equal in the copy (the DI/ADX
# tie rule, up > down, would otherwise flip on float noise that x1000 adds); still ~1000x in size, which any
# absolute epsilon or level would show
SYMBOL, SCALED, FACTOR = "SOL-USDT", "SOLK-USDT", 1024.0
DAYS = [date(2025, 3, 4) + timedelta(days=i) for i in range(3)]


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> pd.DataFrame:
    """features of SYMBOL and SCALED joined on (timeframe, bar_at_ms): columns <name> and <name>_scaled."""
    paths = Paths(tmp_path_factory.mktemp("scale") / "data")
    for day in DAYS:
        ticks = generate_ticks(SYMBOL, day)
        write_trades(paths, SYMBOL, ticks)
        write_trades(paths, SCALED, ticks.assign(price=ticks["price"] * FACTOR, size=ticks["size"] * FACTOR))
    run_dbt(paths, "run", "--select", "+features")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        feats = con.execute("select * from features order by timeframe, bar_at_ms").df()
    base, scaled = (feats[feats["symbol"] == s].drop(columns="symbol") for s in (SYMBOL, SCALED))
    return base.merge(scaled, on=["timeframe", "bar_at_ms"], suffixes=("", "_scaled"), validate="one_to_one")


def numeric_registry() -> list:
    return [f for f in load_registry(DBT_PROJECT_DIR / "target" / "manifest.json") if not f.is_text]


def test_the_features_marked_varchar_are_the_text_columns_of_the_sql(pair):
    """Strategy specs type-check conditions by the registry's data_type: a text feature left unmarked would be
    compared with numbers again (a ConversionException inside the warehouse build), a marked number refused."""
    registry = load_registry(DBT_PROJECT_DIR / "target" / "manifest.json")
    text = sorted(f.name for f in registry if pd.api.types.is_object_dtype(pair[f.name]) or pd.api.types.is_string_dtype(pair[f.name]))
    assert text == sorted(f.name for f in registry if f.is_text)


def invariant(a: pd.Series, b: pd.Series) -> bool:
    """Same NULLs and the same values to float rounding (sums and roots of the scaled copy round differently)."""
    x, y = a.to_numpy(np.float64, na_value=np.nan), b.to_numpy(np.float64, na_value=np.nan)
    return bool(np.array_equal(np.isnan(x), np.isnan(y)) and np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True))


def test_the_scaled_copy_has_the_same_bars(pair):
    assert len(pair) > 1000
    assert np.allclose(pair["close_scaled"], pair["close"] * FACTOR, rtol=1e-9)


def test_every_unmarked_feature_is_unchanged_when_prices_and_volumes_are_scaled(pair):
    moved = [f.name for f in numeric_registry() if f.scale is None and not invariant(pair[f.name], pair[f.name + "_scaled"])]
    assert moved == [], f"features in price or volume units without a scale mark in _features.yml: {moved}"


def test_every_marked_feature_changes_when_prices_and_volumes_are_scaled(pair):
    """A mark drops the feature from the ML set: only one that really carries units may have it."""
    kept = [f.name for f in numeric_registry() if f.scale is not None and invariant(pair[f.name], pair[f.name + "_scaled"])]
    assert kept == [], f"scale-free features marked as carrying units: {kept}"

