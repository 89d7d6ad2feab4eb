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


def run(b, sig, rules=Rules(), costs=FREE, funding=None, **kwargs):
    fms, frate = funding if funding else (None, None)
    return simulate(*b, HOUR, sig, rules, costs, fms, frate, **kwargs)


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
    # a fill exactly at a settlement's open comes after it (an exchange fill a few ms after T): entered at
    # 08:00 pays nothing, exited at 08:00 held the position at 08:00 and pays it
    at_entry = run(b, flags(20, entry_long=[7], exit_long=[9]), funding=funding)
    at_exit = run(b, flags(20, entry_long=[3], exit_long=[7]), funding=funding)
    assert at_entry.funding[0] == 0 and at_exit.funding[0] == pytest.approx(10_000 / 104 * 108 * 0.001)
    # a signal_close fill comes before the open's instant: entered at 07:00's close pays 08:00, exited there not
    early = dict(funding=funding, fill="signal_close")
    close_entry = run(b, flags(20, entry_long=[7], exit_long=[9]), **early)
    close_exit = run(b, flags(20, entry_long=[3], exit_long=[7]), **early)
    assert close_entry.funding[0] == pytest.approx(close_entry.size[0] * 108 * 0.001) and close_exit.funding[0] == 0


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


def test_a_bar_opening_through_the_target_takes_profit_at_the_open_before_the_bars_low():
    # long at 100 (stop 95, target 105); bar 2 opens at 107, then falls to 90: the position was closed at
    # the open with a profit, so the low later in the bar cannot stop it out (or liquidate it at 5x)
    o, h, lo = [100, 100, 107, 100, 100], [100, 100, 108, 100, 100], [100, 100, 90, 100, 100]
    res = run(bars(o, h, lo, o), flags(5, entry_long=[0]), Rules(stop_loss=0.05, take_profit=0.05))
    assert reasons(res) == ["take_profit"] and res.exit_index[0] == 2 and res.exit_price[0] == 107
    assert res.pnl[0] == pytest.approx(100 * 7)
    lo = [100, 100, 70, 100, 100]
    res = run(bars(o, h, lo, o), flags(5, entry_long=[0]), Rules(take_profit=0.05, fraction=5))
    assert reasons(res) == ["take_profit"] and res.pnl[0] == pytest.approx(500 * 7)


def test_an_exit_at_the_open_pays_the_settlement_at_that_instant_an_exit_inside_the_bar_pays_the_bars():
    # long 100 units at 100, a 1 % settlement at 02:00 (bar 2's open): a stop the open gaps through
    # fills at that open after the settlement (like a signal exit there: entry_at < T <= exit_at), mark 90;
    # a stop hit inside the bar held the position from its open and pays; 1d-like: settlements inside the
    # bar are paid too
    funding = (np.array([2 * HOUR], dtype=np.int64), np.array([0.01]))
    gap = run(bars([100, 100, 90, 90, 90]), flags(5, entry_long=[0]), Rules(stop_loss=0.05), funding=funding)
    signal = run(bars([100, 100, 90, 90, 90]), flags(5, entry_long=[0], exit_long=[1]), funding=funding)
    assert reasons(gap) == ["stop_loss"] and gap.exit_price[0] == 90 and gap.funding[0] == pytest.approx(100 * 90 * 0.01)
    assert signal.exit_price[0] == 90 and signal.funding[0] == pytest.approx(100 * 90 * 0.01)
    inside = run(bars([100, 100, 100, 100, 100], lows=[100, 100, 94, 100, 100]), flags(5, entry_long=[0]),
                 Rules(stop_loss=0.05), funding=funding)
    assert reasons(inside) == ["stop_loss"] and inside.exit_price[0] == 95 and inside.funding[0] == pytest.approx(100 * 100 * 0.01)


def test_a_size_already_on_a_whole_lot_keeps_it():
    # 30 / 100 = 0.3 units, and 0.3 / 0.1 is 2.9999999999999996 in floating point: still 3 lots, not 2
    costs = Costs(taker_fee=0.0, maker_fee=0.0, initial_equity=30.0)
    res = run(bars([100] * 5), flags(5, entry_long=[0]), Rules(lot_size=0.1), costs)
    assert res.size[0] == pytest.approx(0.3)
    res = run(bars([100] * 5), flags(5, entry_long=[0]), Rules(lot_size=0.01), Costs(taker_fee=0.0, maker_fee=0.0, initial_equity=29.0))
    assert res.size[0] == pytest.approx(0.29)


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


# Liquidation: equity reaches |size| x price x (mmr + liquidation fee); the defaults are BloFin's lowest tier
# (0.5 %) and its closing fee at the taker rate (0.06 %).
REQ = 0.005 + 0.0006


def test_liquidation_defaults_are_blofins_lowest_tier_and_the_taker_closing_fee():
    assert (Costs().maintenance_margin, Costs().liquidation_fee) == (0.005, 0.0006)


