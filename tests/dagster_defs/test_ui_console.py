"""`make ui` starts the Dagster UI with a clean console: no beta/preview/supersession warnings (those APIs
are chosen on purpose) and no "No dagster instance configuration file" notice."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVING = "Serving dagster-webserver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_ui_serves_without_warnings(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "BLOFIN_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(["make", "-s", "ui", f"UI_PORT={free_port()}"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 300
        for line in proc.stdout:
            lines.append(line.rstrip())
            if SERVING in line or time.monotonic() > deadline:
                break
        time.sleep(3)  # the daemon's first lines come right after the webserver's
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rest, _ = proc.communicate()
    text = "\n".join(lines)
    assert SERVING in text, text[-3000:]
    assert not re.search(r"\w+Warning\b", text), [ln for ln in lines if re.search(r"\w+Warning\b", ln)]
    assert "No dagster instance configuration file" not in text


def ui_dagster_home(env: dict[str, str]) -> str:
    """The Dagster home `make ui` picks under `env`: its recipe's `home=...` assignment run by bash (the
    recipe itself is not run: it starts the UI)."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^ui:.*\n((?:\t.*\n)+)", makefile, re.M)[1]
    assignment = re.search(r'^\thome=(".*?");', recipe, re.M)[1]
    shell = assignment.replace("$$", "$").replace("$(CURDIR)", str(ROOT))
    clean = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "BLOFIN_DATA_DIR")}
    done = subprocess.run(["bash", "-c", f'home={shell}; printf %s "$home"'], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, check=True)
    return done.stdout


def test_make_ui_keeps_the_dagster_instance_in_the_data_dir(tmp_path):
    """BLOFIN_DATA_DIR moves data/ (README), Dagster home included: `make ui` shows the runs the CLI made
    there, as config.ensure_dagster_home does for the CLI; an absolute path (Dagster refuses a relative
    one), a relative data dir taken from the checkout as config.paths takes it; DAGSTER_HOME still wins."""
    data = tmp_path.resolve() / "data"
    assert ui_dagster_home({"BLOFIN_DATA_DIR": str(data)}) == f"{data}/dagster_home"
    assert ui_dagster_home({"BLOFIN_DATA_DIR": "other_data"}) == f"{ROOT}/other_data/dagster_home"
    assert ui_dagster_home({"BLOFIN_DATA_DIR": str(data), "DAGSTER_HOME": "/elsewhere"}) == "/elsewhere"
    assert ui_dagster_home({}) == f"{ROOT}/data/dagster_home"
