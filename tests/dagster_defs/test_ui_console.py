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

