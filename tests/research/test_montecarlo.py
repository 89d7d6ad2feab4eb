"""Monte Carlo of trade and bar returns: hand drawdowns, no quantiles without spread (one trade, equal
trades), no drawdown of the trade bootstrap, quantiles against numpy with the same draws, blocks of
consecutive bars, determinism by design id."""

from __future__ import annotations

import numpy as np
import pytest

from python_assets.research.montecarlo import (MonteCarloConfig, block_paths, final_returns, max_drawdowns, seed_for,
                                               simulate, trade_paths)

STATS = tuple(f"{name}_{stat}" for name in ("max_drawdown", "final_return") for stat in ("p05", "p50", "mean"))


def test_max_drawdown_of_hand_paths():
    # equity 1.1, 0.88, 1.32, 0.66: falls of .88/1.1 - 1 = -0.2 and .66/1.32 - 1 = -0.5 -> -0.5
    # equity 0.9, 0.945: below the starting 1 -> -0.1; a rising path has none
    paths = np.array([[0.1, -0.2, 0.5, -0.5], [-0.1, 0.05, 0.0, 0.0], [0.01, 0.02, 0.0, 0.03]])
    np.testing.assert_allclose(max_drawdowns(paths), [-0.5, -0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(final_returns(paths), [1.1 * 0.8 * 1.5 * 0.5 - 1, 0.9 * 1.05 - 1, 1.01 * 1.02 * 1.03 - 1])


@pytest.mark.parametrize("r", [0.01, -0.02])
def test_all_equal_trades_have_no_spread_and_no_quantiles(r):
    """Every path the same: a 5 % quantile equal to the median read as certainty; there is no spread to resample."""
    out = simulate("d1", np.full(7, r), np.zeros(0), MonteCarloConfig(n_paths=200))
    s = out["trades"]
    assert set(out) == {"trades"} and s["steps"] == 7 and s["paths"] == 200
    assert {k: s[k] for k in STATS} == dict.fromkeys(STATS)


def test_one_trade_or_one_bar_has_no_quantiles():
    """The review's repro: one +5 % trade gave p05 = p50 = mean = 5 % and drawdown 0; one bar likewise."""
    out = simulate("x", np.array([0.05]), np.array([0.03]))
    assert set(out) == {"trades", "bars"} and out["trades"]["steps"] == out["bars"]["steps"] == 1
    for s in out.values():
        assert {k: s[k] for k in STATS} == dict.fromkeys(STATS)
    flat, moved = simulate("x", np.zeros(0), np.zeros(4))["bars"], simulate("x", np.zeros(0), np.array([0.0, 0.01]))["bars"]
    assert flat["final_return_p05"] is None and moved["final_return_p05"] is not None


def test_the_trade_bootstrap_has_no_drawdown():
    """Closed trades compounded one after another miss open-trade losses and overlapping trades: all-winning
    trades gave every drawdown quantile 0 beside a strategy that did fall. Only the bars carry a drawdown."""
    out = simulate("d1", np.array([0.01, 0.02, 0.03]), np.array([0.01, -0.05, 0.02, 0.01]), MonteCarloConfig(n_paths=200))
    assert [out["trades"][f"max_drawdown_{k}"] for k in ("p05", "p50", "mean")] == [None] * 3
    assert out["trades"]["final_return_p05"] > 0 and out["bars"]["max_drawdown_p05"] < 0


def loop_drawdown(path: np.ndarray) -> float:
    equity, peak, worst = 1.0, 1.0, 0.0
    for x in path:
        equity *= 1 + x
        peak = max(peak, equity)
        worst = min(worst, equity / peak - 1)
    return worst


def test_quantiles_match_numpy_on_the_same_draws():
    trades = np.random.default_rng(0).normal(0.002, 0.03, 40)
    bars = np.random.default_rng(1).normal(0.0001, 0.004, 100)
    cfg = MonteCarloConfig(n_paths=300, block_bars=10, seed=3)
    got = simulate("dabc", trades, bars, cfg)
    rng = np.random.default_rng(seed_for("dabc", 3))
    draws = trades[rng.integers(0, 40, size=(300, 40))]  # the trade draws come first, then the blocks
    starts = rng.integers(0, 100, size=(300, 10))
    blocks = np.array([np.concatenate([bars[(s + np.arange(10)) % 100] for s in row]) for row in starts])
    for method, paths in (("trades", draws), ("bars", blocks)):
        dd = np.array([loop_drawdown(p) for p in paths])
        final = np.array([np.prod(1 + p) - 1 for p in paths])
        if method == "bars":  # the trade bootstrap has no drawdown (see test_the_trade_bootstrap_has_no_drawdown)
            assert got[method]["max_drawdown_p05"] == pytest.approx(np.quantile(dd, 0.05), rel=1e-9)
            assert got[method]["max_drawdown_p50"] == pytest.approx(np.median(dd), rel=1e-9)
        assert got[method]["final_return_p05"] == pytest.approx(np.quantile(final, 0.05), rel=1e-9)
        assert got[method]["final_return_p50"] == pytest.approx(np.median(final), rel=1e-9)
    assert simulate("dabc", trades, bars, cfg) == got
    assert simulate("dother", trades, bars, cfg) != got


def test_blocks_are_consecutive_circular_bars_cut_to_length():
    bars = np.arange(10, dtype=float)
    paths = block_paths(bars, 50, 4, np.random.default_rng(2))
    assert paths.shape == (50, 10)
    for p in paths:
        for start in (0, 4, 8):
            chunk = p[start:start + 4]
            assert np.all(np.diff(chunk) % 10 == 1)  # consecutive, wrapping 9 -> 0
    assert trade_paths(np.array([0.5]), 3, np.random.default_rng(0)).tolist() == [[0.5]] * 3


def test_a_block_as_long_as_the_bars_is_cut_to_half_so_paths_still_differ():
    """block_bars >= the bars: one block was every path, a rotation of the realised series (the final
    return the same on every path: p05 = p50). At most half the bars a block: the paths spread."""
    bars = np.random.default_rng(4).normal(0, 0.01, 20)
    paths = block_paths(bars, 200, 24, np.random.default_rng(5))
    finals = np.prod(1 + paths, axis=1)
    assert paths.shape == (200, 20) and np.ptp(finals) > 1e-3
    for p in paths[:20]:
        for start in (0, 10):
            chunk = p[start:start + 10]
            idx = [int(np.flatnonzero(bars == v)[0]) for v in chunk]
            assert all((b - a) % 20 == 1 for a, b in zip(idx, idx[1:]))  # blocks of 10 consecutive bars


def test_a_return_below_minus_one_wipes_the_path_out_at_zero():
    # -150 % then -150 %: equity 1 -> -0.5 -> +0.25 gave max drawdown -1.5 and final return -0.75 (a
    # wipe-out that bounced back); equity cannot go below 0, so the first trade ends the path at 0
    paths = np.array([[-1.5, -1.5, 0.0, 0.0], [0.1, -1.0, 0.5, 0.2], [0.1, -2.0, -0.5, 3.0], [-0.5, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(max_drawdowns(paths), [-1.0, -1.0, -1.0, -0.5])
    np.testing.assert_array_equal(final_returns(paths), [-1.0, -1.0, -1.0, 0.0])
    s = simulate("d1", np.zeros(0), np.array([-1.5, -2.0]), MonteCarloConfig(n_paths=10))["bars"]
    assert s["max_drawdown_p05"] == s["max_drawdown_mean"] == s["final_return_p50"] == -1.0
