"""The dbt project, built once per process; the manifest is parsed when missing or in `dagster dev`."""

from __future__ import annotations

import json
from functools import cache

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

from python_assets.config import DBT_PROJECT_DIR, dbt_executable


class BlofinDbtProjectPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (`dbt parse` under `dagster dev`, or where the manifest is missing) run
    with blofin-dbt, as `make manifest` parses. Plain dbt would leave in dbt_project/target a saved parse
    tied to this process's data dir, and every later dbt call in another data dir (each new data dir of
    `make run`, each test's temp dir) would then parse the whole project again (~3 s a call)."""

    def _prepare_manifest(self, project: DbtProject) -> None:  # the parse step of dagster-dbt's prepare()
        DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            self._prepare_project_cli_args, target_path=project.target_path).wait()


@cache
def dbt_project() -> DbtProject:
    """The project; its manifest parsed under `dagster dev` (to pick up edits) or where it is missing (a
    fresh clone before `make manifest`). DbtProject takes no preparer, so ours is called here."""
    project, preparer = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR), BlofinDbtProjectPreparer()
    preparer.prepare_if_dev(project)
    if not project.manifest_path.exists():
        preparer.prepare(project)
    return project


def landing_tables() -> list[str]:
    """The warehouse tables Python writes and dbt reads: the manifest's sources in schema `main`."""
    sources = json.loads(dbt_project().manifest_path.read_text())["sources"].values()
    return sorted({s["name"] for s in sources if s["schema"] == "main"})