def test_a_long_is_liquidated_intrabar_where_equity_meets_the_maintenance_margin_and_loses_it():
    # 5x long: 500 units at 100 on 10,000; equity at p = 10,000 + 500 (p - 100) = 500 p REQ at 80.45;
    # the exchange takes the position over at the bankruptcy price 80 (equity 0): the ~201 of margin left
    # at 80.45 goes to its insurance fund (BloFin, Bybit, OKX), so the account is wiped out
    liq = 40_000 / (500 * (1 - REQ))  # 80.4505...
    assert 10_000 + 500 * (liq - 100) == pytest.approx(500 * liq * REQ, rel=1e-12)
    o = [100, 100, 95, 90, 85, 85, 85, 85, 85, 85]
    lo = [100, 100, 94, 80.5, 85, 85, 85, 85, 85, 85]
    kept = run(bars(o, None, lo, o), flags(10, entry_long=[0, 5]), Rules(fraction=5))
    assert reasons(kept) == ["end_of_data"]  # 80.5 stays above the liquidation price
    lo[3] = 80.45
    res = run(bars(o, None, lo, o), flags(10, entry_long=[0, 5]), Rules(fraction=5))
    assert reasons(res) == ["liquidation"] and res.exit_index[0] == 3
    assert res.exit_price[0] == pytest.approx(80, rel=1e-12) and res.exit_fee[0] == 0
    assert res.equity[3] == 0 and res.pnl[0] == pytest.approx(-10_000, rel=1e-12)
    assert len(res.side) == 1 and (res.equity[3:] == 0).all()  # wiped out: the later signal is ignored


def test_a_short_is_liquidated_intrabar_at_the_high_unless_its_stop_comes_first():
    # 2x short: 200 units at 100; equity at p = 10,000 - 200 (p - 100) = 200 p REQ at 149.16, 0 at 150
    liq = 30_000 / (200 * (1 + REQ))  # 149.1646...
    o = [100, 100, 110, 140, 145, 145, 145, 145, 145, 145]
    h = [100, 100, 120, 149.2, 145, 145, 145, 145, 145, 145]
    b = bars(o, h, o, o)
    short = Rules(allow_long=False, allow_short=True, fraction=2)
    res = run(b, flags(10, entry_short=[0]), short)
    assert liq < 149.2 and reasons(res) == ["liquidation"] and res.exit_index[0] == 3
    assert res.exit_price[0] == pytest.approx(150, rel=1e-12) and res.exit_fee[0] == 0 and res.final_equity == 0
    # a stop at 145 lies before the liquidation price on the way up: it fills first
    stopped = run(b, flags(10, entry_short=[0]), Rules(allow_long=False, allow_short=True, fraction=2, stop_loss=0.45))
    assert reasons(stopped) == ["stop_loss"] and stopped.exit_price[0] == pytest.approx(145)
    # a stop at 160 lies beyond it: the liquidation comes first
    late = run(b, flags(10, entry_short=[0]), Rules(allow_long=False, allow_short=True, fraction=2, stop_loss=0.6))
    assert reasons(late) == ["liquidation"] and late.final_equity == 0


def test_a_gap_through_the_liquidation_price_is_booked_at_the_bankruptcy_price_and_equity_stops_at_zero():
    # 5x long, 500 units at 100: liquidation 80.45, equity 0 at 80 (bankruptcy); an open at 80.3 or past
    # 80 alike ends the account at exactly 0
    for gap in (80.3, 80.02, 79.0):
        o = [100, 100, 95, gap, gap, gap, gap, gap]
        res = run(bars(o), flags(8, entry_long=[0, 5]), Rules(fraction=5))
        assert reasons(res) == ["liquidation"] and res.exit_index[0] == 3
        assert res.exit_price[0] == pytest.approx(80, rel=1e-12) and res.exit_fee[0] == 0
        assert list(res.equity[3:]) == [0.0] * 5 and len(res.side) == 1


def test_a_short_held_while_price_goes_2_5x_ends_at_exactly_zero_with_a_100pct_drawdown():
    # 1x short, 100 units at 100: liquidation at 198.89, bankruptcy at 200; the 250 open gaps past both
    o = [100, 100, 120, 150, 190, 250, 250, 250, 250, 250, 250, 250]
    res = run(bars(o), flags(12, entry_short=[0, 7], exit_short=[9]), Rules(allow_long=False, allow_short=True))
    assert reasons(res) == ["liquidation"] and res.exit_index[0] == 5
    assert res.exit_price[0] == 200 and res.exit_fee[0] == 0  # booked at the bankruptcy price: loss = equity
    assert res.pnl[0] == -10_000 and res.final_equity == 0.0
    assert (res.equity[5:] == 0.0).all() and (res.position[5:] == 0).all()  # no trades after the wipe-out
    peak = np.maximum.accumulate(np.concatenate([[10_000.0], res.equity]))
    assert (np.concatenate([[10_000.0], res.equity]) / peak - 1).min() == -1.0


def test_funding_never_takes_more_than_the_equity():
    # 5x long at 100, marked at 81 (equity 500) when a 2 % settlement asks 810: it takes 500, then the
    # account is liquidated at that open, at the bankruptcy price 81
    o = [100, 100, 90, 81, 81, 81, 81, 81]
    funding = (np.array([3 * HOUR + 1], dtype=np.int64), np.array([0.02]))
    res = run(bars(o), flags(8, entry_long=[0]), Rules(fraction=5), funding=funding)
    assert reasons(res) == ["liquidation"] and res.exit_index[0] == 3
    assert res.funding[0] == pytest.approx(500) and res.exit_price[0] == pytest.approx(81) and res.exit_fee[0] == 0
    assert res.final_equity == 0.0
