"""blofin-dbt: a saved parse is reused in another data dir (dbt alone parses the whole project again
there), and still refused where the parse could differ: another warehouse file name (the models'
database), another profile target."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from conftest import dbt_bin

from dagster_defs.dbt import duckdb_dbt
from dagster_defs.dbt.duckdb_dbt import DATA_DIR_PLACEHOLDER, profile_key
from python_assets.config import DBT_PROJECT_DIR


def test_the_profile_key_leaves_out_only_the_data_dir():
    def info(data_dir: str, name: str = "warehouse") -> list[tuple[str, object]]:
        return [("path", f"{data_dir}/{name}.duckdb"), ("database", name), ("schema", "main"),
                ("settings", {"TimeZone": "UTC", "file_search_path": data_dir})]

    assert profile_key(info("/tmp/a/data")) == profile_key(info("/srv/other place/data"))
    assert profile_key(info("/tmp/a/data/")) == profile_key(info("/tmp/b/data"))  # BLOFIN_DATA_DIR with a trailing /
    assert DATA_DIR_PLACEHOLDER in profile_key(info("/tmp/a/data")) and "/tmp/a" not in profile_key(info("/tmp/a/data"))
    assert profile_key(info("/tmp/a/data")) != profile_key(info("/tmp/a/data", "docs_warehouse"))
    assert profile_key(info("/tmp/a/data")) != profile_key([*info("/tmp/a/data")[:2], ("schema", "other"),
                                                            info("/tmp/a/data")[3]])
    no_search_path = [("path", "/x/warehouse.duckdb"), ("settings", None)]  # another profile: compared as is
    assert profile_key(no_search_path) != profile_key([("path", "/y/warehouse.duckdb"), ("settings", None)])
    elsewhere = [("path", "/elsewhere/warehouse.duckdb"), ("settings", {"file_search_path": "/tmp/a/data"})]
    assert profile_key(elsewhere) != profile_key([("path", "/other/warehouse.duckdb"),  # a warehouse outside the data dir
                                                  ("settings", {"file_search_path": "/tmp/b/data"})])
    # only the data dir's own places are masked: a value that merely contains its text is compared as is
    assert profile_key([*info("/a"), ("schema", "/a")]) != profile_key([*info("/b"), ("schema", "/b")])


def parse(data_dir: Path, seed: Path | None, **env: str) -> str:
    """`blofin-dbt parse` with data_dir as BLOFIN_DATA_DIR and seed's saved parse in its target dir; how dbt
    described the parse (its log's partial-parsing message)."""
    target = data_dir / "dbt_target"
    target.mkdir(parents=True)
    if seed is not None:
        shutil.copy(seed, target / "partial_parse.msgpack")
    environment = {**os.environ, "BLOFIN_DATA_DIR": str(data_dir), **env}
    subprocess.run([dbt_bin(), "parse", "--profiles-dir", ".", "--target-path", str(target), "--log-path", str(target),
                    "--log-format-file", "json"], cwd=DBT_PROJECT_DIR, env=environment, check=True, capture_output=True)
    messages = [json.loads(line)["info"]["msg"] for line in (target / "dbt.log").read_text().splitlines()]
    return next(m for m in messages if "partial pars" in m.lower())


def manifest(data_dir: Path) -> dict:
    """The parse's manifest.json without what says when it was made (metadata, each node's created_at)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "created_at"}
        return [strip(v) for v in value] if isinstance(value, list) else value

    body = json.loads((data_dir / "dbt_target" / "manifest.json").read_text())
    body.pop("metadata")
    return strip(body)


def test_a_saved_parse_is_reused_in_another_data_dir_and_refused_where_it_could_differ(tmp_path):
    first, second, elsewhere = (tmp_path / name / "data" for name in ("one", "two", "elsewhere"))
    assert "saved manifest not found" in parse(first, None)
    saved = first / "dbt_target" / "partial_parse.msgpack"
    assert parse(elsewhere, saved).startswith("Partial parsing enabled")
    # what makes the reuse right: parsed from scratch in another data dir, the project is the same
    # manifest (nothing parsed reads target.path or target.settings), and the reused one is that too
    assert "saved manifest not found" in parse(second, None)
    assert manifest(first) == manifest(second) == manifest(elsewhere)
    assert str(first) not in (first / "dbt_target" / "manifest.json").read_text()
    other_file = str(tmp_path / "docs_warehouse.duckdb")  # `make docs`: the models' database is named after it
    assert "profile has changed" in parse(tmp_path / "docs" / "data", saved, BLOFIN_WAREHOUSE=other_file)


def test_the_parse_under_dagster_dev_leaves_a_saved_parse_other_data_dirs_reuse(tmp_path, monkeypatch):
    """`dagster dev` (make ui) parses the project when its code loads; with plain dbt that saved parse
    was tied to the UI's data dir, and every later dbt call in another data dir parsed from scratch."""
    from dagster_dbt import DbtProject

    from dagster_defs.resources import BlofinDbtProjectPreparer

    target = tmp_path / "target"  # not dbt_project/target, which other tests read
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=target)
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / "ui" / "data"))
    BlofinDbtProjectPreparer().prepare_if_dev(project)
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI")
    assert (target / "manifest.json").exists()
    assert parse(tmp_path / "run" / "data", target / "partial_parse.msgpack").startswith("Partial parsing enabled")


