"""The warm dbt server (dagster_defs/dbt/warm_dbt.py) runs a blofin-dbt call as blofin-dbt runs it itself:
the same warehouse, output and exit code, in the caller's environment, directory and umask; a caller
killed or interrupted ends its dbt; without a server blofin-dbt runs dbt itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from conftest import children_of, dbt_bin, seed_partial_parse, warehouse_digest

from python_assets.config import DBT_PROJECT_DIR, DBT_SERVER_ENV, Paths
from python_assets.ingest.market import generate_market

DAY = date(2025, 3, 10)
MODELS = ("+bars_5m",)  # bars_5m and what it reads


@pytest.fixture
def server(warm_dbt_server) -> Path:
    """The test process's warm server, listening (its warm-up done)."""
    if warm_dbt_server is None:
        pytest.skip("the test process was given a dbt server of its own")
    socket_path = Path(os.environ[DBT_SERVER_ENV])
    deadline = time.monotonic() + 120
    while not socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert socket_path.exists(), "the warm dbt server never listened"
    return socket_path


def blofin_dbt(paths: Paths, *args: str, server: Path | None, umask: int = 0o022, **popen) -> subprocess.Popen:
    """blofin-dbt on paths' data dir, through `server` or (None) on its own."""
    env = {k: v for k, v in os.environ.items() if k != DBT_SERVER_ENV}
    env.update(BLOFIN_DATA_DIR=str(paths.data_dir), **({DBT_SERVER_ENV: str(server)} if server else {}))
    target = paths.data_dir / "dbt_target"
    seed_partial_parse(target)
    return subprocess.Popen([dbt_bin(), *args, "--profiles-dir", ".", "--target-path", str(target)], cwd=DBT_PROJECT_DIR,
                            env=env, text=True, umask=umask, **popen)


