"""The alert webhook against hostile or broken endpoints (raw sockets): an answer that is not HTTP, a
trickle, a redirect, a URL with user:password@. post_webhook returns within its budget with one line saying
why, never raises (it runs inside run_failure_sensor) and never quotes the URL or its credentials."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from raw_endpoint import Serve, raw, raw_endpoints, slow_name_lookup, trickled_tls_handshake

from python_assets.platform import alerts

ALERT = alerts.build_alert("run_failure", "run r1 failed", run_id="r1")
PASSWORD = "S3CRET-PASS-CANARY"


@pytest.fixture
def endpoint() -> Iterator[Serve]:
    """serve(respond) -> (URL, the request heads it got) of a socket server that reads a request and responds."""
    with raw_endpoints() as serve:
        yield serve


def endless_header(conn: socket.socket, _: bytes) -> None:
    """A 200 status line, then a header a byte every 0.05 s: each read well inside any socket timeout."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while True:
        conn.sendall(b"a")
        time.sleep(0.05)


def post(url: str) -> alerts.Delivery:
    """post_webhook(url) in a thread; fails the test if it raised or had not returned after 30 s."""
    out: list = []

    def call() -> None:
        try:
            out.append(alerts.post_webhook(url, ALERT))
        except BaseException as exc:  # noqa: BLE001 - the defect: name what escaped, secret blanked
            out.append(f"post_webhook raised {type(exc).__name__}: {str(exc).replace(PASSWORD, '***')[:200]}")

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(30)
    assert out, "post_webhook had not returned after 30 s"
    assert not isinstance(out[0], str), out[0]
    return out[0]


