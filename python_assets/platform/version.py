"""Code version stamped on reports, backtests and model versions: package version plus the git commit when
run from a checkout, and a digest of the uncommitted changes to the code when there are any (otherwise
edited code reused the models and stamps of the commit it started from). code_fingerprint: the content of
that code and the installed packages, which decides what may be reused (a commit that changes no code,
a README or a test, changes the stamp but not the fingerprint)."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

from python_assets.config import REPO_ROOT

# Source trees whose every file is code that computes (not docs or tests), and single files that do.
CODE_TREES = ("python_assets", "dagster_defs", "dbt_project/models", "dbt_project/macros", "dbt_project/seeds",
              "dbt_project/snapshots", "dbt_project/tests")
CODE_FILES = ("dbt_project/dbt_project.yml", "dbt_project/profiles.yml", "requirements.lock")
CODE_PATHS = (*CODE_TREES, *CODE_FILES)  # what code_version's digest of uncommitted changes covers


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5,
                          check=True).stdout


@lru_cache(maxsize=1)
def code_version() -> str:
    """'0.1.0+g1a2b3c4' in a clean git checkout, '0.1.0+g1a2b3c4.dirty5e6f7a8b' with uncommitted changes to
    CODE_PATHS (a digest of them: other edits, other version), '0.1.0' elsewhere."""
    try:
        base = version("blofin-stack")
    except PackageNotFoundError:
        base = "0.0.0"
    try:
        sha = _git("rev-parse", "--short", "HEAD").strip()
        changed = _git("status", "--porcelain", "--", *CODE_PATHS)
        diff = _git("diff", "HEAD", "--", *CODE_PATHS) if changed else ""
    except (OSError, subprocess.SubprocessError):
        return base
    if not sha:
        return base
    dirty = f".dirty{hashlib.sha256((changed + diff).encode()).hexdigest()[:8]}" if changed else ""
    return f"{base}+g{sha}{dirty}"


def _code_files() -> list[Path]:
    """The files code_fingerprint reads, sorted: every file of CODE_TREES but bytecode, Markdown and what
    editors and tools leave beside code (hidden files and folders: .x.py.swp, .DS_Store, .ipynb_checkpoints;
    backups ending in ~), which would make an unchanged checkout retrain and rerun; and CODE_FILES."""
    files = [p for tree in CODE_TREES for p in (REPO_ROOT / tree).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".md")
             and not p.name.endswith("~") and not any(part.startswith(".") for part in p.relative_to(REPO_ROOT).parts)]
    return sorted(files + [REPO_ROOT / f for f in CODE_FILES if (REPO_ROOT / f).is_file()])


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the code that computes results, every installed distribution's version, the Python
    version and the machine type (once per process)."""
    h = hashlib.sha256()
    for p in _code_files():
        try:
            content = p.read_bytes()
        except FileNotFoundError:  # an editor's scratch file, gone since the listing
            continue
        h.update(p.relative_to(REPO_ROOT).as_posix().encode() + b"\0" + content + b"\0")
    installed = sorted({f"{d.metadata['Name']}=={d.version}" for d in distributions() if d.metadata["Name"]})
    h.update("\0".join([sys.version, platform.machine(), *installed]).encode())
    return h.hexdigest()
