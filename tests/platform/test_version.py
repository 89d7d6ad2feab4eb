"""code_version: the commit, and a digest of uncommitted code changes (edited code must not reuse the
models and stamps of the commit it started from)."""

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
