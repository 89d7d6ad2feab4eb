"""The synthetic market: deterministic, realistic enough (volume, regimes, clustering, gaps, funding)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from python_assets.config import Paths
from python_assets.lake.store import trades_partition, write_trades
from python_assets.ingest.synthetic import (
    PROFILES,
    REGIMES,
    generate_funding,
    generate_ticks,
    hourly_path,
    last_complete_days,
)
from python_assets.platform.timeframes import DAY_MS

DAY = date(2025, 3, 10)


def test_generate_ticks_same_seed_symbol_day_gives_byte_identical_lake_files(tmp_path):
    a, b = Paths(tmp_path / "a"), Paths(tmp_path / "b")
    write_trades(a, "BTC-USDT", generate_ticks("BTC-USDT", DAY, seed=3))
    hourly_path.cache_clear()  # regenerate from scratch, not from the cached hourly path
    write_trades(b, "BTC-USDT", generate_ticks("BTC-USDT", DAY, seed=3))
    assert trades_partition(a, "BTC-USDT", DAY).read_bytes() == trades_partition(b, "BTC-USDT", DAY).read_bytes()


@pytest.mark.parametrize(
    "other",
    [dict(symbol="BTC-USDT", day=DAY, seed=4), dict(symbol="ETH-USDT", day=DAY, seed=3),
     dict(symbol="BTC-USDT", day=DAY + timedelta(days=1), seed=3)],
    ids=["other seed", "other symbol", "other day"],
)
def test_generate_ticks_differs_when_seed_symbol_or_day_differs(other):
    base = generate_ticks("BTC-USDT", DAY, seed=3)
    changed = generate_ticks(other["symbol"], other["day"], seed=other["seed"])
    assert not base["price"].head(1000).equals(changed["price"].head(1000))


@pytest.mark.parametrize("symbol", sorted(PROFILES))
def test_generate_ticks_schema_and_ranges(symbol):
    t = generate_ticks(symbol, DAY)
    assert list(t.columns) == ["trade_id", "ts", "price", "size", "side"]
    start = int(pd.Timestamp(DAY, tz="UTC").timestamp() * 1000)
    assert t["ts"].between(start, start + DAY_MS - 1).all()
    assert t["ts"].is_monotonic_increasing
    assert t["trade_id"].is_unique
    assert (t["price"] > 0).all() and (t["size"] > 0).all()
    assert set(t["side"]) == {"buy", "sell"}


def test_btc_has_about_60k_ticks_per_day():
    counts = [len(generate_ticks("BTC-USDT", DAY + timedelta(days=i))) for i in range(5)]
    assert all(45_000 <= n <= 75_000 for n in counts), counts
    assert 55_000 <= np.mean(counts) <= 65_000


def test_days_join_up_without_a_price_jump():
    for i in range(5):
        d = DAY + timedelta(days=i)
        last = generate_ticks("ETH-USDT", d)["price"].iloc[-1]
        first = generate_ticks("ETH-USDT", d + timedelta(days=1))["price"].iloc[0]
        assert abs(first / last - 1) < 0.01


def test_hourly_path_switches_between_all_regimes_and_clusters_volatility():
    path = hourly_path(7, "BTC-USDT")
    window = slice(24 * 1900, 24 * 1990)  # 90 days of hours
    assert set(path.regime[window]) == set(range(len(REGIMES)))
    r = np.diff(path.log_anchor[24 * 1900 : 24 * 1990 + 1])
    acf_abs = np.corrcoef(np.abs(r[:-1]), np.abs(r[1:]))[0, 1]
    acf_raw = np.corrcoef(r[:-1], r[1:])[0, 1]
    assert acf_abs > 0.1 > abs(acf_raw)
    high_vol = path.regime[window] == REGIMES.index("high_vol")
    assert np.abs(r[high_vol]).mean() > 1.5 * np.abs(r[path.regime[window] == REGIMES.index("range")]).mean()


def test_some_days_have_quiet_gaps_of_several_minutes():
    longest = []
    for i in range(20):
        ts = generate_ticks("SOL-USDT", DAY + timedelta(days=i))["ts"].to_numpy()
        longest.append(np.diff(ts).max() / 60_000)
    assert max(longest) >= 3
    assert sum(g >= 3 for g in longest) < 20  # occasional, not every day


def test_funding_settles_three_times_a_day_within_the_cap():
    f = generate_funding("BTC-USDT", DAY)
    hours = pd.to_datetime(f["funding_ts"], unit="ms", utc=True).dt.hour.tolist()
    assert hours == [0, 8, 16]
    assert f["funding_rate"].abs().le(0.0075).all()
    rates = pd.concat([generate_funding("BTC-USDT", DAY + timedelta(days=i)) for i in range(30)])["funding_rate"]
    assert rates.nunique() > 30


def test_last_complete_days_ends_yesterday_utc():
    from datetime import datetime, timezone

    now = datetime(2026, 1, 2, 0, 30, tzinfo=timezone.utc)
    assert last_complete_days(3, now) == [date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 1)]


def test_days_outside_the_horizon_are_refused():
    with pytest.raises(ValueError, match="synthetic market covers"):
        generate_ticks("BTC-USDT", date(2019, 12, 31))
