"""`blofin-stack query` is read-only whatever the SQL text looks like: DuckDB's parser must find one
SELECT, and it runs on a read-only connection with external access off and the configuration locked.
A corpus of hostile statements (comment and quoting tricks, file readers, COPY/EXPORT/ATTACH, SET,
PRAGMA, CTEs that write, several statements) is refused with one line, nothing is written anywhere
(the snapshot, the lake and the data dir hashed before and after) and no secret reaches the output;
legitimate SQL that a keyword filter refused is answered."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import CLI

from blofin_cli.main import main
from python_assets.config import Paths
from python_assets.warehouse.query import READ_ONLY_CONFIG, open_read_only
from python_assets.warehouse.snapshot import publish_snapshot, snapshot_path

SECRETS = {"BLOFIN_API_KEY": "fake-api-key-7f3a9c", "BLOFIN_API_SECRET": "fake-api-secret-2b8d41",
           "BLOFIN_API_PASSPHRASE": "fake-passphrase-90ce", "BLOFIN_LLM_API_KEY": "fake-llm-key-5e17aa"}

HOSTILE = [
    # the text tricks that got past the regex filter: a comment marker inside a literal or identifier
    "select '--'; copy (select 42) to '{lake}' --'",
    "select $$--$$; copy (select 42) to '{lake}' (format parquet) --$$",
    "select '/*'; copy (select 42) to '{victim}/a.csv'; select '*/'",
    "select 1 as \"it's\"; copy (select 42) to '{victim}/b.csv' --'",
    "select '--'; copy (select 42) to '{systmp}.csv' --'",
    "export database '{victim}/exported'",
    # file readers, a local file holding the secrets, the process environment, another database
    "select * from read_text('/proc/self/environ')",
    "select content from read_blob('/proc/self/environ')",
    "select * from read_csv('/etc/passwd')",
    "select * from read_text('{victim}/secrets.csv')",
    "select * from read_csv('{victim}/secrets.csv')",
    "select * from read_csv_auto('{victim}/secrets.csv')",
    "select * from '{victim}/secrets.csv'",
    "from '{victim}/secrets.csv'",
    "select * from read_json_auto('{victim}/secrets.json')",
    "select * from read_ndjson_objects('{victim}/secrets.json')",
    "select * from sniff_csv('{victim}/secrets.csv')",
    "select * from glob('{victim}/*')",
    "select * from read_parquet('{lake}')",
    "select * from parquet_scan('{lake}')",
    "select * from parquet_metadata('{lake}')",
    "select * from '{lake}'",
    "select * from read_duckdb('{other}')",
    "select * from '{other}'",
    "select * from 'https://example.com/x.csv'",
    "select getenv('BLOFIN_API_SECRET')",
    "select current_setting('BLOFIN_LLM_API_KEY')",
    "select * from duckdb_secrets()",
    "select * from query('copy t to ''{victim}/q.csv''')",
    "select * from enable_logging()",
    # statements that write, attach, load or reconfigure
    "copy t to '{systmp}.csv'",
    "/* select */ COPY t TO '{lake}' (FORMAT parquet)",
    "-- select\ncopy t to '{victim}/c.csv'",
    "attach '{victim}/new.duckdb' as n",
    "attach ':memory:' as m",
    "detach warehouse_snapshot",
    "use memory",
    "checkpoint",
    "force checkpoint",
    "install httpfs",
    "load httpfs",
    "load '{victim}/evil.duckdb_extension'",
    "set enable_external_access = true",
    "reset lock_configuration",
    "set threads = 1",
    "set variable x = 1",
    "pragma version",
    "pragma profiling_output = '{victim}/profile.json'",
    "call enable_logging()",
    "call checkpoint()",
    "create temp table z as select 1",
    "create table z as select * from t",
    "create secret (type http, bearer_token 'x')",
    "insert into t values (3, 'c')",
    "update t set id = 9",
    "delete from t",
    "drop table t",
    "alter table t rename to u",
    "truncate t",
    "vacuum",
    "explain analyze copy t to '{victim}/d.csv'",
    # CTEs that write, several statements, case, comment and unicode tricks
    "with x as (select 1) insert into t select 1, 'z'",
    "with x as (select 1) delete from t",
    "with x as (select 1) update t set id = 9",
    "select 1; drop table t",
    "select 1; select 2",
    "SeLeCt 1; CoPy t To '{victim}/e.csv'",
    "select 1 /* ; */ ; copy t to '{victim}/f.csv'",
    "select 'é'; copy t to '{victim}/é.csv'",
    "select 1\uff1b drop table t",  # fullwidth semicolon
    "select 1\u037e drop table t",  # Greek question mark, looks like ';'
    "co\u200bpy t to '{victim}/g.csv'",  # zero-width space inside the keyword
    "selec * from t",
]

LEGITIMATE = [  # (sql, expected rows as JSON): every one refused by the keyword filter this replaces
    ("select replace('a-b', '-', '_') as s", [{"s": "a_b"}]),
    ("select 1 as load", [{"load": 1}]),
    ("select * replace (upper(name) as name) from t order by id", [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}]),
    ('select "drop" as "insert" from "set"', [{"insert": 7}]),
    ("select count(*) as \"delete\" from t", [{"delete": 2}]),
    ("select 1 as call, 2 as set, 3 as export", [{"call": 1, "set": 2, "export": 3}]),
    ("select id as checkpoint, name as install from t order by id",
     [{"checkpoint": 1, "install": "a"}, {"checkpoint": 2, "install": "b"}]),
    ("with load as (select 1 as attach) select attach as pragma from load", [{"pragma": 1}]),
    ("select 'drop table t; -- gone' as s", [{"s": "drop table t; -- gone"}]),
    ("select 'ü;😀 -- é' as s", [{"s": "ü;😀 -- é"}]),
    ("select '--' as a, '/*' as b, ';' as c, 'copy t to ''x.csv''' as d",
     [{"a": "--", "b": "/*", "c": ";", "d": "copy t to 'x.csv'"}]),
    ("select $$it's -- /* ; $$ as s", [{"s": "it's -- /* ; "}]),
    ("/* leading */ from t select name where name <> 'update' order by id; -- trailing", [{"name": "a"}, {"name": "b"}]),
    ("select name from duckdb_settings() where name = 'lock_configuration' and value = 'true'",
     [{"name": "lock_configuration"}]),
    ("select current_setting('TimeZone') as tz", [{"tz": "UTC"}]),
    ("select * from checkpoint()", []),  # a no-op on a read-only database: the hash check proves it
]


def fingerprint(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under root, and every directory as 'dir'."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Once per module (nothing may change it): a data dir with a published snapshot holding tables t
    and "set", a lake Parquet file, and files and a database holding the secrets. Returns the root
    and the corpus placeholders."""
    root = tmp_path_factory.mktemp("query")
    paths = Paths((root / "data").resolve())
    lake = paths.candles / "BTC-USDT" / "2025-03-10.parquet"
    lake.parent.mkdir(parents=True)
    victim = root / "victim"
    victim.mkdir()
    (victim / "secrets.csv").write_text("name,value\n" + "".join(f"{k},{v}\n" for k, v in SECRETS.items()))
    (victim / "secrets.json").write_text(json.dumps(SECRETS) + "\n")
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute("create table t as select * from (values (1, 'a'), (2, 'b')) v(id, name)")
        con.execute('create table "set" as select 7 as "drop"')
        con.execute(f"copy t to '{lake}' (format parquet)")
    with duckdb.connect(str(victim / "other.duckdb")) as con:
        con.execute("create table secrets as select * from read_csv(?)", [str(victim / "secrets.csv")])
    publish_snapshot(paths)
    return root, {"lake": str(lake), "victim": str(victim), "other": str(victim / "other.duckdb")}


