"""The make targets that read a data dir find the one BLOFIN_DATA_DIR names, as the CLI does (README:
BLOFIN_DATA_DIR moves all of data/), also when it is relative. Each recipe's first assignment is run by
bash from the checkout, as make runs it; the recipes themselves are not run (they start servers)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def recipe_value(target: str, name: str, env: dict[str, str]) -> str:
    """The value `target`'s recipe assigns to the shell variable `name` first, under `env`."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.M)[1]
    assignment = re.search(rf'^\t{name}=(".*?");', recipe, re.M)[1]
    shell = assignment.replace("$$", "$").replace("$(CURDIR)", str(ROOT))
    clean = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "BLOFIN_DATA_DIR")}
    done = subprocess.run(["bash", "-c", f'{name}={shell}; printf %s "${name}"'], cwd=ROOT,
                          env={**clean, **env}, capture_output=True, text=True, check=True)
    return done.stdout


def test_make_ui_keeps_the_dagster_instance_in_the_data_dir(tmp_path):
    """`make ui` shows the runs the CLI made in the data dir (config.ensure_dagster_home's default), as an
    absolute path (Dagster refuses a relative one); DAGSTER_HOME still wins."""
    data = tmp_path.resolve() / "data"
    assert recipe_value("ui", "home", {"BLOFIN_DATA_DIR": str(data)}) == f"{data}/dagster_home"
    assert recipe_value("ui", "home", {"BLOFIN_DATA_DIR": "other_data"}) == f"{ROOT}/other_data/dagster_home"
    assert recipe_value("ui", "home", {"BLOFIN_DATA_DIR": str(data), "DAGSTER_HOME": "/elsewhere"}) == "/elsewhere"
    assert recipe_value("ui", "home", {}) == f"{ROOT}/data/dagster_home"


def test_make_docs_reads_the_snapshot_of_a_relative_data_dir():
    """`make docs` runs dbt from dbt_project/: a relative data dir must already be absolute by then, else
    dbt looks for the copied snapshot under dbt_project/ and fails."""
    assert recipe_value("docs", "data", {"BLOFIN_DATA_DIR": "other_data"}) == f"{ROOT}/other_data"
    assert recipe_value("docs", "data", {}) == f"{ROOT}/data"
