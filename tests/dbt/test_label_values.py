"""labels_h12's values against an independent reference (label_reference.py) on awkward series."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from conftest import run_dbt
from label_reference import awkward_candles, differences, reference_labels

from python_assets.config import Paths
from python_assets.lake.store import write_candles


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bars, labels_h12) of the awkward candles, labels_h12 and what it reads built once."""
    paths = Paths(tmp_path_factory.mktemp("labels") / "data")
    for symbol, candles in awkward_candles().items():
        write_candles(paths, symbol, "1m", candles)
    run_dbt(paths, "run", "--select", "+labels_h12")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        bars = con.execute("select symbol, timeframe, timeframe_ms, bar_at_ms, low, close from int_bars_unioned").df()
        labels = con.execute("select * from labels_h12").df()
    return bars, labels


def test_every_label_column_matches_the_reference(built):
    """Missing bars, flat runs, prices near 1e-8, a 100x trend, a wipe-out, a late listing: every column
    equal to the reference (values to 1e-12, classes and times exactly), NULL where it is NULL."""
    bars, labels = built
    assert len(labels) == len(bars) and labels["fwd_adverse_12"].notna().sum() > 10_000
    found = differences(labels, reference_labels(bars))
    assert found == {}, {k: v.head(5).to_string() for k, v in found.items()}


def test_a_flat_market_is_not_an_adverse_move(built):
    """sigma_h is 0 after 100 flat bars; a low that stays at the close has not fallen beyond it (the flag
    was 1 on every such bar: `<=` against -0)."""
    labels = built[1]
    flat = labels[(labels["sigma_h"] == 0) & (labels["fwd_mae_12"] == 0)]
    assert len(flat) > 100
    assert (flat["fwd_adverse_12"] == 0).all() and (flat["fwd_momentum_class_12"] == 1).all()
