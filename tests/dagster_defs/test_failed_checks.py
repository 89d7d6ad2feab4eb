"""A failing dbt test stops everything downstream in that run and shows up as a failed asset check."""

from __future__ import annotations

import pytest
from conftest import TEST_DAYS

from dagster_defs.runner import materialize_days
from python_assets.lake import write_trades
from python_assets.synthetic import generate_ticks


@pytest.mark.slow
def test_bad_rows_that_bypass_ingestion_fail_the_check_and_block_the_report(data_dir, monkeypatch):
    monkeypatch.setenv("BLOFIN_SOURCE", "lake")
    day = TEST_DAYS[0]
    ticks = generate_ticks("BTC-USDT", day)
    ticks.loc[100, "price"] = -1.0  # written straight to the lake, as a buggy importer might
    write_trades(data_dir, "BTC-USDT", ticks)
    result = materialize_days(day, day, raise_on_error=False)
    assert not result.success
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["expression_is_true_stg_trades_price___0"] is False
    materialized = {e.asset_key.to_user_string() for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert "stg_trades" in materialized
    assert not {"bars_1m", "daily_market_summary", "daily_report"} & materialized
    assert not (data_dir.reports / f"{day.isoformat()}.json").exists()
