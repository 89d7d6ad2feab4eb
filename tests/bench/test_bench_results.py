"""The bench writes its numbers under data/ (ignored by git), so `make bench` leaves the tree clean; the committed
record bench/results.json changes only through `python -m bench record`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import bench.common as common

ROOT = Path(__file__).resolve().parents[2]


def test_bench_results_path_is_ignored_by_git() -> None:
    """The results file a run writes is git-ignored, and is not the committed record."""
    rel = common.RESULTS.relative_to(ROOT).as_posix()
    assert common.RESULTS != common.RECORD
    ignored = subprocess.run(["git", "check-ignore", "-q", rel], cwd=ROOT)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0, f"{rel} is not ignored by git"


def test_save_merges_sections_and_record_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """save() merges sections into the run file; record() copies exactly that file over the record."""
    monkeypatch.setattr(common, "RESULTS", tmp_path / "run" / "results.json")
    monkeypatch.setattr(common, "RECORD", tmp_path / "record.json")
    common.save("a", {"x": 1})
    common.save("b", {"y": 2})
    assert json.loads(common.RESULTS.read_text()) == {"a": {"x": 1}, "b": {"y": 2}}
    assert not common.RECORD.exists()
    common.record()
    assert common.RECORD.read_text() == common.RESULTS.read_text()


def test_the_sampled_tree_counts_exec_d_children_and_a_fork_only_once_it_lives_on() -> None:
    """A fork caught before its exec shares its parent's pages: counted, it would double the parent's memory.
    One that lives on without exec (a fork-based worker) is counted once it is older than FORK_EXEC_S."""
    import os
    import signal
    import sys
    import time

    started = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    forked = os.fork()
    if forked == 0:  # the child: no exec, only wait to be killed
        time.sleep(30)
        os._exit(0)
    try:
        time.sleep(0.2)
        tree = common._tree(os.getpid())
        assert started.pid in tree and forked not in tree and os.getpid() in tree
        time.sleep(common.FORK_EXEC_S + 0.3)
        assert forked in common._tree(os.getpid())
    finally:
        started.kill()
        started.wait()
        os.kill(forked, signal.SIGKILL)
        os.waitpid(forked, 0)
