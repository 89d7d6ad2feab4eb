"""The dbt project, built once per process; the manifest is parsed when missing or in `dagster dev`."""

from __future__ import annotations

import json
from functools import cache

import yaml
from dagster_dbt import DbtProject

from python_assets.config import DBT_PROJECT_DIR, DBT_TARGET_ENV, SettingError

PROFILE = "blofin_stack"


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


def profile_targets() -> tuple[str, dict[str, dict]]:
    """profiles.yml's default target and its targets as written (type and method are plain text there)."""
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())[PROFILE]
    return profile["target"], profile["outputs"]


def target_engine(target: str | None, default: str, outputs: dict[str, dict]) -> str:
    """The engine the Dagster graph runs dbt on for a target: 'duckdb' (type duckdb) or 'spark' (type spark,
    method session: the local session whose tables the graph's exchange exports); any other target is one
    SettingError line (a thrift server or Databricks shares no session with the graph: build those by hand)."""
    name = target or default
    if name not in outputs:
        raise SettingError(f"{DBT_TARGET_ENV}={name!r} is not a target of dbt_project/profiles.yml "
                           f"(its targets: {', '.join(outputs)})")
    kind, method = outputs[name].get("type"), outputs[name].get("method")
    if kind == "duckdb":
        return "duckdb"
    if kind == "spark" and method == "session":
        return "spark"
    raise SettingError(f"{DBT_TARGET_ENV}={name!r} is a {kind} target{f' (method {method})' if method else ''}: the "
                       "Dagster graph runs dbt on DuckDB or the local Spark session (type spark, method session) "
                       "only; build this target by hand (docs/scaling.md, Pointing it at a cluster)")


def dbt_engine(target: str | None) -> str:
    """target_engine of a target of this project's profiles.yml (None: its default)."""
    default, outputs = profile_targets()
    return target_engine(target, default, outputs)
