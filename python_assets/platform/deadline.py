"""A total time limit for one urllib request (name resolution, connect, TLS handshake, status line, headers,
body), which a socket timeout alone is not: it bounds each read, and a server trickling a byte a second
never trips it, nor does it bound getaddrinfo; a handler that follows no redirect; and a server's
Retry-After read as seconds. Used by the LLM review and the alert webhook."""

from __future__ import annotations

import math
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from datetime import datetime, timezone
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

Address = tuple[str, int]


class ResolveTimeout(TimeoutError):
    """The host name did not resolve before the deadline."""


class Deadline:
    """Shuts the request's socket down when the request's time is up, so that no read (of the TLS handshake,
    the status line, the headers or the body) outlives it; resolution and connect get only the time left."""

    def __init__(self, seconds: float) -> None:
        self.at, self.expired, self.timers = time.monotonic() + seconds, False, []
        self.watched: list[socket.socket] = []

    def left(self) -> float:
        """Seconds until the deadline (0 once past it)."""
        return max(self.at - time.monotonic(), 0.0)

    def arm(self, sock: socket.socket) -> None:
        """Start the watch on a connected socket (one per connection: a redirect opens another). The watch
        holds a duplicate of the socket: shutting it down also ends a TLS handshake on the wrapped original."""
        watched = sock.dup()
        self.watched.append(watched)

        def expire() -> None:
            self.expired = True
            with suppress(OSError):
                watched.shutdown(socket.SHUT_RDWR)
        timer = threading.Timer(self.left(), expire)
        timer.daemon = True
        timer.start()
        self.timers.append(timer)

    def cancel(self) -> None:
        """Stop every watch (the reply is in, or the attempt failed): a redirect's first one kept running."""
        for timer in self.timers:
            timer.cancel()
        for watched in self.watched:
            watched.close()

    def resolve(self, host: str, port: int) -> list[tuple]:
        """getaddrinfo within the time left: it cannot be timed out itself, so it runs in a daemon thread
        (left to finish on its own when late); TimeoutError, marking the deadline expired, when it is."""
        out: list[Any] = []

        def lookup() -> None:
            try:
                out.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                out.append(exc)
        thread = threading.Thread(target=lookup, daemon=True, name="deadline-getaddrinfo")
        thread.start()
        thread.join(self.left())
        if not out:
            self.expired = True
            raise ResolveTimeout("the host name did not resolve before the deadline")
        if isinstance(out[0], BaseException):
            raise out[0]
        return out[0]

    def create_connection(self, address: Address, timeout: float | None = None,
                          source_address: Address | None = None) -> socket.socket:
        """socket.create_connection bounded by the deadline (resolution included), the socket armed before
        any byte is read from it (http.client's _create_connection)."""
        timeout = timeout if isinstance(timeout, (int, float)) else None  # urllib's default is a sentinel
        error: OSError = OSError("getaddrinfo returned no address")
        for family, kind, proto, _, addr in self.resolve(*address):
            if self.left() <= 0:
                self.expired = True
                raise TimeoutError("no connection before the deadline")
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(min(timeout, self.left()) if timeout is not None else self.left())
                if source_address:
                    sock.bind(source_address)
                sock.connect(addr)
                sock.settimeout(timeout)
                self.arm(sock)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error


class _DeadlineOpen:
    """A urllib handler mixin whose connections resolve, connect and read within the deadline (HTTP and HTTPS)."""

    deadline: Deadline

    def do_open(self, http_class: Any, req: urllib.request.Request, **kw: Any) -> Any:
        deadline = self.deadline

        class Watched(http_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = deadline.create_connection

        return super().do_open(Watched, req, **kw)  # type: ignore[misc]


def deadline_handlers(deadline: Deadline) -> list[urllib.request.BaseHandler]:
    """HTTP and HTTPS handlers for build_opener whose connections the deadline watches."""
    return [type(f"Deadline{h.__name__}", (_DeadlineOpen, h), {"deadline": deadline})()
            for h in (urllib.request.HTTPHandler, urllib.request.HTTPSHandler)]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: urllib turns a POST's 301/302/303 into a GET without the body (an alert or a
    review prompt lost, whatever the GET answers), reads the redirect's whole body into memory first (an
    endless one without bound), and follows ftp:// too."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """No new request: urllib then raises HTTPError with the 3xx, its body unread."""
        return None


def retry_after_s(headers: Message | None, now: datetime | None = None) -> float | None:
    """The wait a 429/503's Retry-After asks for, in seconds (delta-seconds or an HTTP date; a date passed
    is 0); None without one or when it is neither."""
    value = (headers.get("Retry-After") if headers is not None else None) or ""
    value = value.strip()
    if value.isascii() and value.isdigit():  # '²' or '١' pass isdigit, not float(): no Retry-After either
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)  # "-0000": UTC, as HTTP dates are
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def asked_wait(exc: BaseException) -> float | None:
    """The seconds a 429 or 503 answer's Retry-After asks for (None: no such answer, or none asked)."""
    if isinstance(exc, urllib.error.HTTPError) and exc.code in (429, 503):
        return retry_after_s(exc.headers)
    return None


def next_wait(exc: BaseException, tried: int, left: float, backoff_cap: float = math.inf) -> tuple[float | None, str]:
    """The wait before the attempt after `tried` failed with exc: a 429/503's Retry-After, else a backoff from
    0.2 s doubling per attempt (at most backoff_cap), never past the `left` seconds; (None, why) when the
    Retry-After asks for `left` or more (no retry is worth it)."""
    asked = asked_wait(exc)
    if asked is not None and asked >= left:
        return None, f"Retry-After {asked:g} s is past the {max(left, 0.0):.1f} s left: not retried"
    return max(0.0, min(min(0.2 * 2 ** (tried - 1), backoff_cap) if asked is None else asked, left)), ""


def pause(seconds: float) -> None:
    """Wait between attempts (a function of its own, so a test can see the waits without sleeping)."""
    time.sleep(seconds)
