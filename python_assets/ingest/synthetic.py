"""Deterministic synthetic perpetual-swap market: trade ticks and 8-hourly funding per symbol and UTC day.

The hourly skeleton (regimes, clustered volatility, hourly log-price anchors) is one seeded path per
(seed, symbol) from EPOCH, so a day's ticks depend only on (seed, symbol, day) and days join up
continuously: the last trade of a day sits next to the first trade of the next.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import numpy as np
import pandas as pd

from python_assets.config import DEFAULT_SEED  # noqa: F401 - re-exported: its old home
from python_assets.config import SYNTHETIC_EDGE_ENV as EDGE_ENV  # noqa: F401 - its old name (tests set it)
from python_assets.config import synthetic_edge, synthetic_market
from python_assets.platform.timeframes import DAY_MS, HOUR_MS, MINUTE_MS

EPOCH = date(2020, 1, 1)
HORIZON_DAYS = 366 * 16  # the hourly skeleton covers 2020 .. 2035
REGIMES = ("range", "trend_up", "trend_down", "high_vol")
FUNDING_HOURS = (0, 8, 16)


@dataclass(frozen=True)
class SymbolProfile:
    """Scale of one symbol: starting price, ticks per day, price tick, size lot, daily volatility."""

    start_price: float
    ticks_per_day: int
    tick_size: float
    lot: float
    daily_vol: float


PROFILES: dict[str, SymbolProfile] = {
    "BTC-USDT": SymbolProfile(30_000.0, 60_000, 0.1, 0.001, 0.030),
    "ETH-USDT": SymbolProfile(2_000.0, 40_000, 0.01, 0.01, 0.040),
    "SOL-USDT": SymbolProfile(60.0, 25_000, 0.001, 0.1, 0.055),
}

# Per regime: multiplier of volatility, drift per hour in units of hourly sigma.
_REGIME_VOL = np.array([0.7, 1.0, 1.0, 2.2])
_REGIME_DRIFT = np.array([0.0, 0.08, -0.08, 0.0])


def profile_for(symbol: str) -> SymbolProfile:
    """Known profile, or a stable made-up one for any other symbol (scale-out runs use many)."""
    if symbol in PROFILES:
        return PROFILES[symbol]
    h = zlib.crc32(symbol.encode())
    price = float(10 ** (h % 400 / 100.0))  # 1 .. 10,000
    tick = 10 ** np.floor(np.log10(price) - 4)
    return SymbolProfile(price, 15_000 + h % 20_000, float(tick), 0.01, 0.03 + (h % 40) / 1000.0)


def _symbol_key(symbol: str) -> int:
    return zlib.crc32(symbol.encode("utf-8"))


@dataclass(frozen=True)
class HourlyPath:
    """Hourly skeleton from EPOCH: regime index, hourly sigma (log units) and log-price anchors."""

    regime: np.ndarray  # int8, one per hour
    sigma: np.ndarray  # float64, one per hour
    log_anchor: np.ndarray  # float64, one per hour boundary (len hours + 1)


def planted_edge() -> float:
    """The generator option BLOFIN_SYNTHETIC_EDGE (default 0: no edge): after an hour whose shock
    was below -1 sigma, the next hour drifts up by edge x sigma (a short-term reversal to find)."""
    return synthetic_edge()


def market_kind() -> str:
    """The generator option BLOFIN_SYNTHETIC_MARKET: 'regimes' (default) or 'noise': i.i.d. Gaussian hourly
    returns of constant volatility (the ticks then trace a Brownian motion), no drift, no regimes and no pull,
    and funding that follows no price move: nothing a strategy can find but a planted edge (the market for
    checking that research finds nothing)."""
    return synthetic_market()


def _path(seed: int, symbol: str) -> HourlyPath:
    """The generator's path for the options set in the environment (planted edge, market kind)."""
    return hourly_path(seed, symbol, planted_edge(), market_kind())


