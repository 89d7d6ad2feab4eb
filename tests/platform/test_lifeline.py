"""A run's dbt child dies with its run: SIGKILL of the run alone (not its process group) used to leave
dbt running, holding the warehouse's DuckDB lock against the rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dagster_defs.dbt import duckdb_dbt, spark_dbt
from python_assets.config import DBT_SERVER_ENV

ROOT = Path(__file__).resolve().parents[2]

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
time.sleep(120)
"""

CHILD = """
import time{imports}
{call}
print("ready", flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaps (a container's pid 1 may not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return any(line.split()[1] == "Z" for line in status.splitlines() if line.startswith("State:"))


def _child_after_parent_killed(child_code: str, wait_s: float) -> bool:
    """Start a parent holding a child, SIGKILL the parent only; whether the child is gone wait_s later."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, child_code], stdout=subprocess.PIPE, text=True,
                              env=env, start_new_session=True)
    try:
        pid = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and not _gone(pid):
            time.sleep(0.05)
        return _gone(pid)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the child shares the session when it survived


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_that_asked_dies_with_its_parent_and_one_that_did_not_survives_it():
    asked = CHILD.format(imports="\nfrom python_assets.platform.lifeline import die_with_parent",
                         call="assert die_with_parent()")
    assert _child_after_parent_killed(asked, wait_s=10)
    assert not _child_after_parent_killed(CHILD.format(imports="", call=""), wait_s=1)  # what dbt did before


def test_both_dbt_commands_ask_before_dbt_starts(monkeypatch):
    monkeypatch.delenv(DBT_SERVER_ENV, raising=False)  # blofin-dbt itself, not the tests' warm server
    calls = []
    monkeypatch.setattr(duckdb_dbt, "die_with_parent", lambda: calls.append("lifeline"))
    monkeypatch.setattr("dbt.cli.main.cli", lambda **kw: calls.append("dbt"))
    monkeypatch.setattr(duckdb_dbt, "prepare", lambda: None)  # this test process's own dbt stays as it is
    duckdb_dbt.entry()
    monkeypatch.setattr(spark_dbt, "die_with_parent", lambda: calls.append("lifeline"))
    monkeypatch.setattr(spark_dbt, "main", lambda argv: calls.append("dbt-spark") or 0)
    with pytest.raises(SystemExit):
        spark_dbt.entry()
    assert calls == ["lifeline", "dbt", "lifeline", "dbt-spark"]
