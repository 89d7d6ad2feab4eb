"""An instrument's own funding interval field read in whole hours whatever its unit: ms, seconds or hours
(seconds were stored as 0 hours: 28,800 // 3,600,000); anything that is no whole number of hours in its unit
is None, never a wrong count."""

from __future__ import annotations

import pytest

from python_assets.exchange.rec_rest import own_interval_hours


@pytest.mark.parametrize("value, hours", [
    (28_800_000, 8), (3_600_000, 1), (14_400_000, 4),  # ms
    (28_800, 8), (3_600, 1),  # seconds
    (8, 8), (1, 1), (4.0, 4),  # hours
    (None, None), (0, None), (-8, None), (float("nan"), None),
    (28_800_001, None), (1_800_000, None), (5_400, None), (2.5, None), (200, None)])
def test_own_interval_hours_by_unit(value, hours):
    assert own_interval_hours(value) == hours
