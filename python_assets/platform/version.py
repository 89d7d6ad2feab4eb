"""Code version stamped on reports, backtests and model versions: package version plus the git commit when
run from a checkout, and a digest of the uncommitted changes to the code when there are any (otherwise
edited code reused the models and stamps of the commit it started from)."""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from python_assets.config import REPO_ROOT

# what the numbers depend on: the Python of the assets and the dbt project's SQL, macros and seeds
CODE_PATHS = ("python_assets", "dagster_defs", "dbt_project/models", "dbt_project/macros", "dbt_project/seeds",
              "dbt_project/dbt_project.yml")


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
