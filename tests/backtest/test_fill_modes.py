"""Fill modes of the engine (backtest/fills.py): a hand-built market where only the next-open fill is
profitable, each mode's fill prices computed by hand, and the default mode unchanged bit for bit."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from python_assets.backtest.engine import EXIT_REASONS, Costs, Rules, simulate
from python_assets.backtest.fills import FILL_MODES, execution_horizon, fill_prices, range_spread

HOUR = 3_600_000
NO_FEES = Costs(taker_fee=0.0, maker_fee=0.0)
#                 open   high   low    close
BARS = np.array([[100.0, 140.0, 60.0, 100.0],   # 0: entry signal at this close (range 80 -> s[1] = 0.08)
                 [95.0, 112.0, 94.0, 104.0],    # 1: entry fills here
                 [104.0, 130.0, 70.0, 98.0],    # 2: exit signal at this close (range 60 -> s[3] = 6 / 98)
                 [108.0, 109.0, 90.0, 95.0],    # 3: exit fills here
                 [95.0, 96.0, 94.0, 95.0]])
O, H, L, C = BARS.T
MS = np.arange(len(O), dtype=np.int64) * HOUR
LONG = {"entry_long": np.array([1, 0, 0, 0, 0], bool), "exit_long": np.array([0, 0, 1, 0, 0], bool)}
SHORT = {"entry_short": np.array([1, 0, 0, 0, 0], bool), "exit_short": np.array([0, 0, 1, 0, 0], bool)}

# (entry price, exit price) of the long trade under each mode, by hand
S1, S3 = 0.1 * 80 / 100, 0.1 * 60 / 98
HAND_LONG = {"next_open": (95.0, 108.0), "signal_close": (100.0, 98.0), "worst": (112.0, 90.0),
             "spread": (95.0 * (1 + S1), 108.0 * (1 - S3))}


@pytest.mark.parametrize("mode", FILL_MODES)
def test_each_mode_fills_the_long_at_the_hand_computed_prices(mode):
    res = simulate(O, H, L, C, MS, HOUR, LONG, Rules(), NO_FEES, fill=mode)
    entry, exit_ = HAND_LONG[mode]
    assert list(res.entry_index) == [1] and list(res.exit_index) == [3]  # booked on the bar after the signal
    assert res.entry_price[0] == pytest.approx(entry, rel=1e-12)
    assert res.exit_price[0] == pytest.approx(exit_, rel=1e-12)
    # no fees: equity grows by exit / entry; only the lenient next open profits
    assert res.final_equity == pytest.approx(10_000.0 * exit_ / entry, rel=1e-12)
    assert (res.final_equity > 10_000.0) == (mode == "next_open")


def test_worst_fills_a_short_at_the_low_and_covers_at_the_high():
    res = simulate(O, H, L, C, MS, HOUR, SHORT, Rules(allow_long=False, allow_short=True), NO_FEES, fill="worst")
    assert (res.entry_price[0], res.exit_price[0]) == (94.0, 109.0)
    res = simulate(O, H, L, C, MS, HOUR, SHORT, Rules(allow_long=False, allow_short=True), NO_FEES, fill="spread")
    assert res.entry_price[0] == pytest.approx(95.0 * (1 - S1)) and res.exit_price[0] == pytest.approx(108.0 * (1 + S3))


def test_fees_and_slippage_still_apply_on_top_of_the_fill():
    costs = Costs(taker_fee=0.001, maker_fee=0.0, slippage_bps=10.0)
    res = simulate(O, H, L, C, MS, HOUR, LONG, Rules(), costs, fill="worst")
    assert res.entry_price[0] == pytest.approx(112.0 * 1.001) and res.exit_price[0] == pytest.approx(90.0 * 0.999)
    assert res.entry_fee[0] == pytest.approx(res.size[0] * res.entry_price[0] * 0.001)


def test_spread_estimate_uses_the_signal_bar_and_a_recorded_spread_overrides_it():
    s = range_spread(H, L, C)
    assert s[0] == 0.0 and s[1] == pytest.approx(S1) and s[3] == pytest.approx(S3)
    book = np.array([np.nan, 0.001, np.nan, 0.002, np.nan])
    buy, sell = fill_prices("spread", O, H, L, C, book)
    assert buy[1] == pytest.approx(95.0 * 1.001) and sell[3] == pytest.approx(108.0 * 0.998)
    assert buy[2] == pytest.approx(104.0 * (1 + s[2]))  # NaN: the range estimate
    with pytest.raises(ValueError, match="unknown fill mode 'mid'"):
        simulate(O, H, L, C, MS, HOUR, LONG, Rules(), NO_FEES, fill="mid")
    with pytest.raises(ValueError, match="2 values for 5 bars"):
        fill_prices("spread", O, H, L, C, np.zeros(2))


def _market(seed: int, n: int = 600):
    """Prices from products of (1 + r) only: no exp/log, whose SIMD implementations round differently on
    different CPUs (numpy's AVX-512 exp), so the digest below is the same on every machine."""
    rng = np.random.default_rng(seed)
    c = 100 * np.cumprod(1 + rng.normal(0, 0.01, n))
    o = np.r_[100.0, c[:-1]] * (1 + rng.normal(0, 0.002, n))
    h = np.maximum(o, c) * (1 + np.abs(rng.normal(0, 0.004, n)))
    lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0, 0.004, n)))
    ms = np.arange(n, dtype=np.int64) * HOUR
    sig = {k: rng.random(n) < 0.05 for k in ("entry_long", "exit_long", "entry_short", "exit_short")}
    return o, h, lo, c, ms, sig


