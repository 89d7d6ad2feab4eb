"""The table exchange with another engine (dbt on Spark): landing tables out as Parquet, built models back."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from python_assets.warehouse.connection import export_tables, import_tables


def landing(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        create table strategy_specs (strategy_id varchar, params json, created_at timestamptz, size decimal(38, 12),
                                     active boolean);
        insert into strategy_specs values ('a(x=1)', '{"x": 1}', '2025-03-10 01:02:03+00', 1.5, true),
                                          ('b', null, null, null, false);
        create table empty_landing (k bigint, v double);
        create view a_view as select 1 as k;
    """)


def test_export_writes_each_existing_table_whole_as_parquet_with_json_as_text(tmp_path: Path):
    with duckdb.connect() as con:
        landing(con)
        written = export_tables(con, ["strategy_specs", "empty_landing", "a_view", "not_there"], tmp_path)
    assert written == ["empty_landing", "strategy_specs"]  # views and absent names are not landing tables
    specs = pq.read_table(tmp_path / "strategy_specs" / "part-0.parquet")
    assert specs.num_rows == 2 and str(specs.schema.field("params").type) == "string"
    assert specs.column("params").to_pylist() == ['{"x": 1}', None]
    assert specs.schema.field("created_at").type.tz == "UTC"  # a UTC instant, not a wall-clock time
    empty = pq.read_table(tmp_path / "empty_landing" / "part-0.parquet")
    assert empty.num_rows == 0 and empty.schema.names == ["k", "v"]  # the schema travels without rows
    assert not list(tmp_path.glob(".*"))  # no staging folder left behind


def test_a_second_export_replaces_the_folder(tmp_path: Path):
    with duckdb.connect() as con:
        landing(con)
        export_tables(con, ["strategy_specs"], tmp_path)
        (tmp_path / "strategy_specs" / "stale.parquet").write_bytes(b"x")
        con.execute("delete from strategy_specs where strategy_id = 'b'")
        export_tables(con, ["strategy_specs"], tmp_path)
    assert [f.name for f in (tmp_path / "strategy_specs").iterdir()] == ["part-0.parquet"]
    assert pq.read_table(tmp_path / "strategy_specs").num_rows == 1


def test_import_replaces_tables_and_views_with_what_the_engine_built(tmp_path: Path):
    export = tmp_path / "export"
    export.mkdir()
    with duckdb.connect() as source:
        source.execute("create table features as select 1 as k, 2.5 as x union all select 2, null")
        source.execute(f"copy features to '{export / 'features'}' (format parquet, per_thread_output true)")
        source.execute("create table report_strategies as select 'a' as strategy_id")
        (export / "report_strategies").mkdir(parents=True)
        source.execute(f"copy report_strategies to '{export / 'report_strategies' / 'part-00000.parquet'}' (format parquet)")
    (export / "no_files").mkdir()
    with duckdb.connect() as con:
        con.execute("create view features as select 0 as k, 0.0 as x")  # the DuckDB build's view
        con.execute("create table report_strategies as select 'old' as strategy_id")
        assert import_tables(con, export) == ["features", "report_strategies"]
        assert con.execute("select k, x from features order by k").fetchall() == [(1, 2.5), (2, None)]
        assert con.execute("select table_type from information_schema.tables where table_name = 'features'").fetchone()[0] == "BASE TABLE"
        assert con.execute("select * from report_strategies").fetchall() == [("a",)]
        assert import_tables(con, tmp_path / "nothing") == []
