"""A total time limit for one urllib request (connect, status line, headers, body), which a socket timeout
alone is not: it bounds each read, and a server trickling a byte a second never trips it; and a handler
that follows no redirect. Used by the LLM review and the alert webhook."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from contextlib import suppress
from typing import Any


class Deadline:
    """Shuts the request's socket down when the request's time is up, so that no read (of the status line,
    the headers or the body) outlives it."""

    def __init__(self, seconds: float) -> None:
        self.at, self.expired, self.timers = time.monotonic() + seconds, False, []

    def arm(self, sock: socket.socket) -> None:
        """Start the watch on a connected socket (one per connection: a redirect opens another)."""
        def expire() -> None:
            self.expired = True
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        timer = threading.Timer(max(self.at - time.monotonic(), 0.0), expire)
        timer.daemon = True
        timer.start()
        self.timers.append(timer)

    def cancel(self) -> None:
        """Stop every watch (the reply is in, or the attempt failed): a redirect's first one kept running."""
        for timer in self.timers:
            timer.cancel()


class _DeadlineOpen:
    """A urllib handler mixin whose connections arm the deadline once connected (HTTP and HTTPS alike)."""

    deadline: Deadline

    def do_open(self, http_class: Any, req: urllib.request.Request, **kw: Any) -> Any:
        deadline = self.deadline

        class Watched(http_class):  # type: ignore[misc, valid-type]
            def connect(self) -> None:
                super().connect()
                deadline.arm(self.sock)

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
