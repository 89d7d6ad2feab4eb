"""Raw-socket HTTP(S) endpoints for tests of clients facing hostile or broken servers (the alert webhook,
the LLM review): each connection is handled on its own thread, which reads the request (head, then a
Content-Length body) and hands the head to a responder that writes whatever bytes it likes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Respond = Callable[[socket.socket, bytes], None]
Serve = Callable[..., tuple[str, list[bytes]]]


def raw(data: bytes) -> Respond:
    """A responder that sends data as is."""
    return lambda conn, _: conn.sendall(data)


def trickled_tls_handshake(conn: socket.socket, _: bytes) -> None:
    """A TLS handshake record header announcing 16 KiB, then its bytes one every 0.05 s: a TLS client's
    every read is well inside any socket timeout, and the handshake would take 14 minutes."""
    conn.sendall(b"\x16\x03\x03\x40\x00")
    while True:
        conn.sendall(b"\x00")
        time.sleep(0.05)


def slow_name_lookup(monkeypatch: object, seconds: float) -> None:
    """Make every socket.getaddrinfo take `seconds` longer (a slow or unreachable DNS server), then answer."""
    real = socket.getaddrinfo

    def lookup(*args: object, **kwargs: object) -> list:
        time.sleep(seconds)
        return real(*args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)  # type: ignore[attr-defined]


def read_request(conn: socket.socket) -> bytes:
    """The request's head (without its blank line), after reading its Content-Length body too."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length and (chunk := conn.recv(65536)):
        rest += chunk
    return head


def _handle(conn: socket.socket, respond: Respond, heads: list[bytes], reads_request: bool) -> None:
    """One connection: read the request (unless told not to), record its head, respond, close."""
    with conn:
        try:
            head = read_request(conn) if reads_request else b""
            if reads_request:
                heads.append(head)
            respond(conn, head)
        except OSError:
            pass


def _accept_loop(srv: socket.socket, respond: Respond, heads: list[bytes], reads_request: bool) -> None:
    """Accept until the server socket is closed, each connection on a daemon thread."""
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        threading.Thread(target=_handle, args=(conn, respond, heads, reads_request), daemon=True).start()


@contextmanager
def raw_endpoints() -> Iterator[Serve]:
    """serve(respond, path="/hook", scheme="http", reads_request=True) -> (URL, the request heads it got) of
    a local socket server; reads_request=False hands the fresh connection to respond at once (a TLS client
    sends no HTTP head before its handshake). Every server is closed on exit."""
    servers: list[socket.socket] = []

    def serve(respond: Respond, path: str = "/hook", scheme: str = "http",
              reads_request: bool = True) -> tuple[str, list[bytes]]:
        srv = socket.create_server(("127.0.0.1", 0))
        servers.append(srv)
        heads: list[bytes] = []
        threading.Thread(target=_accept_loop, args=(srv, respond, heads, reads_request), daemon=True).start()
        return f"{scheme}://127.0.0.1:{srv.getsockname()[1]}{path}", heads

    try:
        yield serve
    finally:
        for srv in servers:
            srv.close()