def finished(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out or ""


def lake(root: Path) -> Paths:
    paths = Paths((root / "data").resolve())
    paths.data_dir.mkdir(parents=True)
    generate_market(paths, ("BTC-USDT",), (DAY,))
    return paths


def test_a_build_through_the_server_equals_one_run_by_blofin_dbt_itself(server, tmp_path):
    direct, served = lake(tmp_path / "direct"), lake(tmp_path / "served")
    args = ("build", "--exclude-resource-type", "unit_test", "--select", *MODELS)
    code_direct, out_direct = finished(blofin_dbt(direct, *args, server=None, stdout=subprocess.PIPE))
    code_served, out_served = finished(blofin_dbt(served, *args, server=server, stdout=subprocess.PIPE, umask=0o027))
    assert code_direct == code_served == 0, out_served[-3000:]
    assert warehouse_digest(direct) == warehouse_digest(served)
    assert warehouse_digest(served)["bars_1m"][0] > 1000  # the served call built the caller's data dir
    summary = [line.split("  ", 1)[-1] for out in (out_direct, out_served) for line in out.splitlines() if "Done. PASS=" in line]
    assert len(summary) == 2 and summary[0] == summary[1]
    # the child took the caller's umask (0o027: no access for others), not the server's
    assert (served.data_dir / "dbt_target" / "run_results.json").stat().st_mode & 0o777 == 0o640
    assert (direct.data_dir / "dbt_target" / "run_results.json").stat().st_mode & 0o777 == 0o644
    # a build writes no manifest.json, served or not (duckdb_dbt.install_no_manifest_write)
    assert not any((p.data_dir / "dbt_target" / "manifest.json").exists() for p in (direct, served))


def test_exit_codes_and_errors_reach_the_caller(server, tmp_path):
    paths = lake(tmp_path)
    code, out = finished(blofin_dbt(paths, "run", "--no-such-flag", server=server, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT))
    assert code == 2 and "No such option" in out
    failing = ("show", "--inline", "select * from no_such_table")
    code, out = finished(blofin_dbt(paths, *failing, server=server, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    assert code != 0 and "no_such_table" in out
    assert finished(blofin_dbt(paths, *failing, server=None, stdout=subprocess.DEVNULL))[0] == code


@pytest.mark.parametrize("how", ["killed", "interrupted", "terminated"])
def test_a_caller_killed_or_interrupted_ends_its_dbt(server, warm_dbt_server, tmp_path, how):
    paths = lake(tmp_path)
    before = set(children_of(warm_dbt_server.pid))
    endless = "select sum(a.range * b.range) from range(100000000) a, range(100000000) b"
    client = blofin_dbt(paths, "show", "--inline", endless, server=server, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (set(children_of(warm_dbt_server.pid)) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = set(children_of(warm_dbt_server.pid)) - before
    assert child, "the server never forked the call"
    time.sleep(1.5)  # dbt is running the query by now
    client.send_signal({"killed": signal.SIGKILL, "interrupted": signal.SIGINT, "terminated": signal.SIGTERM}[how])
    code = client.wait(timeout=60)
    deadline = time.monotonic() + 30
    while child & set(children_of(warm_dbt_server.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not child & set(children_of(warm_dbt_server.pid)), "dbt outlived its caller"
    # as a dbt of its own: SIGKILL and SIGTERM end the caller itself (-signal), SIGINT is dbt's to handle
    assert code == {"killed": -signal.SIGKILL, "interrupted": code, "terminated": -signal.SIGTERM}[how] and code != 0
    assert warm_dbt_server.poll() is None  # the server goes on


def test_without_a_listening_server_blofin_dbt_runs_dbt_itself(tmp_path):
    paths = lake(tmp_path)
    code, out = finished(blofin_dbt(paths, "run", "--select", "stg_trades", server=tmp_path / "nobody-listens",
                                    stdout=subprocess.PIPE))
    assert code == 0 and "Completed successfully" in out


def test_a_caller_without_standard_input_runs_dbt_itself(server, tmp_path):
    """Its streams cannot be handed over (fd 0 is closed): nothing reached the server, so dbt runs here."""
    paths = lake(tmp_path)
    code, out = finished(blofin_dbt(paths, "run", "--select", "stg_trades", server=server, stdout=subprocess.PIPE,
                                    preexec_fn=lambda: os.close(0)))
    assert code == 0 and "Completed successfully" in out


WARM_UP_THEN_CALL = """
import json, os, sys
from dagster_defs.dbt import warm_dbt
warm_dbt.warm_up(saved_parse=None)
pid = os.fork()
if pid == 0:
    warm_dbt.run_child(json.loads(sys.argv[1]), [os.dup(0), os.dup(1), os.dup(2)])
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_a_call_that_parses_models_after_a_warm_up_that_parsed_them_finishes(tmp_path):
    """No saved parse: the warm-up parses every model, and so does the forked call. dbt's static parser
    starts a thread pool on first use; one started in the warm-up is not in the child, which waited forever."""
    env = {k: v for k, v in os.environ.items() if k != DBT_SERVER_ENV}
    request = {"argv": ["parse", "--profiles-dir", ".", "--target-path", str(tmp_path / "target"),
                        "--log-path", str(tmp_path / "logs")],
               "cwd": str(DBT_PROJECT_DIR), "env": {**env, "BLOFIN_DATA_DIR": str(tmp_path)}, "umask": 0o022}
    done = subprocess.run([sys.executable, "-c", WARM_UP_THEN_CALL, json.dumps(request)], cwd=DBT_PROJECT_DIR.parent,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "target" / "manifest.json").exists()


def test_the_callers_custom_env_metadata_reaches_run_results(server, tmp_path):
    """dbt reads DBT_ENV_CUSTOM_ENV_* once per process: the child reads its caller's, not the server's."""
    paths = lake(tmp_path)
    os.environ["DBT_ENV_CUSTOM_ENV_WARM_DBT_TEST"] = "caller"
    try:
        code, out = finished(blofin_dbt(paths, "run", "--select", "stg_trades", server=server, stdout=subprocess.PIPE))
    finally:
        del os.environ["DBT_ENV_CUSTOM_ENV_WARM_DBT_TEST"]
    assert code == 0, out[-3000:]
    results = json.loads((paths.data_dir / "dbt_target" / "run_results.json").read_text())
    assert results["metadata"]["env"].get("WARM_DBT_TEST") == "caller"


def test_callers_gone_before_their_request_was_whole_leave_no_open_files_in_the_server(server, warm_dbt_server):
    open_files = Path(f"/proc/{warm_dbt_server.pid}/fd")
    before = len(list(open_files.iterdir()))
    for _ in range(20):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(server))
            socket.send_fds(conn, [(1000).to_bytes(4, "big")], [0, 1, 2])  # a 1000-byte request that never comes
    time.sleep(1)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:  # answered once the others were read
        conn.connect(str(server))
    time.sleep(1)
    assert len(list(open_files.iterdir())) <= before


def test_the_warm_up_compiles_every_macro_of_the_manifest_and_skips_one_that_does_not_compile(tmp_path):
    """A forked call found none of its ~200 macros compiled (dbt's template cache is per process and the warm-up's
    `dbt ls` renders none): the warm-up compiles them all, keyed by their text as the call looks them up."""
    from dbt_common.clients.jinja import template_cache

    from dagster_defs.dbt.warm_dbt import precompile_macros

    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    texts = {m["macro_sql"] for m in manifest["macros"].values()}
    assert len(texts) > 300 and any("bars" in t for t in texts)  # dbt's, the adapter's and the project's
    assert precompile_macros() == len(manifest["macros"])
    assert texts <= set(template_cache.file_cache)
    broken = tmp_path / "manifest.json"
    broken.write_text(json.dumps({"macros": {"a": {"macro_sql": "{% macro a() %}{{ x ", "name": "a"},
                                             "b": {"macro_sql": "{% macro b() %}1{% endmacro %}", "name": "b"}}}))
    assert precompile_macros(broken) == 1 and precompile_macros(tmp_path / "none.json") == 0
