"""Code version stamped on reports: package version plus the git commit when run from a checkout."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from python_assets.config import REPO_ROOT


@lru_cache(maxsize=1)
def code_version() -> str:
    """'0.1.0+g1a2b3c4' in a git checkout, '0.1.0' elsewhere."""
    try:
        base = version("blofin-stack")
    except PackageNotFoundError:
        base = "0.0.0"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return base
    return f"{base}+g{sha}" if sha else base
