"""The dbt project, built once per process; the manifest is parsed when missing or in `dagster dev`."""

from __future__ import annotations

import json
from functools import cache

from dagster_dbt import DbtProject

from python_assets.config import DBT_PROJECT_DIR


@cache
def dbt_project() -> DbtProject:
    """The project; its manifest parsed under `dagster dev` (to pick up edits) or where it is missing (a
    fresh clone before `make manifest`). DbtProject takes no preparer, so ours is called here; it lives with
    the dbt resource, the one module that starts dbt (which imports this one: hence imported here). The
    project's own `prepare_if_dev()` would run dagster-dbt's preparer (plain dbt): not used."""
    from dagster_defs.resources import BlofinDbtProjectPreparer

    project, preparer = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR), BlofinDbtProjectPreparer()
    preparer.prepare_if_dev(project)
    if not project.manifest_path.exists():
        preparer.prepare(project)
    return project


def landing_tables() -> list[str]:
    """The warehouse tables Python writes and dbt reads: the manifest's sources in schema `main`."""
    sources = json.loads(dbt_project().manifest_path.read_text())["sources"].values()
    return sorted({s["name"] for s in sources if s["schema"] == "main"})