@pytest.fixture
def stack(built, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The built data dir as BLOFIN_DATA_DIR, the fake secrets in the environment; the placeholders,
    with a fresh probe name in the system temp dir."""
    root, placeholders = built
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(root / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    systmp = Path(tempfile.gettempdir()) / f"blofin-query-probe-{uuid.uuid4().hex}"
    yield {**placeholders, "root": str(root), "systmp": str(systmp)}
    for leaked in systmp.parent.glob(systmp.name + "*"):  # only when a test failed: leave /tmp clean
        leaked.unlink()


def snapshot(stack: dict[str, str]) -> Path:
    return snapshot_path(Paths(Path(stack["root"], "data").resolve()))


def assert_nothing_leaked(text: str) -> None:
    for value in SECRETS.values():
        assert value not in text


def assert_nothing_written(before: dict[str, str], stack: dict[str, str]) -> None:
    """The data dir, lake, snapshot and victim files unchanged; no probe file in the system temp dir."""
    assert fingerprint(Path(stack["root"])) == before
    probe = Path(stack["systmp"])
    assert not list(probe.parent.glob(probe.name + "*"))


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_statements_are_refused_and_change_nothing(stack, capsys, template):
    sql = template.format(**stack)
    before = fingerprint(Path(stack["root"]))
    assert main(["query", sql, "--format", "json"]) in (1, 2)
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert_nothing_leaked(out + err)
    assert_nothing_written(before, stack)


def test_the_corpus_covers_at_least_forty_statements():
    assert len(HOSTILE) >= 40 and len(LEGITIMATE) >= 10


@pytest.mark.parametrize(("sql", "rows"), LEGITIMATE)
def test_legitimate_queries_are_answered(stack, capsys, sql, rows):
    before = fingerprint(Path(stack["root"]))
    assert main(["query", sql, "--format", "json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out) == rows
    assert_nothing_written(before, stack)


@pytest.mark.parametrize("template", [
    "copy t to '{lake}' (format parquet)", "export database '{victim}/exported'", "attach '{victim}/new.duckdb'",
    "install httpfs", "load httpfs", "set enable_external_access = true", "reset lock_configuration",
    "pragma profiling_output = '{victim}/profile.json'", "insert into t values (3, 'c')",
    "select * from read_text('{victim}/secrets.csv')", "select * from read_csv('/etc/passwd')",
    "select * from glob('{victim}/*')", "select * from '{other}'",
])
def test_the_connection_itself_refuses_what_the_parser_check_would(stack, template):
    """The second wall alone: statements sent straight to the connection, past the SELECT check."""
    before = fingerprint(Path(stack["root"]))
    with open_read_only(snapshot(stack)) as con, pytest.raises(duckdb.Error):
        con.execute(template.format(**stack)).fetchall()
    assert_nothing_written(before, stack)


def test_a_plain_connection_would_have_leaked_so_the_checks_can_fail(stack):
    """Sanity: without the locked connection the same reader returns the secret the tests look for."""
    with duckdb.connect(str(snapshot(stack)), read_only=True) as con:
        text = con.execute("select content from read_text(?)", [f"{stack['victim']}/secrets.csv"]).fetchone()[0]
    assert SECRETS["BLOFIN_API_SECRET"] in text


def test_python_variables_are_not_scanned_by_name(stack):
    df = pd.DataFrame({"secret": [SECRETS["BLOFIN_API_SECRET"]]})  # noqa: F841  (what a replacement scan would find)
    with open_read_only(snapshot(stack)) as con, pytest.raises(duckdb.CatalogException):
        con.execute("select * from df").fetchall()


def test_a_query_larger_than_memory_fails_instead_of_spilling_beside_the_snapshot(stack):
    before = fingerprint(Path(stack["root"]))
    config = {**READ_ONLY_CONFIG, "memory_limit": "16MB", "threads": 1}
    with duckdb.connect(str(snapshot(stack)), read_only=True, config=config) as con:
        with pytest.raises(duckdb.OutOfMemoryException):
            con.execute("select count(*) from (select md5(i::varchar) h from range(1000000) r(i) order by h)").fetchall()
        assert not snapshot(stack).with_suffix(".duckdb.tmp").exists()  # DuckDB removes its spill folder on close
    assert_nothing_written(before, stack)


def test_the_cli_refuses_file_readers_and_still_answers(stack, tmp_path):
    """Through the real entry point, the secrets in its startup environment (so /proc/self/environ
    holds them) and TMPDIR on an empty folder that must stay empty."""
    env = {**os.environ, **SECRETS, "TMPDIR": str(tmp_path)}
    before = fingerprint(Path(stack["root"]))
    run = lambda *args: subprocess.run([*CLI, "query", *args], env=env, capture_output=True, text=True)  # noqa: E731
    environ = run("select content from read_text('/proc/self/environ')")
    assert environ.returncode == 1 and "disabled by configuration" in environ.stderr, environ.stderr
    answered = run("select * replace (upper(name) as name) from t order by id", "--format", "csv")
    assert answered.returncode == 0 and answered.stdout.splitlines() == ["id,name", "1,A", "2,B"], answered.stderr
    for proc in (environ, answered):
        assert_nothing_leaked(proc.stdout + proc.stderr)
        assert "Traceback" not in proc.stderr
    assert_nothing_written(before, stack)
    assert not list(tmp_path.iterdir())
