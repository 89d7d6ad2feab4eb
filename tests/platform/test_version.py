"""code_version: the commit, and a digest of uncommitted code changes (edited code must not reuse the
models and stamps of the commit it started from); code_fingerprint: the content of the code, not what
editors leave beside it."""

from __future__ import annotations

import re

import pytest

from python_assets.platform import version as v


@pytest.fixture()
def fake_git(monkeypatch):
    """git answers from a dict (by subcommand); code_version's cache cleared around the test."""
    answers: dict[str, str] = {}
    monkeypatch.setattr(v, "_git", lambda *args: answers[args[0]])
    v.code_version.cache_clear()
    yield answers
    v.code_version.cache_clear()


def test_a_clean_checkout_is_its_commit(fake_git):
    fake_git.update({"rev-parse": "1a2b3c4\n", "status": ""})
    assert re.fullmatch(r"\d+\.\d+\.\d+\+g1a2b3c4", v.code_version())


def test_uncommitted_changes_give_another_version_per_change(fake_git):
    fake_git.update({"rev-parse": "1a2b3c4\n", "status": " M python_assets/ml/train.py\n", "diff": "-a\n+b\n"})
    first = v.code_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\+g1a2b3c4\.dirty[0-9a-f]{8}", first)
    v.code_version.cache_clear()
    fake_git["diff"] = "-a\n+c\n"
    assert v.code_version() != first


def test_the_real_checkout_answers_and_only_code_paths_count():
    v.code_version.cache_clear()
    assert v.code_version().startswith(v.version("blofin-stack"))
    assert "tests" not in v.CODE_PATHS and "python_assets" in v.CODE_PATHS


@pytest.fixture()
def code_tree(tmp_path, monkeypatch):
    """A checkout of one file per code tree and code file as REPO_ROOT; code_fingerprint's cache cleared."""
    for relative in [f"{tree}/a.py" for tree in v.CODE_TREES] + list(v.CODE_FILES):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(f"# {relative}\n")
    monkeypatch.setattr(v, "REPO_ROOT", tmp_path)
    v.code_fingerprint.cache_clear()
    yield tmp_path
    v.code_fingerprint.cache_clear()


def fresh_fingerprint() -> str:
    v.code_fingerprint.cache_clear()
    return v.code_fingerprint()


def test_what_editors_and_tools_leave_beside_the_code_keeps_the_fingerprint(code_tree):
    """A swap file, a backup, a .DS_Store or a notebook checkpoint beside unchanged code is no code change:
    counted, they made the next day retrain every model and rerun an unchanged day."""
    before = fresh_fingerprint()
    ml = code_tree / "python_assets" / "ml"
    ml.mkdir()
    for name in (".train.py.swp", "train.py~", ".DS_Store", ".ipynb_checkpoints/train-checkpoint.py", "__pycache__/x.pyc"):
        (ml / name).parent.mkdir(parents=True, exist_ok=True)
        (ml / name).write_text("scratch")
    assert fresh_fingerprint() == before


@pytest.mark.parametrize("relative", ["python_assets/ml/train.py", "dbt_project/models/features/feat_x.sql",
                                      "dbt_project/macros/a.py", "dbt_project/seeds/a.py", "requirements.lock"])
def test_code_that_computes_results_changes_the_fingerprint(code_tree, relative):
    before = fresh_fingerprint()
    (code_tree / relative).parent.mkdir(parents=True, exist_ok=True)
    (code_tree / relative).write_text("changed\n")
    assert fresh_fingerprint() != before


def test_a_file_gone_between_listing_and_reading_is_left_out(code_tree, monkeypatch):
    """An editor's scratch file (vim's 4913) may vanish after the listing: it is no code, and no crash."""
    before = fresh_fingerprint()
    listed = v._code_files()
    monkeypatch.setattr(v, "_code_files", lambda: sorted([*listed, code_tree / "python_assets" / "4913"]))
    assert fresh_fingerprint() == before
