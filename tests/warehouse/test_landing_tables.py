"""Every landing table is created one way: its DDL lives in its domain's store module, and the dbt macro
that runs before every dbt run is generated from exactly those statements."""

from __future__ import annotations

import re

import duckdb

from dagster_defs.dbt.project import landing_tables
from python_assets.warehouse.landing import MACRO_FILE, landing_ddl, render_macro


def test_the_dbt_macro_is_generated_from_the_store_modules():
    assert MACRO_FILE.read_text() == render_macro(), "rerun: python -m python_assets.warehouse.landing"


def test_the_statements_create_exactly_the_declared_landing_tables_and_can_run_again():
    statements = [s for module in landing_ddl().values() for s in module]
    # idempotent kinds only: a create, an added column, a not-null dropped, a sign flip of the values still > 0
    # (a one-time conversion), or the fill of an added column's NULLs (oos_start_ms of bred designs, once)
    shapes = [re.match(r"\s*(create table if not exists|alter table \w+ add column if not exists) ", s)
              or re.fullmatch(r"alter table \w+ alter column \w+ drop not null", s)
              or re.fullmatch(r"update \w+ set (\w+) = -\1 where \1 > 0", s)
              or re.fullmatch(r"update strategy_tuning set oos_start_ms = greatest\(.*\) from strategy_designs d\s+"
                              r"where strategy_tuning\.oos_start_ms is null and .*", s, re.S) for s in statements]
    assert all(shapes), [s[:60] for s, m in zip(statements, shapes) if not m]
    con = duckdb.connect()
    for _ in range(2):  # before every dbt run, and again by each store before it writes
        for s in statements:
            con.execute(s)
    created = sorted(r[0] for r in con.execute("select table_name from information_schema.tables").fetchall())
    assert created == landing_tables()  # each declared dbt source in schema main, and nothing else


def test_the_hook_runs_the_generated_macro_and_no_store_reads_dbt_files_for_its_ddl():
    from python_assets.config import DBT_PROJECT_DIR, REPO_ROOT

    hooks = (DBT_PROJECT_DIR / "dbt_project.yml").read_text()
    assert "{{ create_landing_tables() }}" in hooks
    for module in landing_ddl():  # the statements are Python constants, not text cut out of a dbt macro
        source = (REPO_ROOT / module).read_text()
        assert '"macros"' not in source and "-ddl:begin" not in source, module
