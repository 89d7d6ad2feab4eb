"""A failed asset check's finding reaches the report's warnings: the report listed bars_1m_is_fresh under
failed_checks, but no warning named the stale symbol its description gives."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import dagster as dg

from dagster_defs.reports.assets import run_facts
from python_assets.reports.daily_report import check_warnings

STALE = "BTC-USDT: last 1m bar 119 min before the end of 2025-03-10"


@dg.asset(name="bars_1m")
def bars():  # no annotations: they are strings here (__future__), which Dagster resolves in module scope
    return None


@dg.asset_check(asset=bars, name="bars_1m_is_fresh")
def fresh():
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description=STALE)


@dg.asset_check(asset=bars, name="bars_1m_is_whole")
def whole():
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


def test_a_failed_checks_description_is_kept_and_becomes_a_warning_naming_the_stale_symbol():
    job = dg.Definitions(assets=[bars], asset_checks=[fresh, whole]).resolve_implicit_global_asset_job_def()
    instance, run_id = dg.DagsterInstance.ephemeral(), str(uuid.uuid4())
    assert job.execute_in_process(instance=instance, run_id=run_id).success
    _, failed = run_facts(SimpleNamespace(instance=instance, run=SimpleNamespace(run_id=run_id)))
    assert sorted(failed, key=lambda c: c["check"]) == [
        {"asset": "bars_1m", "check": "bars_1m_is_fresh", "description": STALE},
        {"asset": "bars_1m", "check": "bars_1m_is_whole"}]
    assert check_warnings(failed) == [f"asset check bars_1m_is_fresh on bars_1m did not pass: {STALE}"]
    assert check_warnings([{"asset": "bars_1m", "check": "bars_1m_is_fresh"}]) == []  # a report stored before: as it was