def _digest(**kwargs) -> str:
    out = hashlib.sha256()
    cases = [Rules(), Rules(allow_short=True, stop_loss=0.02, take_profit=0.03),
             Rules(allow_short=True, trailing_stop=0.015, max_bars=12, lot_size=0.01, fraction=3.0)]
    for seed in range(3):
        o, h, lo, c, ms, sig = _market(seed)
        fms = ms[::8] + 1_800_000
        for rules in cases:
            res = simulate(o, h, lo, c, ms, HOUR, sig, rules, Costs(slippage_bps=2.0), fms, np.full(len(fms), 0.0001),
                           **kwargs)
            for a in (res.side, res.entry_index, res.exit_index, res.size, res.entry_price, res.exit_price,
                      res.entry_fee, res.exit_fee, res.funding, res.reason, res.equity, res.position):
                out.update(np.ascontiguousarray(a).tobytes())
    return out.hexdigest()


# sha256 of every trade and equity array of the engine before fill modes existed (main at 812a541),
# same markets and rules: the default fill must reproduce it bit for bit. (Recomputed with that engine
# when _market stopped using exp: the old digest held only on CPUs whose numpy exp rounded alike.
# Re-recorded when a stop the open gaps through stopped paying the settlements inside its bar: the
# only trades that moved were seed 2's trailing-stop exit at bar 168's open, whose bar settled -2.55 of
# funding, and the sizes after it.)
ENGINE_BEFORE_FILL_MODES = "e3f6919245d433ca66f74e3e113781862298bdd8c68619a1e72e22b9e3919789"


def test_the_default_fill_reproduces_the_engine_before_fill_modes_bit_for_bit():
    assert _digest() == ENGINE_BEFORE_FILL_MODES
    assert _digest(fill="next_open") == ENGINE_BEFORE_FILL_MODES
    assert _digest(fill="worst") != ENGINE_BEFORE_FILL_MODES  # the digest sees a changed fill


