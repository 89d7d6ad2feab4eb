"""The real Dagster webserver: asset graph and schedule over GraphQL, a partition run launched and finished."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import FAST_RUN_CONFIG, TEST_DAYS, report_digest

LOCATION = "dagster_defs.definitions"
DEPLOY_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
REPO = "__repository__"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        out = json.loads(resp.read())
    assert "errors" not in out, out
    return out["data"]


@pytest.fixture
def webserver(data_dir, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    # Launch runs straight away (no daemon queue) so the test needs only the webserver; the storage of
    # deploy/dagster.yaml (its pooled SQLite), written by the run's process while the webserver reads it.
    storage = {"storage": yaml.safe_load(DEPLOY_YAML.read_text())["storage"]}
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
        + yaml.safe_dump(storage)
    )
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**{k: v for k, v in os.environ.items() if k != "BLOFIN_LLM_BASE_URL"}, "DAGSTER_HOME": str(home),
           "BLOFIN_DATA_DIR": str(data_dir.data_dir), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    exe = shutil.which("dagster-webserver", path=env["PATH"])
    proc = subprocess.Popen([exe, "-m", LOCATION, "-h", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=open(tmp_path / "webserver.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
                time.sleep(1)
        else:
            pytest.fail("webserver did not start in 120 s")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_webserver_serves_the_graph_and_schedule_and_runs_a_partition(webserver, data_dir, built_first_day):
    port = webserver
    nodes = graphql(port, "{ assetNodes { assetKey { path } } }")["assetNodes"]
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert {"lake_trades", "bars_1m", "features", "daily_market_summary", "daily_report"} <= keys

    schedule = graphql(port, """
        query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) {
            ... on Schedule { cronSchedule scheduleState { status } } ... on PythonError { message } } }""",
        {"s": {"repositoryLocationName": LOCATION, "repositoryName": REPO, "scheduleName": "daily_job_schedule"}},
    )["scheduleOrError"]
    assert schedule == {"cronSchedule": "5 0 * * *", "scheduleState": {"status": "RUNNING"}}

    launched = graphql(port, """
        mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        {"p": {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPO, "jobName": "daily_job"},
               "runConfigData": {"execution": {"config": {"in_process": {}}}, **FAST_RUN_CONFIG},
               "executionMetadata": {"tags": [{"key": "dagster/partition", "value": TEST_DAYS[0].isoformat()}]}}},
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline, status = time.time() + 300, None
    while time.time() < deadline:
        status = graphql(port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                         {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS"
    # the run launched from the UI reports the same numbers as the same day run in-process (the CLI's way)
    assert report_digest(data_dir) == report_digest(built_first_day) != {}
