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
are passed to the child. Children die with the server. Start one with
`python -m dagster_defs.dbt.warm_dbt SOCKET` (tests/conftest.py does, once per test worker).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import sys
import tempfile
import time
from contextlib import chdir
from pathlib import Path

from python_assets.config import DATA_DIR_ENV, DBT_PROJECT_DIR, adopt_environment, child_env, scoped_env
from python_assets.platform.lifeline import die_with_parent

HEADER = struct.Struct("!I")  # the request's length, sent with the caller's stdin, stdout and stderr
FORWARDED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}  # blocked in the server while it forks
EXIT = struct.Struct("!i")  # the child's exit code (minus the signal that ended it, as subprocess has it)


def call(socket_path: Path, argv: list[str]) -> int | None:
    """dbt `argv` run by the server at socket_path as this process would run it; its exit code, or None
    when no server answers there (the caller then runs dbt itself)."""
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": child_env(), "umask": current_umask()}).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(socket_path))
        socket.send_fds(conn, [HEADER.pack(len(request))], [0, 1, 2])  # a closed stream fails here: dbt runs here
        conn.sendall(request)
    except OSError:
        conn.close()
        return None
    for sig in (signal.SIGINT, signal.SIGTERM):  # passed on to the child, which decides what they mean
        signal.signal(sig, lambda number, _frame: conn.send(bytes([number])))
    try:
        return EXIT.unpack(receive_exactly(conn, EXIT.size))[0]
    except ValueError:  # the server ended (its children end with it) before the call did
        print(f"blofin-dbt: the dbt server at {socket_path} stopped during the call", file=sys.stderr)
        return 1


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


def current_umask() -> int:
    """This process's umask (reading it means setting it: put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def warm_up(saved_parse: Path | None = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack") -> None:
    """Import dbt and run `dbt ls` once on a scratch data dir (starting from saved_parse where it exists),
    so that the code dbt generates on first use exists before any fork; the adapters it registered are
    dropped. Without dbt's static parser: its extractor starts a thread pool on first use, which a forked
    child cannot use (the threads are not forked): the first model a child parses would wait forever."""
    from dagster_defs.dbt.duckdb_dbt import install_thread_locks, prepare

    install_thread_locks()  # before dbt's imports (see there)
    import dbt.adapters.duckdb  # noqa: F401
    import dbt.adapters.duckdb.environments  # noqa: F401
    import dbt.task.build  # noqa: F401
    from dbt.adapters.factory import reset_adapters
    from dbt.cli.main import dbtRunner

    prepare()  # what blofin-dbt changes in dbt, done once here: every forked child has it
    with tempfile.TemporaryDirectory(prefix="warm_dbt_") as scratch:
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


def run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the caller's dbt call and exit with its code (never returns)."""
    code = 1
    try:
        os.setpgid(0, 0)  # its own group: the server ends whatever dbt started too
        die_with_parent()
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # blocked by the server around the fork
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        adopt_environment(request["env"])
        time.tzset()  # the caller's TZ, if it set one
        forget_environment_read_before_fork()
        sys.argv = ["dbt", *request["argv"]]
        from dbt.cli.main import cli

        cli(request["argv"], prog_name="dbt")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException as error:  # noqa: BLE001 - reported on the caller's stderr, then its exit code
        print(f"dbt (warm server) failed: {error!r}", file=sys.stderr)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
        os._exit(code)


def forget_environment_read_before_fork() -> None:
    """Drop what dbt read from the server's environment and keeps for the process: the DBT_ENV_CUSTOM_ENV_
    variables (run_results' metadata.env, every log event's extra), read on the warm-up's first event."""
    from dbt_common.events.functions import reset_metadata_vars

    reset_metadata_vars()


