"""Probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey,
Borwein, Lopez de Prado and Zhu, 2015): split the T x N matrix of N trials' per-period returns into S
blocks; for every choice of S/2 blocks as in-sample, take the trial with the best in-sample Sharpe and
the logit of its relative rank out of sample; PBO is the share of logits <= 0 (the in-sample winner
ranks at or below the median out of sample)."""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations

import numpy as np

from python_assets.research.dsr import FLAT_RTOL

MAX_BLOCKS = 16


def n_blocks(n_periods: int, max_blocks: int = MAX_BLOCKS) -> int:
    """The even block count used for T periods: max_blocks, or fewer so each block holds >= 2 periods
    (0 when T < 4: too short for two halves of two periods each)."""
    s = min(max_blocks, n_periods // 2)
    return s - s % 2 if s >= 2 else 0


def periods_used(n_periods: int, s: int) -> int:
    """The periods s equal blocks cover: all but the oldest n_periods mod s (all of them when s is 0: no blocks).
    Dropping the newest instead left the last 2 of 30 days (15 of 47) out of every PBO."""
    return n_periods - n_periods % s if s else n_periods


@lru_cache(maxsize=8)
def in_sample_masks(s: int) -> np.ndarray:
    """C(s, s/2) x s matrix of 0/1: each row one choice of s/2 in-sample blocks (lexicographic order)."""
    chosen = np.array(list(combinations(range(s), s // 2)))
    mask = np.zeros((len(chosen), s))
    np.put_along_axis(mask, chosen, 1.0, axis=1)
    mask.setflags(write=False)
    return mask


# Sharpes closer than this, relative to the largest of their row, are ties: the same returns summed in
# another order (a trial whose returns are another's reordered within blocks) differ in the last bits.
TIE_RTOL = 1e-10
# ... or closer than this whatever the row: Sharpes that are 0 exactly (means that cancel) come out of the
# sums as +-1e-17, whose signs depend on the summation order (how many combinations one matmul takes).
TIE_ATOL = 1e-12


def block_sharpes(sums: np.ndarray, squares: np.ndarray, counts: np.ndarray, flat: np.ndarray | None = None) -> np.ndarray:
    """Sharpe (mean / sample stddev) from per-row sums, sums of squares and counts; 0 when flat (flat:
    the exact test of flat_unions; the variance from sums leaves a constant series a rounding spread)."""
    mean = sums / counts
    var = (squares - counts * mean * mean) / np.maximum(counts - 1, 1)
    sd = np.sqrt(np.maximum(var, 0.0))
    flat = (sd <= FLAT_RTOL * np.maximum(np.abs(mean), 1.0)) | (False if flat is None else flat)
    return np.where(flat, 0.0, mean / np.where(flat, 1.0, sd))


def block_codes(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block and trial (s x N): whether the block is not constant, and its minimum's dense rank among
    the trial's block minima (np.unique's inverse per column, computed for all columns at once)."""
    low, high = blocks.min(axis=1), blocks.max(axis=1)  # s x N
    order = np.argsort(low, axis=0, kind="stable")
    ranked = np.take_along_axis(low, order, axis=0)
    dense = np.cumsum(np.vstack([np.zeros((1, low.shape[1]), dtype=bool), ranked[1:] != ranked[:-1]]), axis=0)
    codes = np.empty_like(dense)
    np.put_along_axis(codes, order, dense, axis=0)
    return (low != high).astype(float), codes.astype(float)


def flat_unions(blocks: np.ndarray, mask: np.ndarray, codes: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """C x N: whether each union of blocks (a row of the 0/1 mask over the s blocks of blocks, s x size x N)
    holds a single value, per trial, exactly: every chosen block constant, and their values equal (each
    block's value coded as its dense rank among the trial's block minima; k codes are all equal iff
    k * sum(code^2) == sum(code)^2, small integers that float arithmetic holds exactly). codes: block_codes(blocks)."""
    varies, code = block_codes(blocks) if codes is None else codes
    flat = np.zeros((len(mask), varies.shape[1]), dtype=bool)
    cols = np.flatnonzero(~varies.all(axis=0))  # only a trial with a constant block can have a flat union
    if len(cols):
        v, c, k = varies[:, cols], code[:, cols], mask.sum(axis=1, keepdims=True)
        flat[:, cols] = (mask @ v == 0) & (k * (mask @ (c * c)) == (mask @ c) ** 2)
    return flat


def _tolerance(values: np.ndarray) -> np.ndarray:
    """Per row, the distance within which two Sharpes are ties (TIE_RTOL of the row's largest, at least TIE_ATOL)."""
    return np.maximum(TIE_RTOL * np.max(np.abs(values), axis=1, keepdims=True), TIE_ATOL)


def best_trials(values: np.ndarray) -> np.ndarray:
    """Per row, the first trial whose Sharpe ties with the row's best (ties: the first trial)."""
    return np.argmax(values >= values.max(axis=1, keepdims=True) - _tolerance(values), axis=1)


def relative_ranks(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per row of a c x N matrix, the relative rank in (0, 1) of values[row, index[row]]: its midrank
    among the row's N values (1 = worst, ties share the mean rank; see TIE_RTOL) / (N + 1)."""
    picked, tol = values[np.arange(len(values)), index][:, None], _tolerance(values)
    below, ties = np.sum(values < picked - tol, axis=1), np.sum(np.abs(values - picked) <= tol, axis=1)
    return (below + (ties + 1) / 2) / (values.shape[1] + 1)


def pbo(returns: np.ndarray, s: int | None = None) -> tuple[float, np.ndarray, int]:
    """(PBO, logits, number of combinations) of a T x N matrix of per-period returns (rows: periods in
    time order, columns: trials). s: an even block count (default n_blocks(T)); the oldest T mod s
    periods are dropped so blocks are equal (periods_used: the newest always count). NaN and no logits
    when T or N is too small, or when every trial has the same returns: the in-sample "winner" then ties
    at the median everywhere (logit 0), which the inclusive rule would count as overfitting 1.0 for a
    search that selected nothing."""
    r = np.asarray(returns, dtype=float)
    if r.ndim != 2:
        raise ValueError(f"pbo needs a T x N matrix, got {r.ndim} dimension(s)")
    t, n = r.shape
    s = n_blocks(t) if s is None else s
    if s < 2 or s % 2 or n < 2 or t < 2 * s:
        if s % 2:
            raise ValueError(f"the block count must be even, got {s}")
        return math.nan, np.zeros(0), 0
    r = np.nan_to_num(r[t - periods_used(t, s):])
    if np.all(r == r[:, :1]):  # one distinct trial (never trading, or parameters without effect): nothing was chosen
        return math.nan, np.zeros(0), 0
    blocks = r.reshape(s, -1, n)
    sums, squares = blocks.sum(axis=1), (blocks * blocks).sum(axis=1)  # s x n
    mask = in_sample_masks(s)
    step, codes = max(1, CHUNK_VALUES // n), block_codes(blocks)
    logits = np.concatenate([_logits(blocks, sums, squares, mask[k:k + step], codes) for k in range(0, len(mask), step)])
    return float(np.mean(logits <= 0)), logits, len(mask)


# Combinations x trials handled at once: a day's search (thousands of trials x 12,870 combinations) in
# steps of ~8 MB per matrix instead of GBs; a design's own tuning (tens of trials) is one step.
CHUNK_VALUES = 1_000_000


def _logits(blocks: np.ndarray, sums: np.ndarray, squares: np.ndarray, mask: np.ndarray,
            codes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The logits of the combinations in the rows of `mask` (see pbo)."""
    counts = np.full((len(mask), blocks.shape[2]), blocks.shape[1] * blocks.shape[0] / 2)
    is_sharpe = block_sharpes(mask @ sums, mask @ squares, counts, flat_unions(blocks, mask, codes))
    oos_sharpe = block_sharpes((1 - mask) @ sums, (1 - mask) @ squares, counts, flat_unions(blocks, 1 - mask, codes))
    omega = relative_ranks(oos_sharpe, best_trials(is_sharpe))
    return np.log(omega / (1 - omega))
