"""Each model's key is tested by one `primary_key` test (tests/generic/primary_key.sql): it fails on
a duplicated key and on a NULL in any key column, as not_null on each key column plus a uniqueness test
did, in one query and one Dagster check instead of one per column. Views too: training reads
ml_training_set and the feature models int_bars_unioned, whose rows a join could repeat; like every data
test they check the run's window only (dbt_project.yml's `where`)."""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import TEST_DAYS, broken_rules, copy_data_dir, day_window_env, project_manifest, run_dbt


def test_every_model_has_a_primary_key_test_and_no_separate_key_tests():
    nodes = project_manifest()["nodes"].values()
    keys: dict[str, list[list[str]]] = {}
    for node in nodes:
        if node["resource_type"] == "test" and node.get("test_metadata", {}).get("name") == "primary_key":
            kwargs = node["test_metadata"]["kwargs"]
            keys.setdefault(node["attached_node"], []).append(kwargs.get("columns") or [kwargs["column_name"]])
    models = {n["unique_id"]: n for n in nodes if n["resource_type"] == "model"}
    assert {"view", "incremental"} <= {n["config"]["materialized"] for n in models.values()}
    assert set(models) <= set(keys), sorted(n["name"] for k, n in models.items() if k not in keys)
    # a second key is an alternate one (dim_instruments: (symbol, version) besides (symbol, valid_from_ms))
    # not_null on a key column would be the same check run twice (a query and a check event per day)
    doubled = []
    for n in nodes:
        name = n.get("test_metadata", {}).get("name") if n["resource_type"] == "test" else None
        listed = ([n.get("column_name")] if name in ("not_null", "unique")
                  else n["test_metadata"]["kwargs"].get("not_null", []) if name == "row_rules" else [])
        doubled += [(n["attached_node"], c) for c in listed if any(c in cols for cols in keys.get(n["attached_node"], []))]
    assert doubled == []


def failures(target) -> dict[str, int]:
    """{test name: failing rows} of the last dbt call in target (run_results.json)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["failures"] for r in results}


@pytest.mark.slow
def test_a_days_key_and_not_null_tests_fail_on_a_duplicate_a_null_key_part_and_a_null_date(
        built_first_day, tmp_path, monkeypatch):
    paths = copy_data_dir(built_first_day, tmp_path / "copy", monkeypatch)
    day = TEST_DAYS[0]
    window = day_window_env(day)
    target = paths.data_dir / "dbt_target"
    run_dbt(paths, "test", "--select", "bars_1d", env=window)  # the built day passes, as its run did
    with duckdb.connect(str(paths.warehouse)) as con:
        assert con.execute("select count(*) from bars_1d where bar_date = ?", [day]).fetchone()[0] > 0
        first = f"from bars_1d where bar_date = date '{day}' limit 1"
        con.execute(f"insert into bars_1d select * {first}")  # the same (symbol, bar_at_ms) twice
        con.execute(f"insert into bars_1d select * replace (null as symbol, bar_at_ms + 1 as bar_at_ms) {first}")
        # a row without its date: the day's window filter must keep it, or not_null could never see it
        con.execute(f"insert into bars_1d select * replace (null as bar_date, bar_at_ms + 2 as bar_at_ms) {first}")
    with pytest.raises(AssertionError):
        run_dbt(paths, "test", "--select", "bars_1d", env=window)
    failed = {name.split("_bars_1d")[0]: n for name, n in failures(target).items() if n}
    # the duplicate and the NULL symbol; the NULL bar_date (symbol is the key's, not a row rule's), which
    # is not the UTC day of its bar_at either: one failing row of the row rules, naming both rules it broke
    assert failed == {"primary_key": 2, "bars_1d_row_rules": 1}
    assert [rules for _symbol, rules in broken_rules(paths, target, "bars_1d_row_rules")] == [
        "bar_date is null, low_is_the_bottom_and_bar_date_its_utc_day"]