class Server:
    """The accept loop: one request per connection, one forked child per request."""

    def __init__(self, socket_path: Path) -> None:
        self.path = socket_path
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[socket.socket, int]] = {}  # pid -> (caller's connection, pidfd)

    def serve(self) -> None:
        """Listen at the socket path (replacing a stale one) until SIGTERM or the parent's death."""
        self.path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(16)
        self.selector.register(listener, selectors.EVENT_READ, ("accept", None))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while True:
                for key, _ in self.selector.select():
                    kind, pid = key.data
                    if kind != "accept" and pid not in self.children:  # its child was reaped in this batch
                        continue
                    if kind == "accept":
                        self.start(listener)
                    elif kind == "caller":
                        self.from_caller(key.fileobj, pid)
                    else:
                        self.finish(pid)
        finally:
            for pid in list(self.children):
                kill_group(pid, signal.SIGKILL)
            self.path.unlink(missing_ok=True)

    def start(self, listener: socket.socket) -> None:
        """Read one request with its file descriptors and fork the child that runs it."""
        conn, _ = listener.accept()
        conn.settimeout(2)  # a caller sends its request at once: a silent one holds the loop no longer
        fds: list[int] = []
        try:
            header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
            request = json.loads(receive_exactly(conn, HEADER.unpack(header)[0]))
            if len(fds) != 3:
                raise ValueError("a request comes with three streams")
        except (OSError, ValueError, struct.error):
            for fd in fds:  # a caller gone before its request was whole: its streams stay open no longer
                os.close(fd)
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        # signals wait until the child has its own group and handlers (the server's SIGTERM handler would
        # have it exit 0); the parent sets the group too, so a kill right after the fork reaches it
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        pid = os.fork()
        if pid == 0:  # the child keeps only the caller's streams
            self.selector.close()
            for other, pidfd in self.children.values():
                other.close()
                os.close(pidfd)
            listener.close()
            conn.close()
            run_child(request, fds)
        try:
            os.setpgid(pid, pid)
        except OSError:  # the child did it first, or is already gone
            pass
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        for fd in fds:
            os.close(fd)
        conn.setblocking(False)
        pidfd = os.pidfd_open(pid)
        self.children[pid] = (conn, pidfd)
        self.selector.register(conn, selectors.EVENT_READ, ("caller", pid))
        self.selector.register(pidfd, selectors.EVENT_READ, ("child", pid))

    def from_caller(self, conn: socket.socket, pid: int) -> None:
        """A signal number to pass on, or the caller gone (its end closed): the child is killed."""
        try:
            data = conn.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(conn)
            kill_group(pid, signal.SIGKILL)
            return
        for number in data:
            kill_group(pid, number)

    def finish(self, pid: int) -> None:
        """The child ended: its exit code to the caller, if still there."""
        conn, pidfd = self.children.pop(pid)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        for fileobj in (conn, pidfd):
            try:
                self.selector.unregister(fileobj)
            except (KeyError, ValueError):
                pass
        try:
            conn.setblocking(True)
            conn.sendall(EXIT.pack(code))
        except OSError:
            pass
        conn.close()
        os.close(pidfd)


def receive_exactly(conn: socket.socket, size: int) -> bytes:
    """size bytes from conn (a short read is an error)."""
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ValueError("the request ended early")
        data += chunk
    return data


def kill_group(pid: int, sig: int) -> None:
    """sig to the child's process group (it leads one), if it still runs."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str]) -> int:
    """`python -m dagster_defs.dbt.warm_dbt SOCKET`: warm up, then serve until SIGTERM or the parent dies."""
    if len(argv) != 1:
        print("usage: python -m dagster_defs.dbt.warm_dbt SOCKET", file=sys.stderr)
        return 2
    if not can_watch_children():  # callers then run dbt themselves
        print("warm dbt: not serving, this platform has no fork or pidfd_open (Linux 5.3+)", file=sys.stderr)
        return 1
    die_with_parent(signal.SIGTERM)
    warm_up()
    if (threads := thread_count()) > 1:  # a forked child gets only the forking thread: the others' locks stay held
        print(f"warm dbt: not serving, the warm-up left {threads} threads (blofin-dbt runs dbt itself)", file=sys.stderr)
        return 1
    Server(Path(argv[0])).serve()
    return 0


def can_watch_children() -> bool:
    """Whether this process can fork and wait on a child through a pidfd (the accept loop's needs)."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return hasattr(os, "fork")


def thread_count() -> int:
    """The threads of this process, native ones included (1 where /proc cannot tell)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
