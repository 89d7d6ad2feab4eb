"""What dbt leaves in the warehouse for plain SQL users, written with fewer statements: the yml descriptions as
comments (macros/persist_docs.sql writes only those that differ) and the columns dbt reads back (blofin-dbt's
direct get_columns_in_relation, dagster_defs/dbt/duckdb_dbt.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from conftest import TEST_DAYS, copy_data_dir, day_window_env, project_manifest, run_dbt

from dagster_defs.dbt.duckdb_dbt import dbt_duckdb_macros, macro_is_copied
from python_assets.config import Paths


def stale_comments(warehouse: Path, manifest: dict) -> list[str]:
    """Each model relation whose comment is not its description in manifest, and each documented column of one
    whose comment is not the column's description ('<relation>' / '<relation>.<column>', sorted)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        relations = dict(con.execute(
            "select table_name, comment from duckdb_tables() where schema_name = 'main' union all "
            "select view_name, comment from duckdb_views() where schema_name = 'main'").fetchall())
        columns = {(t, c): comment for t, c, comment in con.execute(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'main'").fetchall()}
    stale, seen = [], 0
    for node in manifest["nodes"].values():
        name = node.get("alias") or node["name"]
        if node["resource_type"] != "model" or name not in relations:
            continue
        seen += 1
        if relations[name] != node["description"]:
            stale.append(name)
        stale += [f"{name}.{c}" for c, col in node["columns"].items()
                  if (name, c) in columns and columns[(name, c)] != col["description"]]
    assert seen > 40, seen  # the warehouse's models were there to compare
    return sorted(stale)


def test_every_model_and_column_carries_its_description_after_two_daily_runs(built_two_days):
    """The second day's incremental models found their comments in place and wrote none: the end state is dbt's."""
    assert stale_comments(built_two_days.warehouse, project_manifest()) == []


def comment_statements(log: Path) -> list[str]:
    """'<relation>' / '<relation>.<column>' of each comment statement in a dbt debug log."""
    found = re.findall(r'comment on (?:table|view|column) "warehouse"\."main"\."(\w+)"(?:\.(\w+))?', log.read_text())
    return sorted(table + (f".{column}" if column else "") for table, column in found)


def test_a_comment_changed_by_hand_is_written_again_and_one_in_place_is_not(built_first_day, tmp_path, monkeypatch):
    paths: Paths = copy_data_dir(built_first_day, tmp_path / "data", monkeypatch)
    manifest = project_manifest()
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute("comment on table bars_5m is 'changed by hand'")
        con.execute("comment on column feat_price.close_zscore_20 is null")
        con.execute("comment on column bars_1m.volume is ''")
    assert stale_comments(paths.warehouse, manifest) == ["bars_1m.volume", "bars_5m", "feat_price.close_zscore_20"]
    logs = tmp_path / "logs"
    run_dbt(paths, "run", "--select", "bars_1m", "bars_5m", "bars_1h", "feat_price", "stg_funding_rates",
            "--log-path", str(logs), "--log-format-file", "debug", env=day_window_env(TEST_DAYS[0]))
    assert stale_comments(paths.warehouse, manifest) == []
    written = comment_statements(logs / "dbt.log")
    view = manifest["nodes"]["model.blofin_stack.stg_funding_rates"]
    # the view is made again (without comments): all of them; the tables only what was changed; bars_1h none
    assert written == sorted(["bars_1m.volume", "bars_5m", "feat_price.close_zscore_20", "stg_funding_rates",
                              *(f"stg_funding_rates.{c}" for c in view["columns"])])


COLUMNS_BOTH_WAYS = """
{%- set out = {} -%}
{%- for schema, name in [('main', 'wide'), ('main', 'derived'), ('other', 'wide'), ('main', 'missing')] -%}
{%- set r = api.Relation.create(database='warehouse', schema=schema, identifier=name) -%}
{%- set direct = adapter.get_columns_in_relation(r) | map('string') | list -%}
{%- set by_macro = (duckdb__get_columns_in_relation(r) | map('string') | list) if name != 'missing' else [] -%}
{%- do out.update({schema ~ '.' ~ name: [direct, by_macro]}) -%}
{%- endfor -%}
{%- do out.update({'direct': adapter.get_columns_in_relation.direct is sameas true}) -%}
select '{{ tojson(out) }}'
"""


def test_columns_read_directly_are_those_of_dbt_duckdbs_macro(data_dir):
    with duckdb.connect(str(data_dir.warehouse)) as con:
        con.execute('create table wide (id bigint, "Mixed Case" varchar, price decimal(18, 6), tags varchar[], '
                    "s struct(a int, b varchar), ts timestamp, ok boolean)")
        con.execute("create view derived as select id, price * 2 as doubled, s.a from wide")
        con.execute("create schema other")
        con.execute("create table other.wide (x double)")
    out = run_dbt(data_dir, "compile", "--quiet", "--inline", COLUMNS_BOTH_WAYS).stdout
    found = json.loads(re.search(r"select '(.*)'", out).group(1))
    assert found.pop("direct") is True  # the dbt call (served or not) read the columns directly
    for relation, (direct, by_macro) in found.items():
        assert direct == by_macro, relation
    wide = found["main.wide"][0]
    assert len(wide) == 7 and "DuckDBColumn(column='Mixed Case', dtype='VARCHAR'" in wide[1]
    assert len(found["main.derived"][0]) == 3 and len(found["other.wide"][0]) == 1
    assert found["main.missing"][0] == []  # as dbt-duckdb's own method: no relation, no columns


def test_the_columns_are_read_directly_only_while_dbt_duckdbs_macro_runs_the_query_copied(tmp_path):
    assert macro_is_copied(dbt_duckdb_macros())
    changed = tmp_path / "adapters.sql"
    changed.write_text(dbt_duckdb_macros().read_text().replace("column_type as data_type", "data_type"))
    assert not macro_is_copied(changed)
    assert not macro_is_copied(tmp_path / "missing.sql")


def test_the_project_overrides_no_macro_the_direct_columns_would_bypass():
    names = [m["name"] for m in project_manifest()["macros"].values() if m["package_name"] == "blofin_stack"]
    assert [n for n in names if n.endswith("get_columns_in_relation")] == []
