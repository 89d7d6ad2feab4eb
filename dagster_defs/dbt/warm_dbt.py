"""A warm dbt: one process that imported dbt and ran it once, forking a child for each `blofin-dbt` call.

Every dbt call paid ~2.5 s before its first node: ~1.3 s of imports, then ~1.2 s of code dbt's
serializers generate on first use in a process (mashumaro's pack/unpack methods, the JSON schemas it
validates against), the same in every process. The test suite makes ~150 dbt calls. This server does
both once (its warm-up is a `dbt ls` on a scratch data dir) and then forks: each child is a fresh dbt
call of the caller's arguments, working directory, environment, umask and standard streams (passed as
file descriptors), in which nothing but the warm-up's imports and generated code is shared.

`blofin-dbt` is the client: with BLOFIN_DBT_SERVER naming a socket it sends its call there and exits
with the child's exit code; where nothing listens (no server, or one still warming up) it runs dbt
itself, as it always did. A client that dies (SIGKILL of its run) closes its socket, and the server
kills its child at once, as die_with_parent does for a dbt of its own; SIGINT and SIGTERM to the client
are passed to the child, and a Ctrl-Z stops both until they continue. Children die with the server. Start one
with `python -m dagster_defs.dbt.warm_dbt SOCKET`, or for a block with `serving` (a CLI run with BLOFIN_WARM_DBT=1
does; so does tests/conftest.py, once per test worker).

The same server runs in_child's calls (python_assets/platform/fanout.py: a request of kind "in_child"): its
warm-up also imports what those children import (numpy, pandas, pyarrow, duckdb, numba and its kernels'
dispatchers, the research, backtest, ML and feature modules, torch), ~0.6-1.6 s of each call; each child
still loads the kernel signatures it calls from numba's cache (warm_up_in_child says why). What dbt's
warm-up leaves that such a child would not have is dropped in it (serve_fresh_in_child). The fork
machinery is python_assets/platform/fork_server.py.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from python_assets.config import DATA_DIR_ENV, DBT_PROJECT_DIR, DBT_SERVER_ENV, child_env, dbt_server_socket, scoped_env
from python_assets.platform import fork_server
from python_assets.platform.fanout import serve_in_child
from python_assets.platform.lifeline import die_with_parent


def call(socket_path: Path, argv: list[str]) -> int | None:
    """dbt `argv` run by the server at socket_path as this process would run it; its exit code, or None
    when no server answers there (the caller then runs dbt itself)."""
    conn = fork_server.connect(socket_path, {"kind": "dbt", "argv": argv, "env": child_env()}, [0, 1, 2])
    if conn is None:  # nothing listens, or a closed stream: dbt runs here
        return None
    before = pass_signals(conn)
    try:
        return fork_server.exit_code(conn)
    except ValueError:  # the server ended (its children end with it) before the call did
        print(f"blofin-dbt: the dbt server at {socket_path} stopped during the call", file=sys.stderr)
        return 1
    finally:  # the caller's own handling again (a process that makes more calls, or goes on after one)
        for sig, handler in before.items():
            if handler is not None:  # None: set outside Python, which cannot put it back
                signal.signal(sig, handler)
        conn.close()


def pass_signals(conn: socket.socket) -> dict[int, Any]:
    """The served child (in the server's session, out of reach of the terminal) gets what this client gets: SIGINT
    and SIGTERM passed on, for it to decide what they mean; a Ctrl-Z (SIGTSTP) stops it, then this client, and the
    SIGCONT that resumes this client resumes it (else `fg` would find the call run on, or stopped for good). A
    SIGTSTP this process was told to ignore stays ignored. Returns the handlers replaced, for the call to restore."""
    def send(number: int) -> None:
        try:
            conn.send(bytes([number]))
        except OSError:  # the server ended: the call's end is read next
            pass

    def stop_both(_number: int, _frame: object) -> None:
        send(signal.SIGSTOP)
        os.kill(os.getpid(), signal.SIGSTOP)  # not SIGTSTP: an orphaned process group's would be discarded

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCONT, signal.SIGTSTP)}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCONT):
        signal.signal(sig, lambda number, _frame: send(number))
    if before[signal.SIGTSTP] != signal.SIG_IGN:
        signal.signal(signal.SIGTSTP, stop_both)
    return before


def exit_as(code: int) -> None:
    """End this process as the child ended: with its exit code, or killed by the signal that killed it
    (-signal), so the caller sees what a dbt of its own would have shown (never returns)."""
    if code < 0:
        sig = -code
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        code = 128 + sig  # a signal whose default is not to end the process
    sys.exit(code)


@contextmanager
def serving(dbt_only: bool = True, ready_s: float = 0.0) -> Iterator[subprocess.Popen | None]:
    """A warm dbt server started for the block, its socket named in BLOFIN_DBT_SERVER for the processes started
    inside (blofin-dbt through dagster-dbt, in_child): a daily run's two dbt calls each skip dbt's start (~2.5 s
    of its ~10 and ~5 s). It warms up beside the caller (~3 s on the other core); a call made before it listens
    runs as it always did. Nothing is started where BLOFIN_DBT_SERVER names a server already (the tests') or where
    this platform cannot fork-serve. dbt_only: without the in_child warm-up's imports (torch among them:
    ~300 MiB more held for the whole run); ready_s: wait up to that long for it to listen. Stopped (SIGTERM, its
    children with it) at the block's end; it also ends with this process (die_with_parent). Yields the server (its
    socket: config.dbt_server_socket() inside the block), or None where none was started."""
    if dbt_server_socket() is not None or not fork_server.can_watch_children():
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="warm_dbt_"))  # short: a socket path has ~100 characters at most
    socket_path = folder / "socket"
    if len(os.fsencode(socket_path)) > SOCKET_PATH_MAX:  # a long TMPDIR: it could warm up but never listen
        shutil.rmtree(folder, ignore_errors=True)
        yield None
        return
    argv = [sys.executable, "-m", "dagster_defs.dbt.warm_dbt", str(socket_path), PARENT, str(os.getpid()), OWN_DIR,
            *([DBT_ONLY] if dbt_only else [])]
    server = None
    try:
        with open(folder / "server.log", "w") as log:
            # its own session: a Ctrl-C at the terminal reaches the caller, whose blofin-dbt passes it on
            server = subprocess.Popen(argv, cwd=DBT_PROJECT_DIR.parent, stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + ready_s
        while time.monotonic() < deadline and not socket_path.exists() and server.poll() is None:
            time.sleep(0.05)
        with scoped_env({DBT_SERVER_ENV: str(socket_path)}):
            yield server
    finally:
        try:
            stop(server)
        finally:  # a second Ctrl-C during the wait: the folder goes all the same
            shutil.rmtree(folder, ignore_errors=True)


def stop(server: subprocess.Popen | None, timeout_s: float = 10.0) -> None:
    """End a server started by serving: SIGTERM (its children are killed with it), SIGKILL after timeout_s."""
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def warm_up(saved_parse: Path | None = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack",
            scratch_root: Path | None = None) -> None:
    """Import dbt and run `dbt ls` once on a scratch data dir (starting from saved_parse where it exists),
    so that the code dbt generates on first use exists before any fork; the adapters it registered are
    dropped; then every macro compiled (precompile_macros). Without dbt's static parser: its extractor starts
    a thread pool on first use, which a forked child cannot use (the threads are not forked): the first model a
    child parses would wait forever."""
    from dagster_defs.dbt.duckdb_dbt import install_thread_locks, prepare

    install_thread_locks()  # before dbt's imports (see there)
    import dbt.adapters.duckdb  # noqa: F401
    import dbt.adapters.duckdb.environments  # noqa: F401
    import dbt.task.build  # noqa: F401
    from dbt.adapters.factory import reset_adapters
    from dbt.cli.main import dbtRunner

    prepare()  # what blofin-dbt changes in dbt, done once here: every forked child has it
    with tempfile.TemporaryDirectory(prefix="warm_dbt_", dir=scratch_root) as scratch:
        target = Path(scratch) / "target"
        target.mkdir()
        if saved_parse is not None and saved_parse.exists():
            (target / "partial_parse.msgpack").write_bytes(saved_parse.read_bytes())
        try:
            with chdir(DBT_PROJECT_DIR), scoped_env({DATA_DIR_ENV: scratch}):
                dbtRunner().invoke(["ls", "--quiet", "--no-static-parser", "--profiles-dir", ".", "--target-path",
                                    str(target), "--log-path", scratch, "--select", "bars_1m"])
        finally:
            reset_adapters()
    precompile_macros()


def precompile_macros(manifest: Path = DBT_PROJECT_DIR / "target" / "manifest.json") -> int:
    """Every macro of the project's manifest (dbt's, the adapter's, ours) compiled into dbt's process-wide template
    cache, which a forked call then finds by the macro's text: a call compiled the ~200 it uses itself (~0.5 s of a
    day's warehouse build). A macro that does not compile is left to the call, which reports it; the number
    compiled is returned (0 without a manifest)."""
    import json
    from types import SimpleNamespace

    from dbt_common.clients.jinja import template_cache

    try:
        macros = json.loads(manifest.read_text())["macros"].values()
    except (OSError, ValueError, KeyError, AttributeError):
        return 0
    compiled = 0
    for macro in macros:
        try:  # the cache keys by macro_sql; the node is only named in a compilation error
            template_cache.get_node_template(SimpleNamespace(macro_sql=macro["macro_sql"], name=macro["name"]))
            compiled += 1
        except Exception:  # noqa: BLE001 - the call compiles it again and says what is wrong
            continue
    return compiled


def warm_up_in_child() -> None:
    """Import what in_child's children import (each paid it on every call), numba and its kernels' dispatchers
    included (python_assets/platform/jit.py). The kernels' signatures are not loaded here: loading one from the
    on-disk cache (or compiling it) starts a native thread of numba's, which a forked child would not have (the
    server would refuse to serve), so each child loads what it calls at its first call (~0.6 s for the engine's).
    Imports only: nothing that reads the environment or caches a path, which a child would then keep."""
    import pyarrow.parquet  # noqa: F401
    import torch  # noqa: F401  (the networks' children: ~1 s each)

    import python_assets.backtest.engine as engine
    import python_assets.backtest.portfolio as portfolio
    import python_assets.backtest.portfolio_daily  # noqa: F401
    import python_assets.features.recursive as recursive
    import python_assets.ml.train  # noqa: F401
    import python_assets.research.fill_stress  # noqa: F401
    import python_assets.research.step  # noqa: F401
    from python_assets.platform.jit import compile_once

    for module, names in ((engine, engine.KERNELS), (portfolio, ("_risk_parity",)), (recursive, ("_stream",))):
        compile_once(vars(module), names)


def serve_fresh_in_child(dbt_filters: list, request: dict, fds: list[int]) -> int:
    """serve_in_child, without what dbt's warm-up left that an in_child child of its own would not have: the
    warnings filters dbt's imports added (dbt_filters) and the root logger's handler (snowplow_tracker, a dbt
    dependency, calls logging.basicConfig() on import: a child's own basicConfig would do nothing, and its
    warnings would print as LEVEL:name:message instead of the bare message)."""
    import logging

    logging.root.handlers.clear()
    warnings.filters[:] = [f for f in warnings.filters if f not in dbt_filters]
    warnings._filters_mutated()  # type: ignore[attr-defined]  (what filterwarnings calls: its caches dropped)
    return serve_in_child(request, fds)


def run_dbt(request: dict, fds: list[int]) -> int:
    """In the forked child (the caller's streams, directory and environment taken): the caller's dbt call."""
    forget_environment_read_before_fork()
    sys.argv = ["dbt", *request["argv"]]
    from dbt.cli.main import cli

    cli(request["argv"], prog_name="dbt")
    return 0


HANDLERS: dict[str, fork_server.Handler] = {"dbt": run_dbt, "in_child": serve_in_child}
DBT_ONLY, PARENT, OWN_DIR = "--dbt-only", "--parent", "--own-dir"
SOCKET_PATH_MAX = 107  # bytes of an AF_UNIX socket path on Linux (sun_path's 108, less its NUL)


def run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the caller's call (a dbt call unless its kind says otherwise) and exit with
    its code (never returns)."""
    fork_server.run_child(request, fds, HANDLERS)


def forget_environment_read_before_fork() -> None:
    """Drop what dbt read from the server's environment and keeps for the process: the DBT_ENV_CUSTOM_ENV_
    variables (run_results' metadata.env, every log event's extra), read on the warm-up's first event."""
    from dbt_common.events.functions import reset_metadata_vars

    reset_metadata_vars()


def options(argv: list[str]) -> tuple[Path, bool, int | None, bool] | None:
    """SOCKET [--dbt-only] [--parent PID] [--own-dir] as (socket, dbt_only, parent, own_dir); None: not that."""
    if not argv or argv[0].startswith("--"):
        return None
    rest, parent = list(argv[1:]), None
    if PARENT in rest:
        at = rest.index(PARENT)
        if at + 1 >= len(rest) or not rest[at + 1].isdigit():
            return None
        parent = int(rest.pop(at + 1))
        rest.pop(at)
    if any(flag not in (DBT_ONLY, OWN_DIR) for flag in rest) or len(set(rest)) != len(rest):
        return None
    return Path(argv[0]), DBT_ONLY in rest, parent, OWN_DIR in rest


def main(argv: list[str]) -> int:
    """`python -m dagster_defs.dbt.warm_dbt SOCKET [--dbt-only] [--parent PID] [--own-dir]`: warm up, then serve
    until SIGTERM or the parent dies. --dbt-only: warm dbt alone (an in_child child then imports what it needs
    itself; see serving); --parent: the pid that started it (its death before this interpreter got here is
    seen, and the children stop while it is stopped); --own-dir: the socket's folder is this server's, removed
    when it ends (by SIGTERM too, warm-up included)."""
    parsed = options(argv)
    if parsed is None:
        print(f"usage: python -m dagster_defs.dbt.warm_dbt SOCKET [{DBT_ONLY}] [{PARENT} PID] [{OWN_DIR}]",
              file=sys.stderr)
        return 2
    socket_path, dbt_only, parent, own_dir = parsed
    folder = socket_path.parent if own_dir else None
    if folder is not None:  # dbt's runner catches SystemExit: until it serves, SIGTERM removes the folder and ends
        signal.signal(signal.SIGTERM, lambda *_: (shutil.rmtree(folder, ignore_errors=True), os._exit(0)))
    die_with_parent(signal.SIGTERM, parent)  # a caller killed while this interpreter started ends it now
    try:
        return serve(socket_path, dbt_only, folder, parent)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def serve(socket_path: Path, dbt_only: bool, scratch_root: Path | None, parent: int | None = None) -> int:
    """Warm up (the warm-up's scratch dir under scratch_root where given), then serve at socket_path; the children
    stop while parent (the run) is stopped (a Ctrl-Z), and continue with it."""
    if not fork_server.can_watch_children():  # callers then run dbt themselves
        print("warm dbt: not serving, this platform has no fork or pidfd_open (Linux 5.3+)", file=sys.stderr)
        return 1
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    # numpy's OpenBLAS pool and pyarrow's jemalloc thread stop before a fork and start again after it (their
    # pthread_atfork handlers): the threads counted here are theirs, any other would not be in the children
    pools = fork_server.thread_count()
    filters = list(warnings.filters)
    warm_up(scratch_root=scratch_root)
    dbt_filters = [f for f in warnings.filters if f not in filters]
    handlers = {**HANDLERS, "in_child": partial(serve_fresh_in_child, dbt_filters)}
    if not dbt_only:
        warm_up_in_child()
    if (threads := fork_server.thread_count()) > pools:  # a forked child gets only the forking thread
        print(f"warm dbt: not serving, the warm-up left {threads - pools} threads besides {pools} of numpy's and "
              "pyarrow's pools (blofin-dbt and in_child start their own processes)", file=sys.stderr)
        return 1
    # the warm-up's objects out of the collector's sight: a child's full collections would walk them all (and
    # copy every page they touch)
    gc.freeze()
    fork_server.Server(socket_path, handlers, follow=parent).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
