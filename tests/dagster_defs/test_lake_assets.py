"""Every lake asset sits in the ingest group with a description, the recorder's datasets included (they were
undescribed assets in 'default', made up by Dagster for the dbt sources' keys)."""

from __future__ import annotations

import dagster as dg


def test_every_lake_asset_is_described_and_in_the_ingest_group():
    from dagster_defs.definitions import defs

    graph = defs.resolve_asset_graph()
    lake = [key for key in graph.get_all_asset_keys() if key.to_user_string().startswith("lake_")]
    assert {"lake_books", "lake_instruments", "lake_mark_prices", "lake_recorder_gaps", "lake_recorder_segments",
            "lake_trades"} <= {key.to_user_string() for key in lake}
    for key in lake:
        node = graph.get(key)
        assert node.group_name == "ingest", key
        assert node.description, key
    assert not graph.get(dg.AssetKey("lake_books")).is_materializable  # the recorder writes it, not a run
