"""dbt's locks without multiprocessing's resource tracker (install_thread_locks, dagster_defs/dbt/duckdb_dbt.py):
neither a blofin-dbt call nor the Dagster process that loads the dbt assets starts that extra process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPORT = "import atexit, multiprocessing.resource_tracker as rt; atexit.register(lambda: print('TRACKER', rt._resource_tracker._pid))"


def python(code: str, *args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=env)


def test_a_blofin_dbt_call_starts_no_resource_tracker(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    saved = REPO / "dbt_project" / "target" / "partial_parse.msgpack"
    if saved.exists():  # a parse to continue from: seconds instead of a full parse
        shutil.copy(saved, target / "partial_parse.msgpack")
    code = textwrap.dedent(f"""
        import sys
        {REPORT}
        from dagster_defs.dbt.duckdb_dbt import entry
        sys.argv = ["blofin-dbt", "ls", "--profiles-dir", ".", "--target-path", sys.argv[1], "-q", "--select", "stg_trades"]
        entry()
    """)
    env = {**os.environ, "BLOFIN_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    env.pop("BLOFIN_DBT_SERVER", None)  # this process's own dbt, not the test worker's warm server
    proc = python(code, str(target), cwd=REPO / "dbt_project", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    assert "blofin_stack.staging.lake.stg_trades" in proc.stdout
    assert "TRACKER None" in proc.stdout, proc.stdout[-500:]


def test_loading_the_dagster_definitions_starts_no_resource_tracker():
    code = textwrap.dedent(f"""
        {REPORT}
        from dagster_defs.definitions import defs
        import dbt.mp_context
        assert dbt.mp_context.get_mp_context().get_start_method() == "fork"
        assert defs.resolve_asset_graph().get_all_asset_keys()
    """)
    proc = python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TRACKER None" in proc.stdout, proc.stdout[-500:]