@lru_cache(maxsize=64)
def hourly_path(seed: int, symbol: str, edge: float = 0.0, market: str = "regimes") -> HourlyPath:
    """Regime-switching, volatility-clustered hourly path ('noise': i.i.d. Gaussian returns); cached, cheap (~10 ms)."""
    prof = profile_for(symbol)
    rng = np.random.default_rng([seed, _symbol_key(symbol), 0])
    n_hours = HORIZON_DAYS * 24
    # Regimes: segments with geometric durations (mean ~36 h), next state never equal to the last.
    n_seg = n_hours // 4
    durations = rng.geometric(1 / 36.0, size=n_seg)
    steps = rng.integers(1, len(REGIMES), size=n_seg)
    states = np.cumsum(steps) % len(REGIMES)
    regime = np.repeat(states, durations)[:n_hours].astype(np.int8)
    # Volatility clustering: log-vol is AR(1) (persistence 0.985 per hour).
    phi = 0.985
    shocks = rng.normal(0.0, 0.06, size=n_hours)
    log_vol = ar1(shocks, phi)
    base = prof.daily_vol / np.sqrt(24.0)
    sigma = base * np.exp(log_vol - 0.5 * log_vol.var()) * _REGIME_VOL[regime]
    z = rng.standard_t(5, size=n_hours) / np.sqrt(5 / 3)
    if market == "noise":
        # Gaussian shocks (drawn after the default market's, which stays as it was): generate_ticks spreads an
        # hour's move linearly over the hour plus a Gaussian bridge, a Brownian motion only when the move is
        # Gaussian too; a heavy-tailed hour would trend inside itself, its first half-hour predicting the second.
        regime, sigma, z = np.zeros(n_hours, dtype=np.int8), np.full(n_hours, base), rng.standard_normal(n_hours)
    returns = _REGIME_DRIFT[regime] * sigma + sigma * z
    if edge:
        drop = (z[:-1] < -1.0).astype(float)
        # on noise (no pull) the edge must not drift the path away: it moves the mean after a drop, not overall
        returns[1:] += edge * sigma[1:] * (drop - drop.mean() if market == "noise" else drop)
    # Weak pull towards the start price (half-life ~4 months) keeps 16 years of prices plausible; none
    # on noise, where the path is a plain random walk (the pull is a faint mean reversion).
    pull = 0.0 if market == "noise" else 1.0 / (24 * 180)
    deviation = ar1(returns, 1.0 - pull)
    log_anchor = np.log(prof.start_price) + np.concatenate([[0.0], deviation])
    return HourlyPath(regime=regime, sigma=sigma, log_anchor=log_anchor)


def ar1(x: np.ndarray, coef: float) -> np.ndarray:
    """y[n] = x[n] + coef * y[n-1] as scipy's lfilter([1], [1, -coef], x) computes it (its transposed
    direct form, step for step: the same bits, signed zeros included), without importing scipy.signal in
    the process that generates the lake (~0.5 s and ~60 MiB it kept)."""
    out, z, a1 = np.empty(len(x)), 0.0, -coef
    for i, v in enumerate(np.asarray(x, dtype=np.float64).tolist()):
        y = z + v
        out[i] = y
        z = v * 0.0 - y * a1
    return out


def day_index(day: date) -> int:
    """Days since EPOCH; raises for days outside the generator's horizon."""
    idx = (day - EPOCH).days
    if not 0 <= idx < HORIZON_DAYS - 1:
        raise ValueError(f"synthetic market covers {EPOCH} .. {EPOCH + timedelta(days=HORIZON_DAYS - 2)}, not {day}")
    return idx


def _quiet_gaps(rng: np.random.Generator) -> list[tuple[int, int]]:
    """0-2 windows per day (ms offsets) in which nobody trades: 3 to 25 minutes long."""
    gaps = []
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        start = int(rng.integers(0, DAY_MS - 30 * MINUTE_MS))
        gaps.append((start, start + int(rng.integers(3, 26)) * MINUTE_MS))
    return gaps


