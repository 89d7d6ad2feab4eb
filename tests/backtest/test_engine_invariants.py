"""Accounting invariants of the engine on random markets, signals, rules, costs and funding (leverage up
to 10x, so liquidations happen): equity is cash plus the open position marked to market at every bar, the
trades' net pnl adds up to the equity change, fees are never negative, a position never exists without an
entry fill, equity never goes below 0 and a wiped-out account trades no more.
BLOFIN_HYPOTHESIS_EXAMPLES raises the example count (`make soak` runs 10,000)."""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from python_assets.backtest.engine import Costs, Rules, simulate

EXAMPLES = int(os.environ.get("BLOFIN_HYPOTHESIS_EXAMPLES", "60"))
BAR = 60_000


@st.composite
def cases(draw):
    n = draw(st.integers(2, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    close = 100 * np.exp(np.cumsum(rng.normal(0, draw(st.sampled_from([0.001, 0.01, 0.05])), n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
    density = draw(st.sampled_from([0.05, 0.2, 0.5]))
    signals = {k: rng.random(n) < density for k in ("entry_long", "exit_long", "entry_short", "exit_short")}
    opt = lambda lo, hi: draw(st.one_of(st.just(math.nan), st.floats(lo, hi)))  # noqa: E731
    rules = Rules(allow_long=draw(st.booleans()), allow_short=draw(st.booleans()),
                  fraction=draw(st.floats(0.1, 10.0)), lot_size=draw(st.sampled_from([0.0, 0.001, 0.1])),
                  stop_loss=opt(0.001, 0.1), take_profit=opt(0.001, 0.1), trailing_stop=opt(0.001, 0.1),
                  max_bars=draw(st.integers(0, 10)))
    costs = Costs(draw(st.floats(0, 0.002)), draw(st.floats(0, 0.001)), draw(st.floats(0, 20)), 10_000.0,
                  draw(st.floats(0, 0.05)), draw(st.floats(0, 0.002)))
    bar_ms = 1_700_000_000_000 + BAR * np.arange(n, dtype=np.int64)
    k = draw(st.integers(0, 10))
    f_ms = np.sort(rng.integers(bar_ms[0] - BAR, bar_ms[-1] + 2 * BAR, k)).astype(np.int64)
    f_rate = rng.normal(0, draw(st.sampled_from([0.001, 0.05])), k)
    return open_, high, low, close, bar_ms, signals, rules, costs, f_ms, f_rate


def _bar_of(ms: int, bar_ms: np.ndarray) -> int:
    """Index of the bar a settlement falls in (or the next bar's open when before the first)."""
    return int(np.searchsorted(bar_ms + BAR, ms, side="right"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(cases())
def test_equity_is_cash_plus_marked_positions_and_pnl_adds_up(case):
    open_, high, low, close, bar_ms, signals, rules, costs, f_ms, f_rate = case
    r = simulate(open_, high, low, close, bar_ms, BAR, signals, rules, costs, f_ms, f_rate)
    n, e0 = len(close), costs.initial_equity
    assert (r.entry_fee >= 0).all() and (r.exit_fee >= 0).all() and (r.size > 0).all()
    assert (r.entry_index <= r.exit_index).all() and (np.diff(r.entry_index) >= 0).all()
    if not rules.allow_long:
        assert (r.side > 0).sum() == 0
    if not rules.allow_short:
        assert (r.side < 0).sum() == 0
    # every trade is closed by the end, so the net pnl of the trades is the whole equity change
    assert math.isclose(r.pnl.sum(), r.equity[-1] - e0, rel_tol=1e-9, abs_tol=1e-6)
    assert r.position[-1] == 0.0
    assert (r.equity >= 0).all()
    wiped = np.flatnonzero(r.equity == 0)
    if len(wiped):  # nothing opens after the account is wiped out, and it stays at 0
        assert (r.entry_index <= wiped[0]).all() and (r.equity[wiped[0]:] == 0).all()
    for t in range(n):
        closed = r.exit_index <= t
        open_now = (r.entry_index <= t) & (r.exit_index > t)
        assert open_now.sum() <= 1
        marked = e0 + r.pnl[closed].sum()
        if open_now.any():
            j = int(np.flatnonzero(open_now)[0])
            pos = r.side[j] * r.size[j]
            assert r.position[t] == pos  # the position is exactly the open trade's
            settled = [i for i, ms in enumerate(f_ms) if r.entry_index[j] <= _bar_of(ms, bar_ms) <= t]
            funding = sum(pos * open_[_bar_of(f_ms[i], bar_ms)] * f_rate[i] for i in settled)
            marked += pos * (close[t] - r.entry_price[j]) - r.entry_fee[j] - funding
        else:
            assert r.position[t] == 0.0  # no position without an entry fill
        assert math.isclose(r.equity[t], marked, rel_tol=1e-9, abs_tol=1e-6), (t, r.equity[t], marked)
