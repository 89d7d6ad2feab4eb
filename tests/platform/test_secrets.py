"""Every secret the deployment may set is blanked by the scrubber, in each spelling a message may quote."""

from __future__ import annotations

import pytest

from python_assets.config import SECRET_ENV_VARS
from python_assets.platform.secrets import scrub


@pytest.mark.parametrize("name", ["DAGSTER_PG_PASSWORD", "BLOFIN_LLM_API_KEY"])
def test_a_deployment_secret_is_scrubbed_from_messages(monkeypatch, name):
    """The Dagster instance's PostgreSQL password (docs/deployment.md: secret, env file only) was not among
    the scrubbed values: a storage error quoting its connection string reached logs and alerts as given."""
    assert name in SECRET_ENV_VARS
    monkeypatch.setenv(name, "pg-S3cret/pass")
    text = "could not connect: postgresql://blofin:pg-S3cret/pass@db:5432/dagster ('pg-S3cret%2Fpass')"
    assert scrub(text) == "could not connect: postgresql://blofin:***@db:5432/dagster ('***')"


def test_a_secret_echoed_in_another_case_base64_or_hex_is_scrubbed(monkeypatch):
    """A provider echoing the key lowercased or base64-encoded (alone, or inside a Basic auth token) got it
    past the scrubber into the report and the Dagster run's markdown summary."""
    import base64

    key = "sk-Abc+/DEF0123456789xyz"
    monkeypatch.setenv("BLOFIN_LLM_API_KEY", key)
    raw = key.encode()
    echoes = [key.lower(), key.upper(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
              base64.b64encode(b"user:" + raw).decode(), base64.b64encode(b"ab" + raw + b"tail").decode(), raw.hex().upper()]
    for echo in echoes:
        scrubbed = scrub(f"the key is {echo}.")
        assert "***" in scrubbed and base64.b64encode(raw[3:-3]).decode()[4:-4] not in scrubbed, (echo, scrubbed)
        assert key.lower()[3:-3] not in scrubbed.lower() and raw.hex()[6:-6] not in scrubbed.lower()
    assert scrub("plain words, c2VjcmV0 and deadbeef stay") == "plain words, c2VjcmV0 and deadbeef stay"
