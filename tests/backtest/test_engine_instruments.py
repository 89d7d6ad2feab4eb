"""Hand-computed cases for contract specs (lots, minimum size, contract value, point in time) and for
funding charged at the settlement times given, whatever their spacing (1 h, 4 h, off the hour)."""

from __future__ import annotations

import numpy as np
import pytest

from python_assets.backtest.engine import Costs, Instruments, Rules, simulate

HOUR = 3_600_000
FREE = Costs(taker_fee=0.0, maker_fee=0.0, slippage_bps=0.0, initial_equity=10_000.0)


def hourly(opens):
    o = np.asarray(opens, dtype=float)
    return o, o.copy(), o.copy(), o.copy(), np.arange(len(o), dtype=np.int64) * HOUR


def flags(n, **at):
    out = {k: np.zeros(n, bool) for k in ("entry_long", "exit_long", "entry_short", "exit_short")}
    for name, idx in at.items():
        out[name][list(idx)] = True
    return out


def specs(*versions):
    """(valid_from_ms, contract_value, lot_size, min_size) per version."""
    cols = list(zip(*versions))
    return Instruments(np.array(cols[0], np.int64), *(np.array(c, float) for c in cols[1:]))


def run(opens, sig, instruments=None, rules=Rules(), costs=FREE, funding=(None, None)):
    return simulate(*hourly(opens), HOUR, sig, rules, costs, *funding, instruments=instruments)


OPENS = [100, 100, 105, 110, 110, 110, 100, 100, 101, 101]
SIGNALS = dict(entry_long=[0, 5], exit_long=[2, 7])  # trades: in at bar 1 (100) out at 3 (110); in at 6 (100) out at 8 (101)


def test_without_specs_the_size_is_the_plain_fraction_of_equity():
    res = run(OPENS, flags(10, **SIGNALS))
    assert list(res.size) == [100.0, 11_000 / 100]
    assert res.final_equity == pytest.approx(11_000 + 110 * 1)


def test_sizes_round_down_to_whole_lots_of_contracts_of_the_version_valid_at_the_fill():
    # v1 from bar 1's open (inclusive): 0.3 base per contract, lots of 7 contracts;
    # v2 from inside bar 5 (before the second fill at bar 6): 1 base per contract, lots of 10
    inst = specs((1 * HOUR, 0.3, 7.0, 7.0), (5 * HOUR + 1, 1.0, 10.0, 10.0))
    res = run(OPENS, flags(10, **SIGNALS), inst)
    # trade 1: 10 000 / 100 = 100 base = 333.3 contracts -> 47 lots of 7 = 329 contracts = 98.7 base
    assert res.size[0] == 329 * 0.3 and res.pnl[0] == pytest.approx(98.7 * 10)
    # trade 2: equity 10 987 / 100 = 109.87 base = 109.87 contracts -> 10 lots of 10 = 100 base
    assert res.size[1] == 100.0 and res.pnl[1] == pytest.approx(100.0)
    assert res.final_equity == pytest.approx(10_000 + 987 + 100)
    assert res.position[1] == 329 * 0.3 and res.position[6] == 100.0


def test_bars_before_the_first_version_are_sized_without_contracts():
    inst = specs((5 * HOUR + 1, 1.0, 20.0, 20.0))
    res = run(OPENS, flags(10, **SIGNALS), inst)
    assert list(res.size) == [100.0, 100.0]  # first 10 000 / 100 as is; second 11 000 / 100 = 110 -> 5 lots of 20
    assert res.final_equity == pytest.approx(10_000 + 1_000 + 100)


def test_an_order_below_the_minimum_size_is_not_placed():
    inst = specs((0, 1.0, 1.0, 101.0))  # 10 000 / 100 = 100 contracts < 101
    res = run(OPENS, flags(10, **SIGNALS), inst)
    assert len(res.size) == 0 and res.final_equity == 10_000 and not res.position.any()
    # exactly the minimum trades
    ok = run(OPENS, flags(10, entry_long=[0], exit_long=[2]), specs((0, 1.0, 1.0, 100.0)))
    assert list(ok.size) == [100.0] and ok.final_equity == pytest.approx(11_000)


