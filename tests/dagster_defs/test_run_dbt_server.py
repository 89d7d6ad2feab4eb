"""With BLOFIN_WARM_DBT=1 a CLI run starts a warm dbt server of its own (dagster_defs/dbt/warm_dbt.serving): its dbt
calls and in_child children are served by it (each dbt call skips dbt's ~2.5 s start), the server stops with the
run, also when the run is killed, and nothing is started where a server is named already, nor without the setting."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import alive, children_of, dbt_bin, wait_until

from dagster_defs.dbt import warm_dbt
from python_assets.config import DBT_PROJECT_DIR, DBT_SERVER_ENV, WARM_DBT_ENV, dbt_server_socket
from python_assets.platform import fork_server
from python_assets.platform.processes import process_state

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not fork_server.can_watch_children(), reason="no fork server on this platform")


def processes_naming(text: str) -> list[int]:
    """The live processes whose command line holds text (a server's socket path or folder)."""
    found = []
    for p in (p for p in os.listdir("/proc") if p.isdigit() and alive(int(p))):
        try:
            if text.encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                found.append(int(p))
        except OSError:  # gone since
            continue
    return found


def test_a_server_is_started_for_the_block_answers_calls_and_stops_after_it(monkeypatch):
    monkeypatch.delenv(DBT_SERVER_ENV, raising=False)
    with warm_dbt.serving(ready_s=120) as server:
        socket_path = dbt_server_socket()
        assert server is not None and socket_path is not None and socket_path.exists()
        assert processes_naming(str(socket_path)) == [server.pid]
        passed = (signal.SIGINT, signal.SIGTERM, signal.SIGTSTP, signal.SIGCONT)
        handlers = {sig: signal.getsignal(sig) for sig in passed}
        assert warm_dbt.call(socket_path, ["--version"]) == 0  # dbt's own --version, run in a forked child
        # the call's signal passing ends with it (left, a later Ctrl-C to this process went to a closed connection)
        assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    assert DBT_SERVER_ENV not in os.environ and not socket_path.exists() and not socket_path.parent.exists()
    assert server.poll() is not None


def test_nothing_is_started_where_a_server_is_named_already(monkeypatch, tmp_path):
    monkeypatch.setenv(DBT_SERVER_ENV, str(tmp_path / "theirs"))
    before = set(os.listdir("/proc"))
    with warm_dbt.serving() as server:
        assert server is None and os.environ[DBT_SERVER_ENV] == str(tmp_path / "theirs")
        started = [p for p in processes_naming("warm_dbt") if str(p) not in before]
        assert started == []


# a fresh interpreter as the CLI: its stubbed run reports what the run's processes would see (the server named
# for them, answering), then the CLI's pid and the server's, so that the test can kill the CLI
CLI = """
import json, os, sys, time
from datetime import date
from types import SimpleNamespace
import duckdb
import dagster_defs.runner as runner
from blofin_cli import pipeline
from dagster_defs.dbt import warm_dbt
from python_assets.config import DBT_SERVER_ENV, paths

def run_with_the_server(first, last, run_id, **kwargs):
    socket_path = os.environ.get(DBT_SERVER_ENV)
    deadline = time.monotonic() + 120
    while socket_path and not os.path.exists(socket_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    server = [int(p) for p in os.listdir("/proc") if p.isdigit() and socket_path
              and socket_path.encode() in open(f"/proc/{p}/cmdline", "rb").read()]
    seen = {"socket": socket_path, "answers": warm_dbt.call(socket_path, ["--version"]) if socket_path else None,
            "server": server, "cli": os.getpid()}
    print(json.dumps(seen), flush=True)
    if sys.argv[1] == "hang":
        time.sleep(600)
    with duckdb.connect(str(paths().warehouse)) as con:
        con.execute("create table if not exists bars_1m (bar_date date)")
    return SimpleNamespace(success=True, all_events=[], run_id=run_id)

pipeline.unchanged_window = lambda paths, first, last, config: ({first: "fp"}, None)
runner.persistent_instance = lambda paths: object()
runner.recover_dead_cli_runs = lambda *args, **kwargs: []
runner.cli_run_tags = lambda data_dir: {}
runner.checks_summary = lambda events: None
runner.materialize_days = run_with_the_server
day = date(2025, 3, 10)
sys.exit(pipeline._locked_run(paths(), day, day, True))
"""


def cli_env(tmp_path: Path, warm: str | None = "1") -> dict[str, str]:
    (tmp_path / "data").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", DBT_SERVER_ENV, WARM_DBT_ENV)}
    return {**env, "BLOFIN_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO),
            **({WARM_DBT_ENV: warm} if warm is not None else {})}


def seen_line(out: str) -> dict:
    return json.loads(next(line for line in out.splitlines() if line.startswith('{"socket"')))


def test_a_cli_run_hands_its_dbt_calls_to_its_own_server_which_ends_with_the_run(tmp_path):
    done = subprocess.run([sys.executable, "-c", CLI, "run"], cwd=REPO, env=cli_env(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = seen_line(done.stdout)
    assert seen["socket"] and seen["answers"] == 0 and len(seen["server"]) == 1, seen
    assert not alive(seen["server"][0]) and not Path(seen["socket"]).parent.exists()


@pytest.mark.parametrize("warm", [None, "0", "yes"])
def test_without_the_setting_a_cli_run_starts_no_server(tmp_path, warm):
    """Off unless BLOFIN_WARM_DBT=1: the server holds ~190 MiB for the whole run (past the 1 GiB goal at 120 days)."""
    done = subprocess.run([sys.executable, "-c", CLI, "run"], cwd=REPO, env=cli_env(tmp_path, warm),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seen_line(done.stdout) | {"cli": 0} == {"socket": None, "answers": None, "server": [], "cli": 0}


def test_a_cli_run_killed_takes_its_server_with_it(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CLI, "hang"], cwd=REPO, env=cli_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        seen = {}
        for line in proc.stdout:
            if line.startswith('{"socket"'):
                seen = json.loads(line)
                break
        assert seen.get("answers") == 0 and len(seen["server"]) == 1, seen
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        folder = Path(seen["socket"]).parent
        wait_until(lambda: not alive(seen["server"][0]) and not folder.exists(), 20)
        assert not alive(seen["server"][0]), "the server outlived the run that started it"
        assert not folder.exists(), "the killed run's server left its folder"
    finally:
        proc.kill()
        proc.wait()


def test_a_dbt_only_server_runs_in_child_calls_that_import_what_they_need(monkeypatch):
    """The run's server warms dbt alone (no torch, numba or the research modules: ~300 MiB less held for the
    whole run); an in_child child forked from it imports them itself, with the same results as in this process."""
    import numpy as np
    import torch

    from python_assets.backtest.portfolio import _risk_parity
    from python_assets.platform.fanout import in_child

    monkeypatch.delenv(DBT_SERVER_ENV, raising=False)
    cov = np.array([[0.04, 0.006, 0.0], [0.006, 0.09, 0.01], [0.0, 0.01, 0.01]])
    with warm_dbt.serving(ready_s=120) as started:
        assert started is not None and dbt_server_socket().exists()
        server = started.pid
        assert in_child(os.getppid) == server  # served: forked by the run's server
        assert np.array_equal(in_child(_risk_parity, cov, 500, 1e-12), _risk_parity(cov, 500, 1e-12))
        assert in_child(torch.get_num_threads) >= 1
        mapped = Path(f"/proc/{server}/maps").read_text()
        assert "libtorch" not in mapped and "_duckdb" in mapped  # dbt's DuckDB adapter warmed, torch not
    assert not alive(server)


HOLD = """
import sys, time
from dagster_defs.dbt import warm_dbt
from python_assets.config import dbt_server_socket
with warm_dbt.serving():
    print(dbt_server_socket(), flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("after_s", [0.0, 0.5])
def test_a_run_killed_while_its_server_starts_or_warms_up_leaves_neither_it_nor_its_files(tmp_path, after_s):
    """Killed at once (before the server's interpreter armed its death with the run's) or during its warm-up (dbt's
    runner would swallow the SystemExit of a SIGTERM there): the server ends and its folder, the warm-up's scratch
    dir inside, goes with it."""
    env = {k: v for k, v in os.environ.items() if k != DBT_SERVER_ENV}
    proc = subprocess.Popen([sys.executable, "-c", HOLD], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, text=True)
    folder = Path(proc.stdout.readline().strip()).parent
    time.sleep(after_s)
    proc.kill()
    proc.wait()
    assert wait_until(lambda: processes_naming(str(folder)) == [] and not folder.exists(), 30)


def test_a_server_whose_parent_died_before_it_started_ends_at_once(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder = tmp_path / "srv"
    folder.mkdir()
    server = subprocess.run([sys.executable, "-m", "dagster_defs.dbt.warm_dbt", str(folder / "socket"), "--parent",
                             str(gone.pid), "--own-dir", "--dbt-only"], cwd=REPO, timeout=60)
    assert server.returncode == -signal.SIGTERM or server.returncode == 0
    assert not folder.exists()


def test_a_socket_path_too_long_for_the_platform_starts_no_server(monkeypatch, tmp_path):
    import tempfile

    long_dir = tmp_path / ("d" * 100)
    long_dir.mkdir()
    monkeypatch.delenv(DBT_SERVER_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(long_dir))
    with warm_dbt.serving() as server:
        assert server is None and DBT_SERVER_ENV not in os.environ
    assert list(long_dir.iterdir()) == []


def test_ctrl_z_stops_a_served_dbt_call_with_its_client_and_continuing_resumes_both(monkeypatch, data_dir):
    """The served dbt child runs in the server's session, where the terminal's SIGTSTP never reaches: a Ctrl-Z
    stopped the run but left its dbt call running. The client stops it, then itself; SIGCONT resumes both."""
    monkeypatch.delenv(DBT_SERVER_ENV, raising=False)
    with warm_dbt.serving(ready_s=120) as server:
        assert server is not None and dbt_server_socket().exists()
        long_query = "select sum(range % 7) as n from range(400000000000)"  # minutes: it is killed below
        client = subprocess.Popen([dbt_bin(), "show", "--inline", long_query, "--profiles-dir", ".", "--target-path",
                                   str(data_dir.data_dir / "target")], cwd=DBT_PROJECT_DIR, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            assert wait_until(lambda: len(children_of(server.pid)) == 1), "the call was not served"
            (child,) = children_of(server.pid)
            time.sleep(2)  # dbt under way in the child
            states = lambda: (process_state(child), process_state(client.pid))  # noqa: E731
            client.send_signal(signal.SIGTSTP)  # what Ctrl-Z sends the run's process group
            assert wait_until(lambda: states() == ("T", "T"), 10), states()
            time.sleep(0.5)
            assert process_state(child) == "T"  # stays stopped
            client.send_signal(signal.SIGCONT)  # fg / bg
            assert wait_until(lambda: not {"T", ""} & set(states()), 10), states()
            assert client.poll() is None and alive(child)
        finally:
            client.kill()  # the server kills the call at once (its caller's socket closed)
            client.wait()
        assert wait_until(lambda: not alive(child), 30)


FOLLOWED = """
import time
from dagster_defs.dbt import warm_dbt
from python_assets.platform.fanout import in_child
with warm_dbt.serving(ready_s=120) as server:
    print(server.pid, flush=True)
    in_child(time.sleep, 600)
"""


def test_a_run_stopped_by_ctrl_z_stops_its_served_in_child_children_and_they_continue_with_it(tmp_path):
    """in_child's children of a run's server ran on while the run was stopped (Ctrl-Z stops the run's process group;
    the server's session is another): the server follows the run's stops."""
    env = {k: v for k, v in os.environ.items() if k != DBT_SERVER_ENV}
    run = subprocess.Popen([sys.executable, "-c", FOLLOWED], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                           stdout=subprocess.PIPE, text=True)
    try:
        server = int(run.stdout.readline())
        assert wait_until(lambda: len(children_of(server)) == 1), "the call was not served"
        (child,) = children_of(server)
        run.send_signal(signal.SIGSTOP)  # the run stopped, as Ctrl-Z stops it
        assert wait_until(lambda: process_state(child) == "T", 10), process_state(child)
        run.send_signal(signal.SIGCONT)
        assert wait_until(lambda: process_state(child) not in ("T", ""), 10), process_state(child)
    finally:
        run.kill()
        run.wait()
    assert wait_until(lambda: not alive(server) and not alive(child), 30)


NAPPING_SERVER = """
import sys, time
from pathlib import Path
from python_assets.platform import fork_server
nap = {"nap": lambda request, fds: time.sleep(600) or 0}
fork_server.Server(Path(sys.argv[1]), nap, follow=int(sys.argv[2])).serve()
"""


def test_a_call_that_comes_while_the_run_is_stopped_is_stopped_too(tmp_path):
    """A request queued at the Ctrl-Z (or one from outside the run's group) was forked after the server had stopped
    the others, and ran through the stop."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="nap_"))  # short: a socket path has ~100 characters at most
    socket_path = folder / "socket"
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    server = subprocess.Popen([sys.executable, "-c", NAPPING_SERVER, str(socket_path), str(run.pid)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    conn = None
    try:
        assert wait_until(socket_path.exists, 60), "the server never listened"
        run.send_signal(signal.SIGSTOP)
        time.sleep(5 * fork_server.FOLLOW_S)  # the server has seen the run stopped
        conn = fork_server.connect(socket_path, {"kind": "nap", "env": dict(os.environ)}, [0, 1, 2])
        assert conn is not None and wait_until(lambda: len(children_of(server.pid)) == 1, 30)
        (child,) = children_of(server.pid)
        assert wait_until(lambda: process_state(child) == "T", 10), process_state(child)
        run.send_signal(signal.SIGCONT)
        assert wait_until(lambda: process_state(child) not in ("T", ""), 10), process_state(child)
    finally:
        if conn is not None:
            conn.close()  # the server kills its child
        for proc in (server, run):
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