def generate_ticks(symbol: str, day: date, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Trade ticks of one UTC day: trade_id, ts (epoch ms UTC), price, size, side ('buy'/'sell')."""
    prof = profile_for(symbol)
    path = _path(seed, symbol)
    d = day_index(day)
    rng = np.random.default_rng([seed, _symbol_key(symbol), 1, d])
    day_start_ms = d * DAY_MS + _EPOCH_MS
    hours = np.arange(d * 24, d * 24 + 24)
    sig = path.sigma[hours]
    # Activity follows volatility and a mild intraday cycle (busiest around 14:00 UTC).
    season = 1.0 + 0.35 * np.cos((np.arange(24) - 14) / 24 * 2 * np.pi)
    weight = season * (sig / sig.mean()) ** 0.7
    counts = rng.poisson(prof.ticks_per_day * weight / weight.sum())

    parts_t, parts_logp, parts_up = [], [], []
    for k, h in enumerate(hours):
        n = int(counts[k])
        if n == 0:
            continue
        offs = np.sort(rng.integers(0, HOUR_MS, size=n))
        u = np.append(offs / HOUR_MS, 1.0)
        du = np.diff(np.concatenate([[0.0], u]))
        w = np.cumsum(rng.normal(0.0, 1.0, size=n + 1) * np.sqrt(du) * sig[k])
        a0, a1 = path.log_anchor[h], path.log_anchor[h + 1]
        bridge = a0 + u * (a1 - a0) + w - u * w[-1]
        incr = np.diff(np.concatenate([[a0], bridge[:-1]]))
        parts_t.append(day_start_ms + k * HOUR_MS + offs)
        parts_logp.append(bridge[:-1])
        parts_up.append(incr)

    ts = np.concatenate(parts_t) if parts_t else np.empty(0, dtype=np.int64)
    logp = np.concatenate(parts_logp) if parts_logp else np.empty(0)
    incr = np.concatenate(parts_up) if parts_up else np.empty(0)
    keep = np.ones(len(ts), dtype=bool)
    for g0, g1 in _quiet_gaps(rng):
        keep &= ~((ts >= day_start_ms + g0) & (ts < day_start_ms + g1))
    ts, logp, incr = ts[keep], logp[keep], incr[keep]
    n = len(ts)
    # Aggressor side leans with the move; the print sits half a spread away from mid on that side.
    p_buy = np.where(incr > 0, 0.62, 0.38)
    is_buy = rng.random(n) < p_buy
    half_spread = 0.5e-4
    raw_price = np.exp(logp) * (1 + np.where(is_buy, half_spread, -half_spread))
    tick = price_tick(prof, raw_price, market_kind())
    price = np.round(np.maximum(np.round(raw_price / tick), 1) * tick, 10)
    lots = np.ceil(rng.lognormal(mean=np.log(3.0), sigma=1.2, size=n))
    size = np.round(lots * prof.lot, 10)
    return pd.DataFrame(
        {
            "trade_id": (np.int64(d) * 10_000_000 + np.arange(1, n + 1, dtype=np.int64)).astype(str),
            "ts": ts.astype(np.int64),
            "price": price,
            "size": size,
            "side": np.where(is_buy, "buy", "sell"),
        }
    )


def price_tick(prof: SymbolProfile, raw_price: np.ndarray, market: str) -> np.ndarray | float:
    """The price grid of each print: the symbol's tick; on 'noise' (a walk without pull, which wanders decades
    below its start) a tenth of it per decade below the start price, so the tick stays at most the fraction of the
    price it was at the start: a fixed tick there grew to percents of the price, a grid prices bounce on."""
    if market != "noise" or not len(raw_price):
        return prof.tick_size
    decades = np.minimum(np.floor(np.log10(raw_price / prof.start_price)), 0.0)
    return prof.tick_size * 10.0 ** decades


def generate_funding(symbol: str, day: date, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Funding rates settled at 00:00, 08:00 and 16:00 UTC: funding_ts (epoch ms), funding_rate.

    The rate follows the premium built up over the previous 8 hours (trend => longs pay; not on the
    'noise' market), plus noise, clipped to BloFin's +-0.75% cap and rounded to 1e-6.
    """
    path = _path(seed, symbol)
    follows = 0.0 if market_kind() == "noise" else 0.02
    d = day_index(day)
    rng = np.random.default_rng([seed, _symbol_key(symbol), 2, d])
    rows = []
    for hour in FUNDING_HOURS:
        h = d * 24 + hour
        past = path.log_anchor[h] - path.log_anchor[max(h - 8, 0)]
        rate = 0.0001 + follows * past + rng.normal(0.0, 0.00004)
        rows.append((d * DAY_MS + _EPOCH_MS + hour * HOUR_MS, round(float(np.clip(rate, -0.0075, 0.0075)), 6)))
    return pd.DataFrame(rows, columns=["funding_ts", "funding_rate"])


def last_complete_days(n: int, now: datetime | None = None) -> list[date]:
    """The n complete UTC days before today, oldest first."""
    today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
    return [today - timedelta(days=i) for i in range(n, 0, -1)]


_EPOCH_MS = int(datetime(EPOCH.year, EPOCH.month, EPOCH.day, tzinfo=timezone.utc).timestamp() * 1000)
