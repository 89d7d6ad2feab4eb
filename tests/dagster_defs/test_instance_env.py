"""A Dagster instance whose dagster.yaml reads variables that are unset (deploy/dagster-postgres.yaml without
DAGSTER_PG_*) is refused in one line naming them, before any run; an instance that did not open is no run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date

from dagster_defs.instance_env import env_names
from dagster_defs.runner import INSTANCE_YAML

PG_VARS = ["DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"]
POSTGRES_YAML = INSTANCE_YAML.parent / "dagster-postgres.yaml"


def test_env_names_are_every_env_setting_of_the_yaml_once():
    config = {"storage": {"postgres": {"postgres_db": {"hostname": {"env": "H"}, "port": {"env": "P"}, "x": 1}}},
              "other": [{"env": "H"}, {"env": "Q", "more": 1}], "base_dir": {"env": "DAGSTER_HOME"}}
    assert env_names(config) == ["H", "P", "DAGSTER_HOME"]
    assert env_names({"postgres_db": {"hostname": {"env": "H"}, "port": {"env": "P"}}}, "port") == ["P"]


def test_an_empty_variable_is_a_value_except_where_dagster_reads_a_number(monkeypatch):
    """Dagster fails only on a variable that is missing, or not an integer where it reads one (a port): an
    empty DAGSTER_PG_PASSWORD (trust or .pgpass auth) was refused as 'not set'."""
    from python_assets.config import unset_env

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    monkeypatch.setenv("DAGSTER_PG_PORT", "")
    monkeypatch.delenv("DAGSTER_PG_HOST", raising=False)
    ports = frozenset({"DAGSTER_PG_PORT"})
    assert unset_env(["DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_PORT"], ports) == ["DAGSTER_PG_HOST", "DAGSTER_PG_PORT"]
    monkeypatch.setenv("DAGSTER_PG_PORT", "5432")
    assert unset_env(["DAGSTER_PG_PASSWORD", "DAGSTER_PG_PORT"], ports) == []


def test_materialize_on_a_postgres_home_without_its_variables_names_them_in_one_line_and_starts_no_run(tmp_path):
    """Before: exit 1 with a repr of Dagster's config Fields (the unset DAGSTER_PG_PORT only in last_run.log),
    'the run stays started' though no run existed, and an alert for that run id (review_ops F3)."""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    data.mkdir()
    shutil.copy(POSTGRES_YAML, home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in PG_VARS}
    env.update(BLOFIN_DATA_DIR=str(data), DAGSTER_HOME=str(home))
    env["DAGSTER_PG_PORT"] = ""  # set but empty: not the integer Dagster reads a port as
    out = subprocess.run([sys.executable, "-m", "blofin_cli", "materialize", "--date", "2024-01-02"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"error: {', '.join(PG_VARS)} are not set, and the Dagster instance's {home / 'dagster.yaml'} "
                           "reads them"), line
    assert "/etc/blofin-stack/env" in line and "Field(" not in line
    assert not (data / "alerts.log").exists()


def test_a_run_whose_instance_did_not_open_says_no_run_was_started_and_its_alert_names_no_run(data_dir, monkeypatch,
                                                                                              capsys):
    from blofin_cli import pipeline
    from dagster_defs import runner

    def unreachable(paths):
        raise ConnectionError("could not connect to server: Connection refused")

    monkeypatch.setattr(pipeline, "unchanged_window", lambda *args: ({}, None))
    monkeypatch.setattr(runner, "persistent_instance", unreachable)
    day = date(2025, 3, 10)
    assert pipeline._locked_run(data_dir, day, day, False) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Connection refused" in last and "no run was started: the Dagster instance did not open" in last
    assert "stays 'started'" not in last
    (alert,) = [json.loads(x) for x in (data_dir.data_dir / "alerts.log").read_text().splitlines()]
    assert alert["run_id"] is None and alert["launched_by"] == "cli"
