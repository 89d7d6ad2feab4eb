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

MAX_BLOCKS = 16


def n_blocks(n_periods: int, max_blocks: int = MAX_BLOCKS) -> int:
    """The even block count used for T periods: max_blocks, or fewer so each block holds >= 2 periods
    (0 when T < 4: too short for two halves of two periods each)."""
    s = min(max_blocks, n_periods // 2)
    return s - s % 2 if s >= 2 else 0


@lru_cache(maxsize=8)
def in_sample_masks(s: int) -> np.ndarray:
    """C(s, s/2) x s matrix of 0/1: each row one choice of s/2 in-sample blocks (lexicographic order)."""
    chosen = np.array(list(combinations(range(s), s // 2)))
    mask = np.zeros((len(chosen), s))
    np.put_along_axis(mask, chosen, 1.0, axis=1)
    mask.setflags(write=False)
    return mask


def block_sharpes(sums: np.ndarray, squares: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sharpe (mean / sample stddev) from per-row sums, sums of squares and counts; 0 when flat."""
    mean = sums / counts
    var = (squares - counts * mean * mean) / np.maximum(counts - 1, 1)
    sd = np.sqrt(np.maximum(var, 0.0))
    flat = sd <= 1e-12 * np.maximum(np.abs(mean), 1.0)
    return np.where(flat, 0.0, mean / np.where(flat, 1.0, sd))


def relative_ranks(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per row of a c x N matrix, the relative rank in (0, 1) of values[row, index[row]]: its midrank
    among the row's N values (1 = worst, ties share the mean rank) / (N + 1)."""
    picked = values[np.arange(len(values)), index][:, None]
    below, ties = np.sum(values < picked, axis=1), np.sum(values == picked, axis=1)
    return (below + (ties + 1) / 2) / (values.shape[1] + 1)


def pbo(returns: np.ndarray, s: int | None = None) -> tuple[float, np.ndarray, int]:
    """(PBO, logits, number of combinations) of a T x N matrix of per-period returns (rows: periods in
    time order, columns: trials). s: an even block count (default n_blocks(T)); the last T mod s
    periods are dropped so blocks are equal. NaN and no logits when T or N is too small."""
    r = np.asarray(returns, dtype=float)
    if r.ndim != 2:
        raise ValueError(f"pbo needs a T x N matrix, got {r.ndim} dimension(s)")
    t, n = r.shape
    s = n_blocks(t) if s is None else s
    if s < 2 or s % 2 or n < 2 or t < 2 * s:
        if s % 2:
            raise ValueError(f"the block count must be even, got {s}")
        return math.nan, np.zeros(0), 0
    r = np.nan_to_num(r[: t - t % s])
    blocks = r.reshape(s, -1, n)
    sums, squares = blocks.sum(axis=1), (blocks * blocks).sum(axis=1)  # s x n
    size = blocks.shape[1]
    mask = in_sample_masks(s)
    counts = np.full((len(mask), n), size * s / 2)
    is_sharpe = block_sharpes(mask @ sums, mask @ squares, counts)
    oos_sharpe = block_sharpes((1 - mask) @ sums, (1 - mask) @ squares, counts)
    best = np.argmax(is_sharpe, axis=1)  # ties: the first trial
    omega = relative_ranks(oos_sharpe, best)
    logits = np.log(omega / (1 - omega))
    return float(np.mean(logits <= 0)), logits, len(mask)
