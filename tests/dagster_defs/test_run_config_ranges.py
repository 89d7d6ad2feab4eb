"""`--config` is checked against every op's Config class before any step runs: a value out of its field's range
(ML n_folds 0, monte_carlo_paths 0 after all the tuning, top_k -1 as `limit -1`, archive_days 0 as history[-0:])
or a timeframe the timeframe table lacks (`1H` cleared the day's research) crashed or misled a step midway.
One line names the op, the field, the value and the range."""

from __future__ import annotations

import pytest

from dagster_defs.run_config import run_config_problem


def _op(op: str, **config) -> dict:
    return {"ops": {op: {"config": config}}}


@pytest.mark.parametrize("op, field, value, says", [
    ("ml_dataset", "n_folds", 0, "greater than or equal to 1"),
    ("ml_dataset", "timeframe", "2h", "is not one of 1m, 5m, 15m, 1h, 4h, 1d"),
    ("strategy_research", "timeframe", "1H", "is not one of 1m, 5m, 15m, 1h, 4h, 1d"),
    ("strategy_research", "lookback_days", 0, "greater than or equal to 1"),
    ("strategy_research", "monte_carlo_paths", 0, "greater than or equal to 1"),
    ("strategy_research", "trials_per_design", 0, "greater than or equal to 1"),
    ("strategy_research", "archive_days", 0, "greater than or equal to 1"),
    ("backtest_ledger", "train_days", 0, "greater than 0"),
    ("backtest_ledger", "lookback_days", -5, "greater than or equal to 1"),
    ("portfolio", "max_weight", 0, "greater than 0"),
    ("portfolio", "gross_leverage", float("inf"), "finite number"),
    ("backtest_ledger", "test_days", float("inf"), "finite number"),
    ("strategy_research", "lookback_days", 10**15, "less than or equal to 36500"),
    ("warehouse_dbt_assets", "first_build_window_bars", -1, "greater than or equal to 0"),
    ("warehouse_dbt_assets", "build_threads", -3, "greater than or equal to 0"),
    ("strategy_fill_stress", "top_k", -1, "greater than or equal to 0"),
])
def test_a_value_out_of_its_range_is_refused_in_one_line_naming_op_field_and_value(op, field, value, says):
    problem = run_config_problem(_op(op, **{field: value}))
    assert problem is not None and "\n" not in problem
    assert f"op {op}: {field} = {value!r}" in problem.replace(".0:", ":") and says in problem


def test_the_portfolio_and_fill_stress_have_no_timeframe_of_their_own():
    """The research's timeframe and window are the only ones: a second one ran the designs on other bars."""
    for op in ("portfolio", "strategy_fill_stress"):
        assert 'unexpected config entry "timeframe"' in run_config_problem(_op(op, timeframe="15m"))
        assert 'unexpected config entry "lookback_days"' in run_config_problem(_op(op, lookback_days=7))


def test_values_in_range_pass():
    assert run_config_problem(_op("strategy_research", timeframe="15m", lookback_days=7)) is None
    assert run_config_problem(_op("warehouse_dbt_assets", build_threads=0, first_build_window_bars=0)) is None
    assert run_config_problem({}) is None
