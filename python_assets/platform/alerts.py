"""Failure alerts: one JSON line appended to <data>/alerts.log and, when configured, a webhook POST that
takes at most ALERT_BUDGET_S in all, follows no redirect and never raises."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from python_assets.config import Paths, alert_webhook_url
from python_assets.platform.deadline import Deadline, NoRedirect, ResolveTimeout, deadline_handlers, next_wait
from python_assets.platform.deadline import pause as _pause  # patched by tests to see the waits
from python_assets.platform.logs import append_line, log_event
from python_assets.platform.secrets import scrub

ALERT_ATTEMPTS = 3
ATTEMPT_S = 4.0  # one attempt in all, connect to the last header (a deadline, not a per-read timeout)
# every attempt and pause of one alert: run_failure_sensor alerts up to 5 runs in one tick (Dagster's
# DAGSTER_RUN_STATUS_SENSOR_PROCESS_LIMIT) and Dagster drops a tick that takes over 60 s, cursor and all,
# so that its runs are alerted again on every tick: 5 x 8 s stays inside
ALERT_BUDGET_S = 8.0
RETRYABLE_STATUS = (408, 429, 500, 502, 503, 504)  # other answers would be the same on a retry
ERROR_CHARS = 200


@dataclass(frozen=True)
class Delivery:
    """A webhook POST's outcome: delivered, or why not (one line that never quotes the URL)."""

    delivered: bool
    attempts: int
    error: str | None = None


def build_alert(kind: str, message: str, **fields: Any) -> dict[str, Any]:
    """The alert record: UTC time, kind, message and context fields (never secrets)."""
    return {"ts": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kind": kind, "message": message, **fields}


def append_alert(paths: Paths, alert: dict[str, Any]) -> None:
    """Append one line to alerts.log in one write (concurrent writers do not interleave), on a new line when
    a full disk cut the last one, and a write the disk cut short taken back and raised (ENOSPC), as pipeline.log."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    append_line(paths.data_dir / "alerts.log", (scrub(json.dumps(alert, default=str)) + "\n").encode("utf-8"))


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """url without its user:password@ and the Basic Authorization header they stand for (urllib would send
    them as part of the host name, and quote them in the error when no port follows)."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, {}
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), {"Authorization": f"Basic {token}"}


def _error_line(exc: BaseException, deadline: Deadline, seconds: float) -> str:
    """Why one attempt failed, in words that quote neither the URL nor what the endpoint sent."""
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400:
            return f"HTTP {exc.code} redirect (not followed: set the webhook's final URL)"
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, ResolveTimeout):
        return f"the host name did not resolve within {seconds:.1f} s"
    if deadline.expired or isinstance(exc, TimeoutError):
        return f"no complete answer within {seconds:.1f} s"
    if isinstance(exc, http.client.InvalidURL):
        return "the webhook URL is not valid"
    if isinstance(exc, http.client.HTTPException) and not isinstance(exc, OSError):
        return f"{type(exc).__name__}: the answer is not HTTP"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def _attempt(req: urllib.request.Request, deadline: Deadline, seconds: float) -> None:
    """One POST; returns once a 2xx status line and headers are in (the body is never read), else raises."""
    opener = urllib.request.build_opener(NoRedirect, *deadline_handlers(deadline))
    try:
        with opener.open(req, timeout=seconds) as resp:
            if deadline.expired:  # shut down mid-headers, http.client takes the end of the stream as theirs
                raise TimeoutError("the deadline cut the answer short")
            if not 200 <= resp.status < 300:
                raise urllib.error.HTTPError(req.full_url, resp.status, "not 2xx", resp.headers, None)
    except urllib.error.HTTPError as exc:
        exc.close()  # its body is never read: let the connection go now
        raise
    finally:
        deadline.cancel()


def _retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed (a network error or an overloaded endpoint, not a refusal)."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in RETRYABLE_STATUS
    return not isinstance(exc, (http.client.InvalidURL, ValueError))


def post_webhook(url: str, alert: dict[str, Any]) -> Delivery:
    """POST the alert as JSON to an http(s) URL (user:password@ sent as Basic auth), retrying network errors,
    timeouts, 408, 429 and 5xx with backoff while ALERT_BUDGET_S lasts (each attempt, name resolution and
    connect included, within what is left); a 429/503's Retry-After is waited when it fits in what is left,
    else not retried; never raises, never quotes the URL."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return Delivery(False, 0, "the webhook URL does not start with http:// or https://")
    target, auth = split_credentials(url)
    body = scrub(json.dumps(alert, default=str)).encode()
    end, error, tried = time.monotonic() + ALERT_BUDGET_S, "no attempt", 0
    while tried < ALERT_ATTEMPTS and time.monotonic() < end:
        tried += 1
        seconds = min(ATTEMPT_S, end - time.monotonic())
        deadline = Deadline(seconds)
        try:
            req = urllib.request.Request(target, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **auth})
            _attempt(req, deadline, seconds)
            return Delivery(True, tried)
        except Exception as exc:  # noqa: BLE001 - an alert must never fail its sensor; the reason is returned
            line = _error_line(exc, deadline, seconds)
            error = scrub(line, (url, target, auth.get("Authorization", "")))[:ERROR_CHARS]
            if not _retryable(exc):
                break
            if tried < ALERT_ATTEMPTS:
                wait, why_not = next_wait(exc, tried, end - time.monotonic())
                if wait is None:
                    error = f"{error}; {why_not}"
                    break
                _pause(wait)
    return Delivery(False, tried, error)


def raise_alert(paths: Paths, alert: dict[str, Any]) -> Delivery | None:
    """Log the alert; POST it when BLOFIN_ALERT_WEBHOOK_URL is set. Returns the POST's Delivery, or None.
    A failed POST is also one `alert_webhook_failed` line in pipeline.log. When alerts.log cannot be
    written (a full disk) the POST is still made, then that OSError is raised."""
    unwritten: OSError | None = None
    try:
        append_alert(paths, alert)
    except OSError as exc:
        unwritten = exc
    url = alert_webhook_url()
    delivery = post_webhook(url, alert) if url else None
    if delivery is not None and not delivery.delivered:
        log_event("alert_webhook_failed", kind=alert.get("kind"), run_id=alert.get("run_id"),
                  attempts=delivery.attempts, error=delivery.error)
    if unwritten is not None:
        raise unwritten
    return delivery
