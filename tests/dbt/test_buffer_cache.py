"""A one-thread dbt run hands DuckDB's cached table blocks back after each model (macros/buffer_cache.sql):
the statements it runs evict the cache and restore the limit exactly, and it runs only where that is safe."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
from conftest import dbt_bin, seed_partial_parse

from python_assets.config import DBT_PROJECT_DIR

HOOK = "reset memory_limit"
CACHED = "select coalesce(sum(memory_usage_bytes), 0) from duckdb_memory() where tag = 'BASE_TABLE'"
KEPT = "select coalesce(sum(memory_usage_bytes), 0) // 1048576 from duckdb_memory() where tag <> 'BASE_TABLE'"


def limit(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_setting('memory_limit')").fetchone()[0]


def test_the_hooks_statements_evict_the_cached_blocks_and_restore_the_limit_exactly(tmp_path):
    """What the macro relies on in the pinned DuckDB: a limit 64 MiB above the in-memory tables evicts the
    cached blocks of a file's tables down to 64 MiB (not the in-memory table, which would spill), and RESET
    gives the default back to the byte (setting its printed value back would not: '18.8 GiB' reads back as
    '18.7 GiB')."""
    path = tmp_path / "cache.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select random() as a, random() as b, random() as c from range(8000000)")
    with duckdb.connect(str(path)) as con:
        default = limit(con)
        con.execute("create temp table kept as select range as i from range(1000000)")
        assert con.execute("select sum(a + b + c), count(*) from t").fetchone()[1] == 8_000_000
        assert con.execute(CACHED).fetchone()[0] > 150 * 2**20
        kept = con.execute(KEPT).fetchone()[0]
        con.execute(f"set memory_limit = '{kept + 64}MiB'; reset memory_limit")
        assert con.execute(CACHED).fetchone()[0] <= 64 * 2**20
        assert limit(con) == default
        assert con.execute("select count(*) from kept").fetchone()[0] == 1_000_000
        spilled = con.execute("select coalesce(sum(temporary_storage_bytes), 0) from duckdb_memory()").fetchone()[0]
        assert spilled == 0


def hook_ran(paths, *args: str, profiles: Path = DBT_PROJECT_DIR, model: str = "bt_trade_stats") -> bool:
    """Whether a dbt run of one model (an incremental table over the empty ledger tables on-run-start creates,
    unless another is named) ran the hook."""
    logs = paths.data_dir / f"logs_{len(list(paths.data_dir.glob('logs_*')))}"
    target = paths.data_dir / "dbt_target"
    seed_partial_parse(target)
    done = subprocess.run([dbt_bin(), "run", "--select", model, "--log-path", str(logs), *args,
                           "--profiles-dir", str(profiles), "--target-path", str(target)], cwd=DBT_PROJECT_DIR,
                          env={**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    return HOOK in (logs / "dbt.log").read_text()


def test_a_one_thread_run_runs_the_hook_and_a_two_thread_one_or_a_profiles_own_limit_does_not(data_dir, tmp_path):
    assert hook_ran(data_dir, "--threads", "1")
    assert not hook_ran(data_dir)  # the profile's two threads: another model's query may be running
    assert not hook_ran(data_dir, "--threads", "1", model="stg_funding_rates")  # a view: creating it cached nothing
    text = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    own = {"settings": text.replace("        TimeZone: UTC\n", "        TimeZone: UTC\n        Max_Memory: '2GB'\n", 1),
           "config_options": text.replace("      threads: 2\n", "      threads: 2\n      config_options:\n"
                                                                 "        memory_limit: '2GB'\n", 1)}
    for where, pinned in own.items():  # RESET would drop the profile's limit
        assert pinned != text, where
        (tmp_path / where).mkdir()
        (tmp_path / where / "profiles.yml").write_text(pinned)
        assert not hook_ran(data_dir, "--threads", "1", profiles=tmp_path / where), where


def test_the_hook_runs_after_the_models_commit():
    """An after-commit hook: the model's writes and temporary relations are settled before it, and a failure
    in it could not roll them back."""
    import yaml

    hooks = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["models"]["blofin_stack"]["+post-hook"]
    assert [h for h in hooks if "release_buffer_cache" in h["sql"]] == [
        {"sql": "{{ release_buffer_cache() }}", "transaction": False}]
