"""Monte Carlo of a strategy's path risk: resample its trade returns with replacement (each path
compounds as many trades as the strategy made) and block-bootstrap its bar returns (fixed-length
circular blocks, which keep the autocorrelation inside a block); per path the maximum drawdown and the
final return, summarised by quantiles. Seeded, bounded by a path count, vectorised numpy."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

QUANTILES = (0.05, 0.5)


@dataclass(frozen=True)
class MonteCarloConfig:
    top_k: int = 5  # the day's best-ranked designs simulated
    n_paths: int = 1000
    block_bars: int = 24  # bar-bootstrap block length (a day of 1h bars)
    seed: int = 7


def seed_for(design_id: str, seed: int) -> int:
    """A stable seed per design (crc32 of its id mixed with the run seed): reruns draw the same paths."""
    return (seed * 1_000_003 + zlib.crc32(design_id.encode())) % 2**32


def growth(paths: np.ndarray) -> np.ndarray:
    """1 + each simple return, the return clamped at -1: equity cannot go below zero, and a wipe-out ends
    the path at 0 (a -150 % trade gave a max drawdown of -1.5, and the next loss turned equity positive)."""
    return 1.0 + np.maximum(paths, -1.0)


def max_drawdowns(paths: np.ndarray) -> np.ndarray:
    """Per row of simple returns (paths x steps): the deepest fall of the compounded equity below its
    running peak, as a fraction in [-1, 0] (equity starts at 1, which counts as a peak)."""
    equity = np.cumprod(growth(paths), axis=1)
    peak = np.maximum.accumulate(np.maximum(equity, 1.0), axis=1)
    return np.minimum((equity / peak - 1.0).min(axis=1, initial=0.0), 0.0)


def final_returns(paths: np.ndarray) -> np.ndarray:
    """Per row of simple returns: the compounded return over the whole path (>= -1, see growth)."""
    return np.prod(growth(paths), axis=1) - 1.0


def trade_paths(trade_returns: np.ndarray, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """n_paths x n_trades: the trades drawn with replacement (an i.i.d. bootstrap of the trade sequence)."""
    r = np.asarray(trade_returns, dtype=float)
    return r[rng.integers(0, len(r), size=(n_paths, len(r)))]


def block_paths(bar_returns: np.ndarray, n_paths: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """n_paths x n_bars: circular blocks of `block` consecutive bars from random starts, cut to length; a
    block at most half the bars (one block of them all made every path a rotation of the realised series:
    the same final return on every path, no spread at all)."""
    r = np.asarray(bar_returns, dtype=float)
    n = len(r)
    block = max(1, min(block, n // 2))
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=(n_paths, n_blocks))
    index = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return r[index.reshape(n_paths, -1)[:, :n]]


def summarise(paths: np.ndarray) -> dict[str, float]:
    """Quantiles (5 %, median) of max drawdown and final return, plus their means, over the paths."""
    dd, final = max_drawdowns(paths), final_returns(paths)
    out = {"paths": float(len(paths)), "steps": float(paths.shape[1])}
    for name, values in (("max_drawdown", dd), ("final_return", final)):
        q = np.quantile(values, QUANTILES)
        out |= {f"{name}_p05": float(q[0]), f"{name}_p50": float(q[1]), f"{name}_mean": float(values.mean())}
    return out


def simulate(design_id: str, trade_returns: np.ndarray, bar_returns: np.ndarray,
             cfg: MonteCarloConfig = MonteCarloConfig()) -> dict[str, dict[str, float]]:
    """{'trades': summary, 'bars': summary} (a method without data is left out): the trade bootstrap
    and the block bootstrap of one design, seeded by its id."""
    rng = np.random.default_rng(seed_for(design_id, cfg.seed))
    out = {}
    if len(trade_returns):
        out["trades"] = summarise(trade_paths(trade_returns, cfg.n_paths, rng))
    if len(bar_returns):
        out["bars"] = summarise(block_paths(bar_returns, cfg.n_paths, cfg.block_bars, rng))
    return out