def test_dbt_project_prepares_with_blofin_dbt_under_dagster_dev(monkeypatch):
    """The wiring: under `dagster dev`, dbt_project() parses through our preparer, not dagster-dbt's own
    (which runs plain dbt). No dbt runs here: both preparers' parse steps are replaced by recorders."""
    from dagster_dbt import DagsterDbtProjectPreparer

    from dagster_defs.dbt.project import dbt_project
    from dagster_defs.resources import BlofinDbtProjectPreparer

    calls = []
    monkeypatch.setattr(DagsterDbtProjectPreparer, "_prepare_manifest", lambda self, project: calls.append("dbt"))
    monkeypatch.setattr(BlofinDbtProjectPreparer, "_prepare_manifest", lambda self, project: calls.append("blofin-dbt"))
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    dbt_project.__wrapped__()  # a new project, not the process's cached one
    assert calls == ["blofin-dbt"]


def test_only_calls_that_run_nodes_outside_the_project_target_skip_the_manifest(monkeypatch, tmp_path):
    """blofin-dbt's write_manifest: a build/run/test/seed/snapshot into a data dir's target writes none and
    removes one an earlier call left (a build through it leaves run_results.json and no manifest:
    test_warm_dbt.py); into the project's target dir, which Dagster reads, and for any other command (a
    parse: the tests above) it is dbt's own write. Checked against the pinned dbt's two names, with dbt's
    write replaced by a recorder."""
    from types import SimpleNamespace

    import dbt.flags
    import dbt.parser.manifest
    import dbt.task.runnable

    written = []
    dbt_write = lambda manifest, target_path, which=None: written.append(target_path)  # noqa: E731
    for module in (dbt.parser.manifest, dbt.task.runnable):  # restored by monkeypatch after the test
        monkeypatch.setattr(module, "write_manifest", dbt_write)
    duckdb_dbt.prepare()
    write = dbt.task.runnable.write_manifest
    assert write is dbt.parser.manifest.write_manifest and write is not dbt_write
    duckdb_dbt.prepare()  # a second time in one process: not wrapped twice
    assert dbt.task.runnable.write_manifest is write
    stale = [tmp_path / "manifest.json", tmp_path / "semantic_manifest.json"]
    for path in stale:
        path.write_text("{}")
    monkeypatch.setattr(dbt.flags, "get_flags", lambda: SimpleNamespace(WHICH="build"))
    write(None, str(tmp_path))
    assert written == [] and not any(path.exists() for path in stale)
    write(None, str(DBT_PROJECT_DIR / "target"))
    assert written == [str(DBT_PROJECT_DIR / "target")]
    monkeypatch.setattr(dbt.flags, "get_flags", lambda: SimpleNamespace(WHICH="parse"))
    write(None, str(tmp_path))
    assert written[-1] == str(tmp_path)
