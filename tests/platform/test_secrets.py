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
