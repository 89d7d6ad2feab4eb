"""The variables a Dagster instance's dagster.yaml reads (`env: NAME`), checked before a CLI run opens it.

deploy/dagster-postgres.yaml takes its connection from DAGSTER_PG_*; a CLI run without them failed inside
Dagster with a repr of its config Fields (the unset variable only deep in last_run.log) and wrote an alert
for a run that never existed. This names the unset variables in one line instead, before any run."""

from __future__ import annotations

from pathlib import Path

import yaml

from python_assets.config import Paths, SettingError, ensure_dagster_home, unset_env


def env_names(config: object, key: str | None = None) -> list[str]:
    """Every NAME of an `env: NAME` setting (Dagster's StringSource / IntSource) in a parsed dagster.yaml,
    in file order, each once; with `key`, only those of settings of that name (`port`: an IntSource)."""
    found: list[str] = []
    if isinstance(config, dict):
        for name, value in config.items():
            if isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str):
                here = [value["env"]] if key is None or name == key else []
            else:
                here = env_names(value, key)
            found += [n for n in here if n not in found]
    elif isinstance(config, list):
        for value in config:
            found += [n for n in env_names(value, key) if n not in found]
    return found


def check_instance_env(paths: Paths) -> None:
    """SettingError naming the variables the instance's dagster.yaml (under DAGSTER_HOME, default
    <data>/dagster_home) reads that are unset; nothing when it has none or no such file (Dagster's default
    instance), or the file cannot be read as YAML (Dagster says why when it opens it)."""
    yaml_path = ensure_dagster_home(paths.dagster_home) / "dagster.yaml"
    try:
        config = yaml.safe_load(yaml_path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    missing = unset_env(env_names(config), frozenset(env_names(config, "port")))
    if missing:
        names = ", ".join(missing)
        raise SettingError(
            f"{names} {'is' if len(missing) == 1 else 'are'} not set, and the Dagster instance's {yaml_path} reads "
            f"{'it' if len(missing) == 1 else 'them'} (env: ...): no run was started. Run the command with the "
            "service's environment (docs/deployment.md: set -a; . /etc/blofin-stack/env)")
