"""The bench writes its numbers under data/ (ignored by git), so `make bench` leaves the tree clean; the committed
record bench/results.json changes only through `python -m bench record`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import bench.common as common

ROOT = Path(__file__).resolve().parents[2]


def test_bench_results_path_is_ignored_by_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """The results file a run writes is git-ignored, and is not the committed record."""
    monkeypatch.delenv("BLOFIN_DATA_DIR", raising=False)
    rel = common.results_file().relative_to(ROOT).as_posix()
    assert common.results_file() != common.RECORD
    ignored = subprocess.run(["git", "check-ignore", "-q", rel], cwd=ROOT)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0, f"{rel} is not ignored by git"


def test_the_results_follow_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's data follow BLOFIN_DATA_DIR; its numbers went to <repo>/data/bench whatever it was."""
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / "elsewhere"))
    assert common.results_file() == tmp_path / "elsewhere" / "bench" / "results.json"


def test_save_merges_sections_and_record_keeps_the_sections_a_run_did_not_measure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """save() merges sections into the run file; record() puts them over the record and keeps the record's
    other sections: copying the file lost `make scale`'s numbers the docs cite when a later run had none."""
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(common, "RECORD", tmp_path / "record.json")
    common.save("a", {"x": 1})
    common.save("b", {"y": 2})
    assert json.loads(common.results_file().read_text()) == {"a": {"x": 1}, "b": {"y": 2}}
    assert not common.RECORD.exists()
    common.record()
    assert json.loads(common.RECORD.read_text()) == {"a": {"x": 1}, "b": {"y": 2}}
    common.RECORD.write_text(json.dumps({"a": {"x": 0}, "scale_simulation": {"symbols": 20}}))
    common.record()
    assert json.loads(common.RECORD.read_text()) == {"a": {"x": 1}, "b": {"y": 2}, "scale_simulation": {"symbols": 20}}


def test_a_full_disk_while_saving_keeps_the_results_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """save() and record() wrote results.json in place: a full disk left it torn, and every later save then
    failed with JSONDecodeError (review_crash2)."""
    import errno

    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(common, "RECORD", tmp_path / "record.json")
    common.save("a", {"x": 1})
    common.record()

    def half_then_full(self: Path, data, *args, **kwargs) -> None:
        data = data.encode() if isinstance(data, str) else data
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as full:
        full.setattr(Path, "write_text", half_then_full)
        full.setattr(Path, "write_bytes", half_then_full)
        for step in (lambda: common.save("b", {"y": 2}), common.record):
            with pytest.raises(OSError, match="No space"):
                step()
    common.save("c", {"z": 3})
    assert json.loads(common.results_file().read_text()) == {"a": {"x": 1}, "c": {"z": 3}}
    assert json.loads(common.RECORD.read_text()) == {"a": {"x": 1}}
