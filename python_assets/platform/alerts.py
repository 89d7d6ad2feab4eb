"""Failure alerts: one JSON line appended to <data>/alerts.log and, when configured, a webhook POST."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any

from python_assets.config import Paths, alert_webhook_url
from python_assets.platform.secrets import scrub


def build_alert(kind: str, message: str, **fields: Any) -> dict[str, Any]:
    """The alert record: UTC time, kind, message and context fields (never secrets)."""
    return {"ts": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kind": kind, "message": message, **fields}


def append_alert(paths: Paths, alert: dict[str, Any]) -> None:
    """Append one line to alerts.log (a single write call, so concurrent writers do not interleave)."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.data_dir / "alerts.log", "a", encoding="utf-8") as fh:
        fh.write(scrub(json.dumps(alert, default=str)) + "\n")


def post_webhook(url: str, alert: dict[str, Any], attempts: int = 3, timeout_s: float = 5.0) -> bool:
    """POST the alert as JSON; retries with backoff; returns False (never raises) when it cannot."""
    body = scrub(json.dumps(alert, default=str)).encode()
    for attempt in range(attempts):
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                if 200 <= resp.status < 300:
                    return True
        except ValueError:  # not a URL (no http(s):// scheme): no retry helps, and the message holds the URL
            return False
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2 * 2**attempt)
    return False


def raise_alert(paths: Paths, alert: dict[str, Any]) -> bool | None:
    """Log the alert; POST it when BLOFIN_ALERT_WEBHOOK_URL is set. Returns the POST outcome or None."""
    append_alert(paths, alert)
    url = alert_webhook_url()
    return post_webhook(url, alert) if url else None
