"""The synthetic market: deterministic, realistic enough (volume, regimes, clustering, gaps, funding)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from python_assets.config import Paths
from python_assets.lake.store import trades_partition, write_trades
from python_assets.ingest.synthetic import (
    PROFILES,
    REGIMES,
    ar1,
    generate_funding,
    generate_ticks,
    hourly_path,
    last_complete_days,
    market_kind,
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


def test_the_noise_market_is_a_driftless_iid_walk_of_constant_volatility():
    """BLOFIN_SYNTHETIC_MARKET=noise: one regime, one sigma, hourly returns uncorrelated with their past
    and mean zero: a market where research must find nothing."""
    path = hourly_path(7, "ETH-USDT", 0.0, "noise")
    r = np.diff(path.log_anchor)
    assert set(np.unique(path.regime)) == {0} and np.ptp(path.sigma) == 0.0
    se = r.std() / np.sqrt(len(r))
    assert abs(r.mean()) < 3 * se and np.allclose(r.std(), path.sigma[0], rtol=0.02)
    bound = 4 / np.sqrt(len(r))
    for lag in (1, 2, 24):
        assert abs(np.corrcoef(r[:-lag], r[lag:])[0, 1]) < bound
        assert abs(np.corrcoef(np.abs(r[:-lag]), np.abs(r[lag:]))[0, 1]) < bound  # no volatility clustering
    regimes = np.abs(np.diff(hourly_path(7, "ETH-USDT").log_anchor))  # the default market clusters
    assert np.corrcoef(regimes[:-1], regimes[1:])[0, 1] > 10 * bound


def test_a_planted_edge_on_noise_lifts_the_hour_after_a_drop_without_drifting_the_path():
    plain, edged = hourly_path(7, "BTC-USDT", 0.0, "noise"), hourly_path(7, "BTC-USDT", 0.8, "noise")
    r, sigma = np.diff(edged.log_anchor), edged.sigma[0]
    z = np.diff(plain.log_anchor) / sigma  # the same shocks without the edge
    after_drop = np.r_[False, z[:-1] < -1.0]
    assert r[after_drop].mean() > 0.5 * sigma > 0.0 > r[~after_drop].mean()
    assert abs(r.mean()) < 3 * r.std() / np.sqrt(len(r))
    assert np.ptp(edged.log_anchor) < 10  # prices stay within e^10 over the 16 years


def test_funding_on_noise_follows_no_price_move(monkeypatch):
    def rates_and_moves():
        rates, moves = [], []
        path = hourly_path(7, "BTC-USDT", 0.0, market_kind())
        for k in range(60):
            day = DAY + timedelta(days=k)
            f = generate_funding("BTC-USDT", day, seed=7)
            h = [(day - date(2020, 1, 1)).days * 24 + hour for hour in (0, 8, 16)]
            rates += list(f["funding_rate"])
            moves += [path.log_anchor[x] - path.log_anchor[x - 8] for x in h]
        return np.corrcoef(rates, moves)[0, 1]

    assert rates_and_moves() > 0.5  # the default market: trend => longs pay
    monkeypatch.setenv("BLOFIN_SYNTHETIC_MARKET", "noise")
    assert abs(rates_and_moves()) < 0.2


def test_an_unknown_market_kind_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("BLOFIN_SYNTHETIC_MARKET", "walk")
    with pytest.raises(ValueError, match="BLOFIN_SYNTHETIC_MARKET must be one of regimes, noise, got 'walk'"):
        generate_ticks("BTC-USDT", DAY)


def _half_hours(symbol: str, days: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per UTC hour of `days` days of noise ticks: the log move of its first and of its second half-hour
    (last trade before each mark), and the hour's sigma."""
    ticks = pd.concat([generate_ticks(symbol, DAY + timedelta(days=k), seed=7) for k in range(days)])
    ts, logp = ticks["ts"].to_numpy(), np.log(ticks["price"].to_numpy())
    start = int(ts[0]) // 3_600_000 * 3_600_000 + 3_600_000
    marks = np.arange(start, int(ts[-1]) - 3_600_000, 1_800_000)  # hour starts and half-hours
    at = logp[np.searchsorted(ts, marks, side="left") - 1]  # the price standing at each mark
    first, second = at[1:-1:2] - at[:-2:2], at[2::2] - at[1:-1:2]
    return first, second, hourly_path(7, symbol, 0.0, "noise").sigma[0]


def test_on_noise_a_big_first_half_hour_says_nothing_about_the_second(monkeypatch):
    """1m-bar research must find nothing on noise: inside an hour the ticks trace a Brownian motion. A
    heavy-tailed hourly move spread linearly over the hour (plus a bridge) made the rest of an hour continue
    > 2 sigma half-hour by a third of the hour's sigma (~20 bp on BTC, more than taker fees), a > 2.5 sigma
    one by 0.7 sigma."""
    monkeypatch.setenv("BLOFIN_SYNTHETIC_MARKET", "noise")
    moves = []
    for symbol in ("BTC-USDT", "SOL-USDT"):
        first, second, sigma = _half_hours(symbol, 90)
        big = np.abs(first) > 2.5 * first.std()
        moves.append(second[big] * np.sign(first[big]) / sigma)  # continuation, in hourly sigmas
    cont = np.concatenate(moves)
    assert len(cont) >= 40
    assert abs(cont.mean()) < 3 * cont.std() / np.sqrt(len(cont)), cont.mean()  # within 3 standard errors of 0


def test_on_noise_a_price_that_wandered_decades_down_keeps_a_fine_grid(monkeypatch):
    """Noise has no pull: seed 5's SYM4-USDT (start ~1,148, tick 0.1) is near 1 on 2026-12-28. A tick fixed in
    price units printed one price all day there (1.0, ten ticks), a frozen grid; it shrinks a decade at a time."""
    monkeypatch.setenv("BLOFIN_SYNTHETIC_MARKET", "noise")
    px = generate_ticks("SYM4-USDT", date(2026, 12, 28), seed=5)["price"].to_numpy()  # a made-up symbol
    steps = np.abs(np.diff(px))
    assert np.median(px) < 2.0 and len(np.unique(px)) > 1000
    assert steps[steps > 0].min() / np.median(px) < 2e-4  # at most about the tick's share of the start price


@pytest.mark.parametrize("coef", [0.985, 1.0 - 1.0 / (24 * 180)])
def test_ar1_has_the_bits_of_scipys_lfilter(coef):
    """The generator's two AR(1) filters give what scipy.signal.lfilter gave (the market is unchanged),
    extreme magnitudes and signed zeros included."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.06, 20_000) * rng.choice([1.0, 1e-300, 1e300], 20_000)
    x[:3] = [-0.0, 0.0, -0.0]
    got, want = ar1(x, coef), lfilter([1.0], [1.0, -coef], x)
    assert got.view(np.int64).tolist() == want.view(np.int64).tolist()
    assert ar1(np.zeros(0), coef).shape == (0,)


def test_generating_a_day_does_not_import_scipy(tmp_path):
    """The lake step generates the demo's days inside the Dagster process, which kept scipy.signal's ~60 MiB."""
    code = ("import sys; from datetime import date; from python_assets.ingest.synthetic import generate_ticks; "
            "generate_ticks('BTC-USDT', date(2025, 3, 10)); print(sorted(m for m in sys.modules if m.startswith('scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
