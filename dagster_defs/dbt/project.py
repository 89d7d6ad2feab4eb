"""The dbt project, built once per process; the manifest is parsed when missing or in `dagster dev`."""

from __future__ import annotations

import json
from functools import cache

from dagster_dbt import DbtProject

from python_assets.config import DBT_PROJECT_DIR


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    if not project.manifest_path.exists():  # a fresh clone before `make manifest`: parse now
        project.preparer.prepare(project)
    return project


def landing_tables() -> list[str]:
    """The warehouse tables Python writes and dbt reads: the manifest's sources in schema `main`."""
    sources = json.loads(dbt_project().manifest_path.read_text())["sources"].values()
    return sorted({s["name"] for s in sources if s["schema"] == "main"})