def test_contract_rounding_after_fees_and_for_shorts():
    costs = Costs(taker_fee=0.001, maker_fee=0.0, slippage_bps=0.0, initial_equity=10_000.0)
    opens = [100, 100, 90, 90, 90]
    res = run(opens, flags(5, entry_short=[0], exit_short=[1]), specs((0, 0.01, 5.0, 5.0)),
              Rules(allow_long=False, allow_short=True), costs)
    # 10 000 / (100 x 1.001) = 99.90 base = 9 990.0 contracts -> 1 998 lots of 5 = 9 990 contracts = 99.9 base
    size = 9_990 * 0.01
    assert res.size[0] == size and list(res.side) == [-1]
    assert res.pnl[0] == pytest.approx(size * 10 - size * 100 * 0.001 - size * 90 * 0.001)


def test_invalid_specs_are_refused_with_one_line():
    with pytest.raises(ValueError, match="contract_value and lot_size must be > 0"):
        run(OPENS, flags(10, **SIGNALS), specs((0, 0.0, 1.0, 1.0)))


def cash_per_bar(res, size, entry_px, closes):
    """Cash at each close (equity less the open position's mark-to-market)."""
    return res.equity - np.where(res.position != 0, size * (np.asarray(closes, float) - entry_px), 0.0)


@pytest.mark.parametrize("interval_h", [1, 4])
def test_funding_is_charged_at_each_settlement_time_given_hourly_or_four_hourly(interval_h):
    opens = 100.0 + np.arange(12)  # hourly bars from 00:00, open = 100 + hour
    times = np.arange(0, 12, interval_h, dtype=np.int64) * HOUR
    res = run(opens, flags(12, entry_long=[0], exit_long=[8]), funding=(times, np.full(len(times), 0.0001)))
    # held from 01:00 (bar 1's open fill, after its settlement) to 09:00 (bar 9's, after that one):
    # settlements 02:00..09:00 are paid
    size = 10_000 / 101
    charged = [h for h in range(0, 12, interval_h) if 1 < h <= 9]
    assert charged == ([2, 3, 4, 5, 6, 7, 8, 9] if interval_h == 1 else [4, 8])
    assert res.funding[0] == pytest.approx(sum(size * (100 + h) * 0.0001 for h in charged))
    cash = cash_per_bar(res, size, 101.0, opens)
    paid = -np.diff(np.r_[10_000.0, cash])
    expected = np.array([size * (100 + h) * 0.0001 if h in charged else 0.0 for h in range(12)])
    expected[9] -= size * 8  # the exit at bar 9 books the price move (109 - 101) into the cash
    assert paid == pytest.approx(expected, abs=1e-9)


def test_funding_off_the_hour_is_marked_at_the_open_of_the_bar_holding_it():
    opens = 100.0 + np.arange(12)
    times = np.array([2 * HOUR + HOUR // 2, 6 * HOUR + 1], dtype=np.int64)  # 02:30 and 06:00:00.001
    res = run(opens, flags(12, entry_long=[0], exit_long=[8]), funding=(times, np.array([0.001, -0.0005])))
    size = 10_000 / 101
    assert res.funding[0] == pytest.approx(size * 102 * 0.001 - size * 106 * 0.0005)


def test_the_runner_reads_the_valid_versions_of_a_symbol_from_dim_instruments():
    import duckdb

    from python_assets.backtest.reads import load_instruments

    with duckdb.connect() as con:
        assert load_instruments(con, "X") is None  # no dim_instruments table: sized as before
        con.execute("create table dim_instruments as select * from (values ('X', 2000, 0.1, 1.0, null), "
                    "('X', 1000, 0.01, 5.0, 5.0), ('X', 3000, 0.0, 1.0, 1.0), ('Y', 1000, 1.0, 1.0, 1.0)) "
                    "t(symbol, valid_from_ms, contract_value, lot_size, min_size)")
        got = load_instruments(con, "X")
        assert load_instruments(con, "Z") is None
    assert list(got.valid_from_ms) == [1000, 2000] and list(got.contract_value) == [0.01, 0.1]
    assert list(got.lot_size) == [5.0, 1.0] and list(got.min_size) == [5.0, 0.0]
