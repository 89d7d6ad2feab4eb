"""Each table model's key is tested by one `primary_key` test (tests/generic/primary_key.sql): it fails on
a duplicated key and on a NULL in any key column, as not_null on each key column plus a uniqueness test
did, in one query and one Dagster check instead of one per column."""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import copy_data_dir, run_dbt

from python_assets.config import DBT_PROJECT_DIR


def manifest() -> dict:
    return json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())


def test_every_table_model_has_a_primary_key_test_and_no_separate_key_tests():
    nodes = manifest()["nodes"].values()
    keys: dict[str, list[list[str]]] = {}
    for node in nodes:
        if node["resource_type"] == "test" and node.get("test_metadata", {}).get("name") == "primary_key":
            kwargs = node["test_metadata"]["kwargs"]
            keys.setdefault(node["attached_node"], []).append(kwargs.get("columns") or [kwargs["column_name"]])
    tables = {n["unique_id"]: n for n in nodes if n["resource_type"] == "model"
              and n["config"]["materialized"] in ("table", "incremental")}
    assert tables and set(tables) <= set(keys), sorted(n["name"] for k, n in tables.items() if k not in keys)
    # a second key is an alternate one (dim_instruments: (symbol, version) besides (symbol, valid_from_ms))
    # not_null on a key column would be the same check run twice (a query and a check event per day)
    doubled = [(n["attached_node"], n["column_name"]) for n in nodes if n["resource_type"] == "test"
               and n.get("test_metadata", {}).get("name") in ("not_null", "unique")
               and any(n.get("column_name") in cols for cols in keys.get(n.get("attached_node"), []))]
    assert doubled == []


@pytest.mark.slow
def test_primary_key_fails_on_a_duplicate_and_on_a_null_key_part(built_first_day, tmp_path, monkeypatch):
    paths = copy_data_dir(built_first_day, tmp_path / "copy", monkeypatch)
    select = ["--select", "bars_1d,test_name:primary_key"]  # no window: every row is tested
    run_dbt(paths, "test", *select)  # the built day passes
    with duckdb.connect(str(paths.warehouse)) as con:
        assert con.execute("select count(*) from bars_1d").fetchone()[0] > 0
        con.execute("insert into bars_1d select * from bars_1d limit 1")  # the same (symbol, bar_at_ms) twice
        con.execute("insert into bars_1d select * replace (null as symbol, bar_at_ms + 1 as bar_at_ms) "
                    "from bars_1d limit 1")  # a key part missing
    with pytest.raises(AssertionError, match="Got 2 results"):
        run_dbt(paths, "test", *select)
