"""A warm fork server: one process that imported (and warmed) what its calls need, forking a child per call.

A caller connects to the server's Unix socket and sends its standard streams and any other file descriptors
(SCM_RIGHTS) with a JSON request: its kind (which handler runs it), working directory, environment and
umask. The server forks; the child takes the caller's streams, directory, umask and environment, leads a
process group of its own, and runs the handler; its exit code goes back to the caller. A caller that dies
closes its socket and the server kills the child at once (as die_with_parent does for a child of its own);
signal numbers the caller sends are passed to the child's group. Children die with the server. Nothing
here reads the environment: the caller names the socket (config.dbt_server_socket)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

from python_assets.config import adopt_environment
from python_assets.platform.lifeline import die_with_parent
from python_assets.platform.processes import process_state

HEADER = struct.Struct("!I")  # the request's length, sent with the caller's file descriptors
FORWARDED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}  # blocked in the server while it forks
EXIT = struct.Struct("!i")  # the child's exit code (minus the signal that ended it, as subprocess has it)
MAX_FDS = 8  # the caller's stdin, stdout and stderr, then what its kind of call needs
FOLLOW_S = 0.2  # how often a server following a process looks whether it is stopped
# a handler runs a request in the forked child, given the file descriptors after the three streams; its exit code
Handler = Callable[[dict, list[int]], int]


def connect(socket_path: Path, request: dict, fds: list[int]) -> socket.socket | None:
    """The connection to the server at socket_path that took request and fds (the caller's stdin, stdout, stderr
    first), or None when no server answers there or a descriptor cannot be sent (the caller then does the
    work itself). Its child's exit code comes back on it (exit_code); a signal number sent on it reaches the child."""
    payload = json.dumps({**request, "cwd": os.getcwd(), "umask": current_umask()}).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(socket_path))
        socket.send_fds(conn, [HEADER.pack(len(payload))], fds)  # a closed stream fails here
        conn.sendall(payload)
    except OSError:
        conn.close()
        return None
    return conn


def exit_code(conn: socket.socket) -> int:
    """The child's exit code from the server (ValueError: the server ended before the child did)."""
    return EXIT.unpack(receive_exactly(conn, EXIT.size))[0]


def current_umask() -> int:
    """This process's umask (reading it means setting it: put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def run_child(request: dict, fds: list[int], handlers: dict[str, Handler]) -> None:
    """In the forked child: take on the caller's streams, directory, umask and environment, run the request's
    handler and exit with its code (never returns; exit handlers are the handler's to run)."""
    code = 1
    try:
        os.setpgid(0, 0)  # its own group: the server ends whatever the call started too
        die_with_parent()
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # blocked by the server around the fork
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        adopt_environment(request["env"])
        time.tzset()  # the caller's TZ, if it set one
        reseed_rngs()
        code = handlers[request.get("kind", "dbt")](request, fds[3:])
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException as error:  # noqa: BLE001 - reported on the caller's stderr, then its exit code
        print(f"warm server's child failed: {error!r}", file=sys.stderr)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
        os._exit(code)


def reseed_rngs() -> None:
    """numpy's global RandomState and torch's global generator seeded again from the OS, as a fresh interpreter's
    imports seed them: a forked child would otherwise draw what the server, and every other child, draws next
    (random reseeds itself after a fork, numpy and torch do not)."""
    numpy, torch = sys.modules.get("numpy"), sys.modules.get("torch")
    if numpy is not None:
        numpy.random.seed()
    if torch is not None and hasattr(torch, "seed"):  # hasattr: a torch whose import failed halfway
        torch.seed()


class Server:
    """The accept loop: one request per connection, one forked child per request."""

    def __init__(self, socket_path: Path, handlers: dict[str, Handler], follow: int | None = None) -> None:
        """follow: a pid (the run that started the server) whose job-control stops the children follow."""
        self.path, self.handlers, self.follow = socket_path, handlers, follow
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[socket.socket, int]] = {}  # pid -> (caller's connection, pidfd)
        self.stopped = False  # the children stopped with the followed process

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
                events = self.selector.select(FOLLOW_S if self.follow is not None else None)
                self.follow_stops()
                for key, _ in events:
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

    def follow_stops(self) -> None:
        """The children stop while the followed process is stopped (a Ctrl-Z of the run: the terminal's SIGTSTP never
        reaches this server's session, so in_child children ran on) and continue when it does."""
        if self.follow is None:
            return
        stopped = process_state(self.follow) == "T"
        if stopped != self.stopped:
            self.stopped = stopped
            for pid in self.children:
                kill_group(pid, signal.SIGSTOP if stopped else signal.SIGCONT)

    def start(self, listener: socket.socket) -> None:
        """Read one request with its file descriptors and fork the child that runs it."""
        conn, _ = listener.accept()
        conn.settimeout(2)  # a caller sends its request at once: a silent one holds the loop no longer
        fds: list[int] = []
        try:
            header, fds, _, _ = socket.recv_fds(conn, HEADER.size, MAX_FDS)
            request = json.loads(receive_exactly(conn, HEADER.unpack(header)[0]))
            if len(fds) < 3 or request.get("kind", "dbt") not in self.handlers:
                raise ValueError("a request comes with three streams, of a kind served here")
        except (OSError, ValueError, struct.error):
            for fd in fds:  # a caller gone before its request was whole: its descriptors stay open no longer
                os.close(fd)
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        # signals wait until the child has its own group and handlers (the server's SIGTERM handler would
        # have it exit 0); the parent sets the group too, so a kill right after the fork reaches it
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        pid = os.fork()
        if pid == 0:  # the child keeps only the caller's descriptors
            self.selector.close()
            for other, pidfd in self.children.values():
                other.close()
                os.close(pidfd)
            listener.close()
            conn.close()
            run_child(request, fds, self.handlers)
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
        if self.stopped:  # forked while the followed run is stopped (a request queued at the Ctrl-Z): stopped too
            kill_group(pid, signal.SIGSTOP)
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
