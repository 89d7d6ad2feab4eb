"""Hand-computed cases (10-20 bars) pinning the engine's rules: fills, sides, costs, funding, stops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from python_assets.backtest.engine import EXIT_REASONS, Costs, Rules, simulate

HOUR = 3_600_000
FREE = Costs(taker_fee=0.0, maker_fee=0.0, slippage_bps=0.0, initial_equity=10_000.0)


def bars(opens, highs=None, lows=None, closes=None):
    o = np.asarray(opens, dtype=float)
    c = np.asarray(closes if closes is not None else o, dtype=float)
    h = np.asarray(highs if highs is not None else np.maximum(o, c), dtype=float)
    lo = np.asarray(lows if lows is not None else np.minimum(o, c), dtype=float)
    return o, h, lo, c, np.arange(len(o), dtype=np.int64) * HOUR


def flags(n, **at):
    out = {}
    for name, idx in at.items():
        a = np.zeros(n, bool)
        a[list(idx)] = True
        out[name] = a
    return out


def run(b, sig, rules=Rules(), costs=FREE, funding=None):
    fms, frate = funding if funding else (None, None)
    return simulate(*b, HOUR, sig, rules, costs, fms, frate)


def reasons(res):
    return [EXIT_REASONS[r] for r in res.reason]


def test_signal_fills_at_the_next_bar_open_never_on_the_signal_bar():
    b = bars([100, 101, 102, 103, 104, 105, 106, 107, 108, 109], closes=[100.5, 101.5, 102.5, 103.5, 104.5, 105.5, 106.5, 107.5, 108.5, 109.5])
    res = run(b, flags(10, entry_long=[2], exit_long=[5]))
    assert list(res.entry_index) == [3] and list(res.exit_index) == [6]
    assert res.entry_price[0] == 103 and res.exit_price[0] == 106
    assert res.size[0] == pytest.approx(10_000 / 103)
    assert res.final_equity == pytest.approx(10_000 / 103 * 106)
    # equity is marked at each close; flat before the fill
    assert res.equity[2] == 10_000 and res.equity[3] == pytest.approx(10_000 / 103 * 103.5)


def test_short_pnl_is_size_times_the_fall():
    b = bars([100, 100, 100, 95, 90, 90, 90, 90, 90, 90, 90])
    res = run(b, flags(11, entry_short=[1], exit_short=[3]), Rules(allow_long=False, allow_short=True))
    assert list(res.side) == [-1] and res.entry_price[0] == 100 and res.exit_price[0] == 90
    assert res.pnl[0] == pytest.approx(100 * 10)  # 100 units short from 100 to 90
    assert res.final_equity == pytest.approx(11_000)


def test_fee_and_slippage_on_both_fills():
    b = bars([100] * 3 + [110] * 9)
    costs = Costs(taker_fee=0.001, maker_fee=0.0, slippage_bps=10.0, initial_equity=10_000.0)
    res = run(b, flags(12, entry_long=[0], exit_long=[2]), costs=costs)
    entry_px, exit_px = 100 * 1.001, 110 * 0.999
    size = 10_000 / (entry_px * 1.001)
    fee_in, fee_out = size * entry_px * 0.001, size * exit_px * 0.001
    assert res.entry_price[0] == pytest.approx(entry_px) and res.exit_price[0] == pytest.approx(exit_px)
    assert res.entry_fee[0] == pytest.approx(fee_in) and res.exit_fee[0] == pytest.approx(fee_out)
    assert res.final_equity == pytest.approx(10_000 + size * (exit_px - entry_px) - fee_in - fee_out, rel=1e-12)


def test_funding_is_charged_at_settlement_times_inside_the_holding_period_with_the_right_sign():
    b = bars(np.arange(100, 120, dtype=float))  # hourly bars from 00:00, open = 100 + hour
    funding = (np.array([8 * HOUR, 16 * HOUR], dtype=np.int64), np.array([0.001, -0.002]))
    long = run(b, flags(20, entry_long=[4], exit_long=[11]), funding=funding)  # held 05:00 -> 12:00
    size = 10_000 / 105
    assert long.funding[0] == pytest.approx(size * 108 * 0.001)  # only 08:00; mark = open of the 08:00 bar
    assert long.final_equity == pytest.approx(10_000 + size * (112 - 105) - size * 108 * 0.001)
    short = run(b, flags(20, entry_short=[4], exit_short=[17]), Rules(allow_long=False, allow_short=True), funding=funding)
    ssize = 10_000 / 105  # short 05:00 -> 18:00 receives 08:00 and pays at 16:00 (negative rate)
    assert short.funding[0] == pytest.approx(-ssize * 108 * 0.001 + ssize * 116 * 0.002)
    # a fill exactly at a settlement: entered at 08:00 pays it, exited at 08:00 does not
    at_entry = run(b, flags(20, entry_long=[7], exit_long=[9]), funding=funding)
    at_exit = run(b, flags(20, entry_long=[3], exit_long=[7]), funding=funding)
    assert at_entry.funding[0] == pytest.approx(10_000 / 108 * 108 * 0.001) and at_exit.funding[0] == 0


def test_stop_is_assumed_first_when_stop_and_target_are_in_the_same_bar():
    o = [100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
    h = [100, 100, 103, 100, 100, 100, 100, 100, 100, 100]
    lo = [100, 100, 97, 100, 100, 100, 100, 100, 100, 100]
    res = run(bars(o, h, lo, o), flags(10, entry_long=[0]), Rules(stop_loss=0.02, take_profit=0.02))
    assert reasons(res) == ["stop_loss"] and res.exit_price[0] == pytest.approx(98) and res.exit_index[0] == 2


def test_take_profit_fills_at_the_target_with_the_maker_fee():
    o = [100] * 10
    h = [100, 100, 101, 103, 100, 100, 100, 100, 100, 100]
    costs = Costs(taker_fee=0.001, maker_fee=0.0002, slippage_bps=5.0)
    res = run(bars(o, h, o, o), flags(10, entry_long=[0]), Rules(take_profit=0.02), costs)
    entry = 100 * 1.0005
    assert reasons(res) == ["take_profit"] and res.exit_price[0] == pytest.approx(entry * 1.02)
    assert res.exit_fee[0] == pytest.approx(res.size[0] * entry * 1.02 * 0.0002)


def test_trailing_stop_trails_the_best_high_of_earlier_bars():
    o = [100, 100, 104, 118, 115, 110, 110, 110, 110, 110]
    h = [100, 100, 105, 120, 116, 111, 110, 110, 110, 110]
    lo = [100, 100, 103, 117, 107, 106, 110, 110, 110, 110]
    c = [100, 100, 104, 118, 110, 110, 110, 110, 110, 110]
    res = run(bars(o, h, lo, c), flags(10, entry_long=[0]), Rules(trailing_stop=0.1))
    # best high 120 after bar 3 -> stop 108; bar 4's low 107 hits it (bar 4's own high is not used yet)
    assert reasons(res) == ["trailing_stop"] and res.exit_index[0] == 4 and res.exit_price[0] == pytest.approx(108)


def test_a_gap_through_the_stop_fills_at_the_open():
    o = [100, 100, 99, 90, 90, 90, 90, 90, 90, 90]
    res = run(bars(o), flags(10, entry_long=[0]), Rules(stop_loss=0.05))
    assert reasons(res) == ["stop_loss"] and res.exit_index[0] == 3 and res.exit_price[0] == 90  # not the 95 stop


def test_short_stop_above_entry_and_reversal_on_the_opposite_signal():
    o = [100, 100, 100, 100, 104, 104, 104, 104, 104, 104, 104, 104]
    h = [100, 100, 100, 100, 106, 104, 104, 104, 104, 104, 104, 104]
    res = run(bars(o, h, o, o), flags(12, entry_short=[1], entry_long=[6]),
              Rules(allow_long=True, allow_short=True, stop_loss=0.05))
    assert reasons(res) == ["stop_loss", "end_of_data"]
    assert res.side[0] == -1 and res.exit_price[0] == pytest.approx(105) and res.exit_index[0] == 4
    assert res.side[1] == 1 and res.entry_index[1] == 7


def test_max_bars_exits_at_the_open_after_the_limit():
    res = run(bars([100] * 12), flags(12, entry_long=[0]), Rules(max_bars=3))
    assert reasons(res) == ["max_bars"] and res.entry_index[0] == 1 and res.exit_index[0] == 4


def test_open_position_is_closed_at_the_last_close_and_marked():
    b = bars([100, 100, 100, 101, 102, 103, 104, 105, 106, 107], closes=[100, 100, 100, 101, 102, 103, 104, 105, 106, 111])
    res = run(b, flags(10, entry_long=[1]), costs=Costs(taker_fee=0.001, maker_fee=0, slippage_bps=0))
    assert reasons(res) == ["end_of_data"] and res.exit_index[0] == 9 and res.exit_price[0] == 111
    assert res.final_equity == pytest.approx(10_000 + res.size[0] * 11 - res.entry_fee[0] - res.size[0] * 111 * 0.001)
    assert res.position[-1] == 0


def test_lot_size_rounds_the_position_down():
    res = run(bars([300] * 10), flags(10, entry_long=[0]), Rules(lot_size=1.0))
    assert res.size[0] == 33 and math.isclose(res.final_equity, 10_000)