BROKEN = {
    "bad_status_line": (raw(b"<html>not http</html>\r\n\r\n"), "BadStatusLine: the answer is not HTTP"),
    "closed_mid_status": (raw(b"HTTP/1.1 2"), "BadStatusLine: the answer is not HTTP"),
    "too_many_headers": (raw(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n"), "HTTPException: the answer is not HTTP"),
    "server_error": (raw(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"), "HTTP 503"),  # no Retry-After: see below
}


@pytest.mark.parametrize("mode", sorted(BROKEN))
def test_an_answer_that_is_not_http_is_one_line_not_an_exception(endpoint, mode):
    """http.client's BadStatusLine and HTTPException are not OSErrors: they escaped post_webhook and failed
    run_failure_sensor's tick with a traceback (the alert's POST silently lost, nothing retried)."""
    url, heads = endpoint(BROKEN[mode][0])
    delivery = post(url)
    assert not delivery.delivered and delivery.error == BROKEN[mode][1]
    assert delivery.attempts == len(heads) == alerts.ALERT_ATTEMPTS  # each retried, within the budget


def test_a_trickling_endpoint_cannot_hold_the_sensor(endpoint, monkeypatch):
    """The 5 s timeout was per socket read: a header trickled a byte a second held the POST (and the
    failure sensor's tick, and with it every later failed run's alert) for as long as the server liked."""
    monkeypatch.setattr(alerts, "ATTEMPT_S", 0.5, raising=False)
    monkeypatch.setattr(alerts, "ALERT_BUDGET_S", 1.5, raising=False)
    url, _ = endpoint(endless_header)
    delivery = post(url)
    assert not delivery.delivered and delivery.error.startswith("no complete answer within ")


def test_the_budget_fits_a_failure_sensor_tick():
    """run_failure_sensor alerts up to Dagster's process limit of runs in one tick, and Dagster drops a tick
    that runs past its sensor timeout, cursor included: the same runs were alerted again every tick (a real
    daemon wrote 12 alerts.log lines for 2 failed runs in 3 minutes with a never-answering webhook)."""
    from dagster._core.definitions.run_status_sensor_definition import _get_run_status_sensor_process_limit
    from dagster._grpc.utils import default_sensor_grpc_timeout

    assert _get_run_status_sensor_process_limit() * alerts.ALERT_BUDGET_S < default_sensor_grpc_timeout()
    assert alerts.ATTEMPT_S <= alerts.ALERT_BUDGET_S


@pytest.mark.parametrize("code", [301, 302, 303])
def test_a_redirect_is_not_followed(endpoint, code):
    """urllib turned a POST's 301/302/303 into a GET without the alert, and that GET's 200 read as delivered
    (it also read the redirect's whole body into memory first: a 2 GB body took 2 GB; and followed ftp://)."""
    target, target_heads = endpoint(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    url, heads = endpoint(raw(b"HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % (code, target.encode())))
    delivery = post(url)
    assert target_heads == [] and len(heads) == 1
    assert not delivery.delivered and delivery.error.startswith(f"HTTP {code} redirect (not followed")


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_quoted(endpoint, data_dir, monkeypatch, capsys):
    """urllib sent user:password@ as part of the host name: such a webhook never got an alert, and without a
    port http.client raised InvalidURL("nonnumeric port: 'S3CRET...@host'") out of the sensor, password and
    all (the scrubber knows the whole URL, not its pieces)."""
    url, heads = endpoint(raw(b"HTTP/1.1 204 No Content\r\n\r\n"))
    with_auth = url.replace("http://", f"http://alice:{PASSWORD}@")
    delivered = post(with_auth)
    assert len(heads) == 1 and delivered.delivered
    head = heads[0].decode()
    assert f"Authorization: Basic {base64.b64encode(f'alice:{PASSWORD}'.encode()).decode()}" in head
    assert PASSWORD not in head.replace(head.split("Authorization: ")[1].split("\r\n")[0], "")
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", f"http://alice:{PASSWORD}@localhost/hook")
    delivery = alerts.raise_alert(data_dir, ALERT)
    assert delivery is not None and not delivery.delivered
    out = capsys.readouterr()
    for text in (delivery.error, data_dir.log_file.read_text(), (data_dir.data_dir / "alerts.log").read_text(),
                 out.out, out.err):
        assert PASSWORD not in text and "alice" not in text
    assert '"event": "alert_webhook_failed"' in data_dir.log_file.read_text()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:,hello"])
def test_only_http_urls_are_posted_to(url):
    """A file: or data: URL (or ftp:) was opened: urllib's answer has no HTTP status, and `200 <= None` raised
    TypeError out of the sensor."""
    delivery = post(url)
    assert not delivery.delivered and delivery.attempts == 0 and "http://" in delivery.error


def test_an_unwritable_alerts_log_still_posts_the_alert(endpoint, data_dir, monkeypatch):
    """alerts.log written first, and its OSError (a full disk) raised before the POST: the one channel that
    could still tell someone was skipped. The POST is made, then the OSError raised (the tick shows it)."""
    url, heads = endpoint(raw(b"HTTP/1.1 204 No Content\r\n\r\n"))
    monkeypatch.setenv("BLOFIN_ALERT_WEBHOOK_URL", url)
    (data_dir.data_dir / "alerts.log").mkdir()
    with pytest.raises(IsADirectoryError):
        alerts.raise_alert(data_dir, ALERT)
    assert len(heads) == 1 and heads[0].startswith(b"POST /hook ")


def short_budget(monkeypatch) -> None:
    """Attempts of 0.5 s within 1.5 s, so a test of the deadline waits little."""
    monkeypatch.setattr(alerts, "ATTEMPT_S", 0.5, raising=False)
    monkeypatch.setattr(alerts, "ALERT_BUDGET_S", 1.5, raising=False)


def test_a_slow_name_lookup_is_inside_the_deadline(endpoint, monkeypatch):
    """The deadline was armed once connected: getaddrinfo (which takes no timeout) ran outside it, so a DNS
    server answering after 3 s held a 0.5 s attempt 3 s (and the sensor's tick with it); here the late
    answer is not waited for, and the endpoint is never reached."""
    short_budget(monkeypatch)
    url, heads = endpoint(raw(b"HTTP/1.1 204 No Content\r\n\r\n"))
    slow_name_lookup(monkeypatch, 3.0)
    delivery = post(url)
    assert not delivery.delivered and delivery.error.startswith("the host name did not resolve within ")
    assert heads == []


def test_a_trickled_tls_handshake_is_inside_the_deadline(endpoint, monkeypatch):
    """The deadline was armed after the TLS handshake: a server trickling its handshake a byte at a time
    held an https webhook's attempt for as long as it liked."""
    short_budget(monkeypatch)
    url, _ = endpoint(trickled_tls_handshake, scheme="https", reads_request=False)
    delivery = post(url)
    assert not delivery.delivered and delivery.error.startswith("no complete answer within ")


def test_a_retry_after_past_the_budget_stops_the_retries(endpoint):
    """A 503 asking to come back in an hour was retried at once, twice: the answer is the same, and the
    endpoint asked not to be. It is one attempt and one line saying why no other was made."""
    url, heads = endpoint(raw(b"HTTP/1.1 503 Busy\r\nRetry-After: 3600\r\nContent-Length: 0\r\n\r\n"))
    delivery = post(url)
    assert not delivery.delivered and delivery.attempts == len(heads) == 1
    assert delivery.error.startswith("HTTP 503; Retry-After 3600 s is past the ") and delivery.error.endswith(
        " s left: not retried")


def test_a_retry_after_that_fits_the_budget_is_waited(endpoint, monkeypatch):
    """A 429's Retry-After: 1 was ignored (the retry came 0.2 s later, refused again); it is waited, then
    the alert is delivered."""
    pauses: list[float] = []
    monkeypatch.setattr(alerts, "_pause", pauses.append, raising=False)
    answers = iter([b"HTTP/1.1 429 Slow down\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
                    b"HTTP/1.1 204 No Content\r\n\r\n"])
    url, heads = endpoint(lambda conn, _: conn.sendall(next(answers)))
    delivery = post(url)
    assert delivery.delivered and delivery.attempts == len(heads) == 2 and pauses == [1.0]


@pytest.mark.parametrize("value, seconds", [("120", 120.0), ("Wed, 05 Mar 2025 10:02:00 GMT", 120.0),
                                            ("Wed, 05 Mar 2025 09:00:00 GMT", 0.0), ("soon", None), ("-5", None),
                                            ("\u00b2", None), ("\u0661\u0662", None),
                                            ("", None)])
def test_retry_after_is_seconds_or_an_http_date(value, seconds):
    from datetime import datetime, timezone
    from email.message import Message

    from python_assets.platform.deadline import retry_after_s

    headers = Message()
    headers["Retry-After"] = value
    assert retry_after_s(headers, datetime(2025, 3, 5, 10, 0, tzinfo=timezone.utc)) == seconds


def test_a_retry_after_of_non_ascii_digits_is_not_an_exception(endpoint):
    """http.client reads headers as Latin-1, where '²' passes str.isdigit but not float(): a 503 with
    `Retry-After: ²` made post_webhook raise ValueError from its except block (inside the failure sensor).
    Such a value is no Retry-After (RFC 9110: ASCII digits), so the usual retries follow."""
    url, heads = endpoint(raw(b"HTTP/1.1 503 Busy\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n\r\n"))
    delivery = post(url)
    assert not delivery.delivered and delivery.error == "HTTP 503" and delivery.attempts == len(heads) == 3
