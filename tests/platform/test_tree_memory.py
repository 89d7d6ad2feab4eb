"""The peak memory the CLI prints and the bench records is the whole process tree's (python_assets/platform/
tree_memory.py): the CLI printed max(itself, its largest child), 612 MiB on the 30-day demo where the tree
held ~1,200 (docs/scaling.md), half of what a host needs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from python_assets.platform import tree_memory

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the tree is read from Linux /proc")

REPO = Path(__file__).resolve().parents[2]
CHILD_MIB = 250
# a fresh interpreter as the CLI (its rusage clean of this test session's children): it holds a ballast, and its
# stubbed run starts a child that holds CHILD_MIB until the run has measured both, the way dbt runs beside Dagster
CLI = f"""
import json, resource, subprocess, sys, time
from datetime import date
from types import SimpleNamespace
import duckdb
import dagster_defs.runner as runner
from blofin_cli import pipeline
from python_assets.config import paths
from python_assets.platform.tree_memory import process_status_mib

ballast = b"\\x01" * (100 << 20)
held = {{}}

def run_beside_a_child(first, last, run_id, **kwargs):
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; x = b'\\\\x01' * ({CHILD_MIB} << 20); "
                              "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    time.sleep(0.6)  # several samples
    held.update(parent=process_status_mib("VmRSS"), child=process_status_mib("VmRSS", child.pid))
    child.kill()
    child.wait()
    with duckdb.connect(str(paths().warehouse)) as con:
        con.execute("create table if not exists bars_1m (bar_date date)")
    return SimpleNamespace(success=True, all_events=[], run_id=run_id)

pipeline.unchanged_window = lambda paths, first, last, config: ({{first: "fp"}}, None)
runner.persistent_instance = lambda paths: object()
runner.recover_dead_cli_runs = lambda *args, **kwargs: []
runner.cli_run_tags = lambda data_dir: {{}}
runner.checks_summary = lambda events: None
runner.materialize_days = run_beside_a_child
day = date(2025, 3, 10)
code = pipeline._locked_run(paths(), day, day, False)
old = max(process_status_mib("VmHWM"), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
print(json.dumps({{"code": code, "old": old, **held}}))
"""


def test_the_cli_prints_the_peak_of_the_process_and_its_children_together(tmp_path: Path) -> None:
    """A run whose process holds ~100 MiB more than at rest while a child holds 250 MiB: the printed peak is at
    least the two together, where max(this process, largest child) would have printed the larger alone."""
    (tmp_path / "data").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(BLOFIN_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", CLI], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    *lines, last = done.stdout.strip().splitlines()
    got = json.loads(last)
    printed = next((ln for ln in lines if ln.startswith("peak memory:")), None)
    assert got["code"] == 0 and printed, done.stdout
    peak = float(re.match(r"peak memory: ([\d,]+) MiB", printed).group(1).replace(",", ""))
    together = got["parent"] + got["child"]
    assert got["child"] >= CHILD_MIB * 0.95, got
    assert peak >= together - 5, (printed, got)  # 5 MiB: the parent's RSS between a sample and the reading
    assert got["old"] < together - 50, got  # the old line's figure would have fallen short by far
    assert "process tree" in printed, printed


def test_the_sampled_tree_counts_exec_d_children_and_a_fork_only_once_it_lives_on() -> None:
    """A fork caught before its exec shares its parent's pages: counted, it would double the parent's memory.
    One that lives on without exec (a fork-based worker) is counted once it is older than FORK_EXEC_S."""
    started = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    forked = os.fork()
    if forked == 0:  # the child: no exec, only wait to be killed
        time.sleep(30)
        os._exit(0)
    try:
        time.sleep(0.2)
        tree = tree_memory.process_tree(os.getpid())
        assert started.pid in tree and forked not in tree and os.getpid() in tree
        time.sleep(tree_memory.FORK_EXEC_S + 0.3)
        assert forked in tree_memory.process_tree(os.getpid())
    finally:
        started.kill()
        started.wait()
        os.kill(forked, signal.SIGKILL)
        os.waitpid(forked, 0)


def test_without_proc_nothing_is_sampled_and_the_line_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc is missing (macOS) the block runs unmeasured and the line gives this process's own peak only."""
    monkeypatch.setattr(tree_memory.os.path, "exists", lambda path: False)
    with tree_memory.tree_peak_memory() as mem:
        pass
    assert mem.samples == 0
    assert mem.summary().startswith("peak memory: this process ") and "cannot be sampled" in mem.summary()


def test_a_fork_living_on_and_its_parent_count_the_pages_they_share_once() -> None:
    """A fork server (the run's warm dbt) and the children it forks share their pages: their summed RSS would count
    the server's ~190 MiB once more per child. Those members count by their proportional share (Pss): a parent
    holding 200 MiB with a fork of it sleeping beside counts ~200, not ~400."""
    code = ("import os, sys, time\nx = b'\\x01' * (200 << 20)\nif os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)\n"
            "print('ready', flush=True)\ntime.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        time.sleep(tree_memory.FORK_EXEC_S + 0.3)  # the fork is counted now (it lives on without exec)
        members = tree_memory.tree_members(parent.pid)  # the sampler's one read of parents and command lines
        pids = set(members)
        assert len(pids) == 2 and tree_memory.sharing_pages(members) == pids
        assert tree_memory.sharing_pages(tree_memory.read_members(pids)) == pids
        rss = {p: tree_memory.process_status_mib("VmRSS", p) for p in pids}
        now = tree_memory.tree_mib_now(members)
        assert min(rss.values()) >= 200 and sum(rss.values()) >= 400, rss
        assert abs(now - rss[parent.pid]) < 25, (now, rss)  # the shared pages once (the fork's own few beside)
        readings = {}  # the sampler's: Pss read every PSS_EVERY samples, RSS growth added in between
        assert tree_memory.tree_mib_now(members, readings) == pytest.approx(now, abs=5) and set(readings) == pids
        assert tree_memory.tree_mib_now(members, readings, fresh=False) == pytest.approx(now, abs=5)
        readings[parent.pid] = (readings[parent.pid][0], readings[parent.pid][1] - 40)  # as if it grew 40 MiB since
        assert tree_memory.tree_mib_now(members, readings, fresh=False) == pytest.approx(now + 40, abs=5)
        readings[999_999_999] = (500.0, 500.0)  # a reading of a process gone: its pid could come back as another's
        assert tree_memory.tree_mib_now(members, readings) == pytest.approx(now, abs=5)
        assert set(readings) == pids  # a fresh reading keeps only the members sharing now
    finally:
        for pid in tree_memory.process_tree(parent.pid) - {parent.pid}:
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_exec_d_children_count_their_own_resident_memory() -> None:
    """Processes that exec'd share no anonymous pages: each counts its RSS, as before."""
    code = "import sys, time\nx = b'\\x01' * (120 << 20)\nprint('ready', flush=True)\ntime.sleep(60)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        pids = {proc.pid for proc in procs}
        members = tree_memory.read_members(pids)
        assert tree_memory.sharing_pages(members) == set()
        assert tree_memory.tree_mib_now(members) == pytest.approx(
            sum(tree_memory.process_status_mib("VmRSS", p) for p in pids), abs=2)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