def test_execution_horizon_takes_the_fill_bars_first_minute_and_the_signal_bars_last():
    # 1m bars: (ms, high, low, close); the research bars open at 0, 1 h and 2 h
    minutes = np.array([[0, 101.0, 99.0, 100.0], [HOUR - 60_000, 104.0, 102.0, 103.0],
                        [HOUR, 103.5, 102.5, 103.0], [HOUR + 60_000, 120.0, 80.0, 90.0]])
    wh, wl, s = execution_horizon(np.array([0, HOUR, 2 * HOUR]), minutes[:, 0].astype(np.int64), *minutes[:, 1:].T)
    assert np.array_equal(wh[:2], [101.0, 103.5]) and np.array_equal(wl[:2], [99.0, 102.5])
    assert np.isnan(wh[2]) and np.isnan(wl[2])  # no minute opens the third bar
    assert np.isnan(s[0]) and s[1] == pytest.approx(0.1 * 2.0 / 103.0) and np.isnan(s[2])  # minute before 1 h only
    empty = execution_horizon(np.array([0]), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    assert all(np.isnan(a).all() for a in empty)


def test_a_signal_minute_without_a_range_leaves_the_spread_to_the_research_bars_estimate():
    """A minute of one trade (high == low) estimated a spread of 0, so the strict spread fill was the plain
    open on thin symbols: it is "unknown" now, and the research bar's own range estimate fills instead."""
    minutes = np.array([[HOUR - 60_000, 100.0, 100.0, 100.0], [2 * HOUR - 60_000, 102.0, 100.0, 101.0]])
    _, _, s = execution_horizon(np.array([0, HOUR, 2 * HOUR]), minutes[:, 0].astype(np.int64), *minutes[:, 1:].T)
    assert np.isnan(s[1]) and s[2] == pytest.approx(0.1 * 2.0 / 101.0)
    o, h, lo, c = (np.full(3, 100.0), np.array([104.0, 101.0, 100.5]), np.array([96.0, 99.0, 99.5]), np.full(3, 100.0))
    buy, sell = fill_prices("spread", o, h, lo, c, spread=s)
    # bar 1: the research bar before it (range 8 on 100) estimates 0.8 %; bar 2: its signal minute's 2 on 101
    assert buy[1] == pytest.approx(100.0 * 1.008) and sell[1] == pytest.approx(100.0 * 0.992)
    assert buy[2] == pytest.approx(100.0 * (1 + 0.1 * 2.0 / 101.0))


def test_a_worst_fill_at_the_execution_horizon_replaces_the_bar_range_where_known():
    wh = np.array([np.nan, 96.0, np.nan, 108.5, np.nan])
    wl = np.array([np.nan, 94.5, np.nan, 107.0, np.nan])
    res = simulate(O, H, L, C, MS, HOUR, LONG, Rules(), NO_FEES, fill="worst", worst=(wh, wl))
    assert (res.entry_price[0], res.exit_price[0]) == (96.0, 107.0)  # profitable now: 107 / 96 > 1
    res = simulate(O, H, L, C, MS, HOUR, SHORT, Rules(allow_long=False, allow_short=True), NO_FEES, fill="worst",
                   worst=(np.full(5, np.nan), np.full(5, np.nan)))
    assert (res.entry_price[0], res.exit_price[0]) == (94.0, 109.0)  # NaN: the bar's own range
    with pytest.raises(ValueError, match="worst has 2 values for 5 bars"):
        fill_prices("worst", O, H, L, C, worst=(np.zeros(2), np.zeros(2)))


#                   open   high   low    close
GAP_DOWN = np.array([[100.0, 101.0, 99.0, 100.0],   # 0: entry signal at this close
                     [95.0, 96.0, 94.0, 95.0],      # 1: opens below a 2 % stop under 100 (98)
                     [95.0, 96.0, 94.0, 95.0]])
GAP_UP = np.array([[100.0, 101.0, 99.0, 100.0],
                   [105.0, 106.0, 104.0, 105.0],    # 1: opens above a 2 % target over 100 (102)
                   [105.0, 106.0, 104.0, 105.0]])


@pytest.mark.parametrize("market,rules,reason", [(GAP_DOWN, Rules(stop_loss=0.02), "stop_loss"),
                                                 (GAP_DOWN, Rules(trailing_stop=0.02), "trailing_stop"),
                                                 (GAP_UP, Rules(take_profit=0.02), "take_profit")])
def test_signal_close_entry_gapped_through_on_its_entry_bar_exits_at_that_open(market, rules, reason):
    # the signal_close entry (100, bar 0's close) precedes bar 1's open, so a level that open is through
    # fills at the open as on any later bar: 95 / 105, prices bar 1 traded; the level itself (98 / 102)
    # lies outside bar 1's range
    o, h, lo, c = market.T
    res = simulate(o, h, lo, c, np.arange(3, dtype=np.int64) * HOUR, HOUR, {"entry_long": np.array([1, 0, 0], bool)},
                   rules, NO_FEES, fill="signal_close")
    assert (res.entry_price[0], res.exit_price[0], res.exit_index[0], EXIT_REASONS[res.reason[0]]) == (100.0, o[1], 1, reason)


def test_signal_close_exit_precedes_the_next_opens_liquidation():
    # 10x long from bar 0's close (100); the exit signalled at bar 1's close fills at that close (100),
    # before bar 2 opens at 85, past the liquidation price (~90.5): flat at 10,000, not liquidated at 0
    o, h, lo, c = np.array([[100, 101, 99, 100], [100, 101, 99, 100], [85, 86, 84, 85], [85, 86, 84, 85]], float).T
    sig = {"entry_long": np.array([1, 0, 0, 0], bool), "exit_long": np.array([0, 1, 0, 0], bool)}
    args = (o, h, lo, c, np.arange(4, dtype=np.int64) * HOUR, HOUR, sig, Rules(fraction=10.0), NO_FEES)
    early = simulate(*args, fill="signal_close")
    assert (early.exit_price[0], EXIT_REASONS[early.reason[0]], early.final_equity) == (100.0, "signal", 10_000.0)
    late = simulate(*args, fill="next_open")  # the exit order waits for bar 2's open: liquidated there
    assert EXIT_REASONS[late.reason[0]] == "liquidation" and late.final_equity == 0.0
