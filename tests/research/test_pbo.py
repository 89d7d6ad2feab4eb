"""Probability of backtest overfitting (CSCV): hand-computed two-block cases, a brute-force reference
on random data, a real edge (PBO 0) and pure noise (PBO near 0.5 on average over seeds)."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from python_assets.research import robustness
from python_assets.research.pbo import n_blocks, pbo, periods_used

LN2 = math.log(2)


def test_two_blocks_hand_computed_winner_flips_every_time():
    # blocks of two periods; per-block Sharpe = mean / sample sd:
    #   A: b0 [.01, .03] -> .02/.014142 = 1.414;  b1 [-.01, -.03] -> -1.414
    #   B: b0 [0, .02]   -> .01/.014142 = 0.707;  b1 [0, .01]     -> .005/.007071 = 0.707
    # IS b0: A wins (1.414 > .707), OOS b1: A -1.414 < B .707 -> rank 1 of 2 -> omega 1/3 -> logit -ln 2
    # IS b1: B wins (.707 > -1.414), OOS b0: B .707 < A 1.414 -> rank 1 -> logit -ln 2  => PBO 1
    m = np.array([[0.01, 0.0], [0.03, 0.02], [-0.01, 0.0], [-0.03, 0.01]])
    p, logits, combos = pbo(m, 2)
    assert combos == 2 and p == 1.0
    np.testing.assert_allclose(logits, [-LN2, -LN2], rtol=1e-12)


def test_two_blocks_hand_computed_winner_stays_best():
    # A: b0 1.414, b1 [.01, .03] 1.414; B: b0 .707, b1 [0, .01] .707: A wins in sample and out of
    # sample both ways -> rank 2 of 2 -> omega 2/3 -> logit ln 2 > 0 => PBO 0
    m = np.array([[0.01, 0.0], [0.03, 0.02], [0.01, 0.0], [0.03, 0.01]])
    p, logits, combos = pbo(m, 2)
    assert (p, combos) == (0.0, 2)
    np.testing.assert_allclose(logits, [LN2, LN2], rtol=1e-12)


def reference_pbo(m: np.ndarray, s: int) -> tuple[float, list[float]]:
    """Straight from the paper with loops: concatenated blocks, numpy Sharpe, midrank of the winner."""
    blocks = np.array_split(m[len(m) % s:], s)  # the oldest T mod s left out
    logits = []
    for chosen in combinations(range(s), s // 2):
        is_ = np.vstack([blocks[b] for b in chosen])
        oos = np.vstack([blocks[b] for b in range(s) if b not in chosen])
        sr_is = is_.mean(axis=0) / is_.std(axis=0, ddof=1)
        sr_oos = oos.mean(axis=0) / oos.std(axis=0, ddof=1)
        best = int(np.argmax(sr_is))
        rank = 1 + sum(v < sr_oos[best] for v in sr_oos)  # no ties in continuous data
        omega = rank / (m.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
    return float(np.mean(np.array(logits) <= 0)), logits


def test_matches_a_brute_force_reference_on_random_returns():
    m = np.random.default_rng(3).normal(0.0005, 0.01, (27, 5))  # 27 rows, S=6: the oldest 3 dropped
    p, logits, combos = pbo(m, 6)
    ref_p, ref_logits = reference_pbo(m, 6)
    assert combos == 20 and p == ref_p
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-9)


def test_the_newest_days_count_and_the_oldest_t_mod_s_are_left_out():
    # T=30, S=14: 2 days cannot fill equal blocks. They were the newest two (r[:28]), so a trial that
    # earned 5 % on each of the last two days left the PBO unchanged; now the oldest two are left out
    m = np.random.default_rng(5).normal(0.0, 0.01, (30, 4))
    assert n_blocks(30) == 14 and periods_used(30, 14) == 28 and periods_used(28, 14) == 28 and periods_used(3, 0) == 3
    changed = m.copy()
    changed[-2:, 0] = 0.05
    assert pbo(changed)[0] != pbo(m)[0]
    assert pbo(m)[0] == pbo(m[2:])[0] and pbo(changed)[0] == pbo(changed[2:])[0]
    # what tuning_pbo and search_pbo store as n_periods: the days used, not T
    assert robustness.pbo_row(m)[:4] == [4, 28, 14, 3432] and robustness.pbo_row(m[:3])[:4] == [4, 3, 0, 0]


def test_a_trial_with_an_edge_in_every_block_is_never_overfit():
    rng = np.random.default_rng(5)
    m = rng.normal(0.0, 0.01, (64, 8))
    m[:, 3] = 0.02 + rng.normal(0.0, 0.001, 64)  # Sharpe ~ 20 in any half, noise ~ 0
    p, logits, combos = pbo(m)
    assert combos == 12870 and p == 0.0
    np.testing.assert_allclose(logits, math.log(8), rtol=1e-12)  # always rank 8 of 8: omega 8/9


def test_noise_trials_average_pbo_near_one_half():
    # i.i.d. noise: the in-sample winner's out-of-sample rank is uniform, so PBO averages 0.5; one seed
    # spreads widely (sd ~ 0.2), so the mean of 40 seeds has a standard error ~ 0.03: 0.5 +- 0.1 is ~3 SE
    values = [pbo(np.random.default_rng(seed).normal(0.0, 0.01, (32, 10)), 8)[0] for seed in range(40)]
    assert abs(np.mean(values) - 0.5) < 0.1
    assert 0.0 <= min(values) and max(values) <= 1.0


def test_block_counts_and_degenerate_inputs():
    assert [n_blocks(t) for t in (3, 4, 5, 9, 31, 32, 100)] == [0, 2, 2, 4, 14, 16, 16]
    assert math.isnan(pbo(np.zeros((3, 4)))[0])  # too short
    assert math.isnan(pbo(np.zeros((40, 1)))[0])  # one trial
    with pytest.raises(ValueError, match="even"):
        pbo(np.zeros((40, 4)), 5)
    # flat trials (no trades) have Sharpe 0: every trial ties, the winner sits at the median -> logit 0, which
    # the inclusive rule counts as overfit; but with every trial the same the search chose nothing: no PBO
    # (it was 1.0, and the ranker archived such a design as "overfitting 1.00")
    assert math.isnan(pbo(np.zeros((16, 4)), 4)[0])
    same = np.tile(np.random.default_rng(3).normal(0.0, 0.01, (16, 1)), (1, 4))  # parameters without effect
    assert math.isnan(pbo(same, 4)[0])
    # two flat trials beside one that trades still tie at the median where they win: counted
    mixed = np.column_stack([np.zeros(16), np.zeros(16), same[:, 0]])
    assert not math.isnan(pbo(mixed, 4)[0])


def test_a_constant_nonzero_trial_is_flat_like_an_idle_one():
    # 0.05 every period: its Sharpe is 0 by definition (flat), as a trial that never trades. From sums of
    # squares the variance of 100 periods of 0.05 is a rounding remainder (it depends on the value and the
    # length) and its Sharpe came out ~3e7: it won every in-sample choice (PBO 0 against 2/3).
    noise = np.random.default_rng(11).normal(0.0, 0.01, (200, 2))
    constant, idle = np.column_stack([np.full(200, 0.05), noise]), np.column_stack([np.zeros(200), noise])
    p_constant, logits_constant, _ = pbo(constant, 4)
    p_idle, logits_idle, _ = pbo(idle, 4)
    assert p_constant == p_idle
    np.testing.assert_array_equal(logits_constant, logits_idle)


@pytest.mark.parametrize("seed", range(6))
def test_a_trial_reordered_within_blocks_ties_with_the_original(seed):
    # the same returns in another order inside each block: the same Sharpe in every union of blocks, so
    # a tie (midrank, the first trial wins), exactly as an identical copy; float sums in another order
    # differ in the last bits, which compared as unequal moved the logits
    rng = np.random.default_rng(seed)
    a = rng.choice([-0.013, 0.007, 0.011, -0.003, 0.029], size=24)
    shuffled = a.reshape(4, 6).copy()
    for block in shuffled:
        rng.shuffle(block)
    other = rng.normal(0.0, 0.01, 24)
    p_reordered, logits_reordered, _ = pbo(np.column_stack([a, shuffled.ravel(), other]), 4)
    p_copy, logits_copy, _ = pbo(np.column_stack([a, a, other]), 4)
    assert p_reordered == p_copy
    np.testing.assert_allclose(logits_reordered, logits_copy, rtol=0, atol=1e-12)


def test_combinations_taken_in_steps_give_the_same_logits(monkeypatch):
    """A day's search (thousands of trials) is evaluated a few combinations at a time to bound memory."""
    from python_assets.research import pbo as module

    m = np.random.default_rng(21).normal(0.0, 0.01, (40, 50))
    whole = pbo(m, 8)
    monkeypatch.setattr(module, "CHUNK_VALUES", 7 * 50)  # 7 of the 70 combinations per step, 10 steps
    stepped = pbo(m, 8)
    assert stepped[0] == whole[0] and stepped[2] == whole[2] == 70
    np.testing.assert_array_equal(stepped[1], whole[1])


@pytest.mark.parametrize("seed", [0, 1])
def test_means_that_cancel_tie_whatever_order_the_combinations_are_summed_in(monkeypatch, seed):
    """Returns in cents: some in-sample halves of some trials sum to 0 exactly in decimals, +-1e-17 in floats,
    with a sign that depends on how many combinations one matmul takes. Those Sharpes are ties (the first
    trial wins), so the PBO does not depend on the step size (it did: 0.80598 whole, 0.80591 in steps)."""
    from python_assets.research import pbo as module

    m = np.round(np.random.default_rng(seed).normal(0.0, 0.01, (32, 4)), 2)
    whole = pbo(m, 16)
    monkeypatch.setattr(module, "CHUNK_VALUES", 4)  # one combination per step
    stepped = pbo(m, 16)
    assert stepped[0] == whole[0]
    np.testing.assert_array_equal(stepped[1], whole[1])
