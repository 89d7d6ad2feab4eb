"""The ranker: score = deflated Sharpe ratio of the out-of-sample returns (N = every trial tried so
far), 0 below a minimum trade count; and the lifecycle rules (candidate -> active -> archived ->
active again) with the reason each transition fired. The deflated Sharpe orders the ranking the
rank rules read; the probability of backtest overfitting (PBO) of the design's tuning archives it
outright and keeps it from coming back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from python_assets.research.dsr import deflated_sharpe


@dataclass(frozen=True)
class RankConfig:
    min_trades: int = 5
    archive_days: int = 3  # consecutive ranking days a rule must hold before archival
    bottom_fraction: float = 0.25
    reactivate_top_fraction: float = 0.5
    target_active: int = 20
    max_pbo: float = 0.5  # archive when the tuning's PBO exceeds this ...
    min_pbo_trials: int = 8  # ... over at least this many trials (fewer: PBO is too coarse to act on)


def score(returns: np.ndarray, trades: int, n_trials: int, sharpe_variance: float, cfg: RankConfig) -> dict[str, Any]:
    """Score and its components: deflated Sharpe (probability), the noise benchmark SR0, the per-bar
    Sharpe; the score is the DSR, or 0 with fewer than min_trades out-of-sample trades or without a DSR (NaN:
    flat returns, or several trials but no Sharpe variance to deflate by)."""
    dsr, sr0 = deflated_sharpe(returns, max(n_trials, 1), sharpe_variance)
    eligible = trades >= cfg.min_trades and not math.isnan(dsr)
    return {"deflated_sharpe": dsr, "sr0": sr0, "score": dsr if eligible else 0.0, "eligible": eligible}


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """1 = best: score, then out-of-sample Sharpe, then design id (a total, deterministic order)."""
    key = lambda r: (-r["score"], -(r["oos_sharpe"] if r["oos_sharpe"] == r["oos_sharpe"] else -1e9), r["design_id"])  # noqa: E731
    ordered = sorted(rows, key=key)
    for i, r in enumerate(ordered, 1):
        r["rank"] = i
    return ordered


def _bottom(row: dict[str, Any], n: int, cfg: RankConfig) -> bool:
    """In the bottom fraction: at least 1 - bottom_fraction of the n designs rank above it (rank 16-20 of 20;
    none of 1, 2 or 3: `rank > 0.75 n` called the only ranked design, the top one, the bottom 25%)."""
    return row["rank"] - 1 >= n * (1 - cfg.bottom_fraction)


def _top(rank: int, n: int, fraction: float) -> bool:
    """In the top fraction: fewer than fraction of the n designs rank above it (rank 1-10 of 20, rank 1 of 1:
    `rank <= 0.5 n` kept the only ranked design out of the top half, so it could never come back)."""
    return rank - 1 < n * fraction


def _positive(value: float | None) -> bool:
    """True for a number > 0; False for <= 0, NaN and NULL (a Sharpe stored without trades reads back as None)."""
    return value is not None and value > 0


def overfit(row: dict[str, Any], cfg: RankConfig) -> bool:
    """Whether the row's PBO (None: not computed) exceeds max_pbo over at least min_pbo_trials trials."""
    p = row.get("pbo")
    return p is not None and p == p and p > cfg.max_pbo and (row.get("pbo_trials") or 0) >= cfg.min_pbo_trials


def next_status(status: str, history: list[dict[str, Any]], n_ranked: int, cfg: RankConfig) -> tuple[str, str | None]:
    """(new status, reason or None) from the design's ranking rows, oldest first, today last; each row
    carries rank, n_ranked, oos_sharpe and oos_trades; today's may carry pbo and pbo_trials."""
    today = history[-1]
    good = (today["oos_trades"] or 0) >= cfg.min_trades and _positive(today["oos_sharpe"])
    recent = history[-cfg.archive_days:]
    if status == "archived":
        if good and not overfit(today, cfg) and _top(today["rank"], n_ranked, cfg.reactivate_top_fraction):
            return "active", f"reactivated: rank {today['rank']}/{n_ranked} (top {cfg.reactivate_top_fraction:.0%}) with out-of-sample Sharpe > 0"
        return "archived", None
    if overfit(today, cfg):
        return "archived", (f"probability of backtest overfitting {today['pbo']:.2f} > {cfg.max_pbo:.2f} "
                            f"over {today['pbo_trials']} trials")
    if len(recent) == cfg.archive_days:
        if all(_bottom(r, r["n_ranked"], cfg) for r in recent):
            return "archived", f"bottom {cfg.bottom_fraction:.0%} of the ranking for {cfg.archive_days} days"
        if all(not _positive(r["oos_sharpe"]) for r in recent):
            return "archived", f"out-of-sample Sharpe <= 0 for {cfg.archive_days} days"
    if status == "candidate" and good:
        return "active", f"out-of-sample Sharpe > 0 over {today['oos_trades']} trades (>= {cfg.min_trades})"
    return status, None
