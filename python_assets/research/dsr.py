"""The deflated Sharpe ratio (Bailey and Lopez de Prado, 2014): the probability that a strategy's
true Sharpe exceeds the best Sharpe expected from N trials of pure noise, correcting for the
non-normality of returns. All Sharpe ratios here are per bar (not annualised)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()  # the standard normal (stdlib: no scipy.stats import, ~1 s, in every run)


def moments(returns: np.ndarray) -> tuple[float, float]:
    """(skewness, kurtosis) as population moments (scipy's skew and kurtosis(fisher=False) defaults)."""
    d = np.asarray(returns, dtype=float) - np.mean(returns)
    m2 = np.mean(d * d)
    return float(np.mean(d ** 3) / m2 ** 1.5), float(np.mean(d ** 4) / m2 ** 2)


def sharpe(returns: np.ndarray) -> float:
    """Per-bar Sharpe: mean / sample stddev (NaN when flat or too short)."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 2 or is_flat(r):
        return math.nan
    sd = r.std(ddof=1)
    return float(r.mean() / sd) if sd > 0 else math.nan


# A stddev at or below this, relative to the mean's magnitude (at least 1), is rounding: the series is flat
# (pbo.block_sharpes uses the same). 0.1 + 0.2, 0.3, 0.3, 0.1 + 0.2 differ in the last bit only; their stddev
# of 2.8e-17 made a Sharpe of 6.6e15 and a DSR of 0.9997.
FLAT_RTOL = 1e-12


def is_flat(returns: np.ndarray) -> bool:
    """All returns equal, exactly or up to rounding (a stddev <= FLAT_RTOL x max(|mean|, 1)); NumPy's
    stddev of a constant series can come out a rounding above 0, which made its Sharpe ~1e15."""
    r = np.asarray(returns, dtype=float)
    if len(r) == 0 or np.ptp(r) == 0:
        return True
    return bool(r.std(ddof=1) <= FLAT_RTOL * max(abs(r.mean()), 1.0))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """E[max SR] of n_trials independent zero-edge trials whose Sharpe estimates have this variance: 0 for
    one trial (nothing to deflate for), NaN for several without a variance > 0 (no estimate of the noise's
    spread: a benchmark of 0 left a search of 1000 trials undeflated, its best called significant)."""
    if n_trials <= 1:
        return 0.0
    if not sharpe_variance > 0:
        return math.nan
    return math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials)
                                         + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n_trials * math.e)))


def probabilistic_sharpe(sr: float, benchmark: float, n_obs: int, skewness: float, kurt: float) -> float:
    """P(true SR > benchmark) given an estimate from n_obs returns with this skewness and (non-excess) kurtosis."""
    if n_obs < 2 or math.isnan(sr):
        return math.nan
    denom = 1 - skewness * sr + (kurt - 1) / 4 * sr * sr
    if denom <= 0:
        return math.nan
    return float(_NORMAL.cdf((sr - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom)))


def deflated_sharpe(returns: np.ndarray, n_trials: int, sharpe_variance: float) -> tuple[float, float]:
    """(DSR, SR0): the probabilistic Sharpe against the expected maximum of n_trials noise trials; both NaN
    (not available) when several trials came without a Sharpe variance to deflate by."""
    r = np.asarray(returns, dtype=float)
    sr = sharpe(r)
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    if math.isnan(sr) or math.isnan(sr0):  # flat (is_flat) or too short; or no benchmark
        return math.nan, sr0
    return probabilistic_sharpe(sr, sr0, len(r), *moments(r)), sr0
