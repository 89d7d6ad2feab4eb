"""The lake's value bounds (python_assets/lake/trade_rules.py): rows past them are quarantined at ingestion or
refused by every writer, and what they let in cannot overflow the bars' DECIMAL(38,12) casts and sums."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_assets.lake import trade_rules
from python_assets.lake.store import trades_partition, write_candles, write_trades
from python_assets.lake.trade_rules import MAX_DAY_TOTAL, MAX_NOTIONAL, MAX_PRICE, MAX_SIZE, TradeRangeError, value_faults

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
# The bars' arithmetic (dbt_project/macros/aggregates.sql: exact_sum), run by DuckDB itself.
EXACT_SUM = "select sum(cast(v as decimal(38, 12))) from (select unnest(?::double[]) as v)"


def trades(price: list[float], size: list[float], side: str | None = "buy") -> pd.DataFrame:
    n = len(price)
    return pd.DataFrame({"trade_id": [f"r{i}" for i in range(n)], "ts": [T0 + i for i in range(n)], "price": price,
                         "size": size, "side": [side] * n})


def test_the_bounds_fit_the_bars_decimal_casts_and_a_full_days_sum():
    for value in (MAX_PRICE, MAX_SIZE, MAX_NOTIONAL):
        assert float(duckdb.execute(EXACT_SUM, [[value]]).fetchall()[0][0]) == value
    # a day at its total limit, in rows at the per-row limit's order of magnitude, sums without overflow ...
    day = [MAX_DAY_TOTAL / 10] * 10
    assert float(duckdb.execute(EXACT_SUM, [day]).fetchall()[0][0]) == pytest.approx(MAX_DAY_TOTAL)
    # ... while 20 times that overflows: the limit has room, and the check could fail
    with pytest.raises(duckdb.Error, match="Overflow|out of range|Could not cast"):
        duckdb.execute(EXACT_SUM, [[MAX_DAY_TOTAL] * 20]).fetchall()
    with pytest.raises(duckdb.Error):
        duckdb.execute(EXACT_SUM, [[1e20 * 1e10]]).fetchall()  # issue 18's tick: its notional cannot be cast


def test_value_faults_names_the_first_broken_rule_per_row():
    got = value_faults(pd.Series([T0, T0, T0, T0, 5, T0, T0]), pd.Series([1e20, 1.0, 1e9, 1.0, 1.0, -1.0, 1e12]),
                       pd.Series([1e10, 1e16, 1e7, 1.0, 1.0, 1.0, 1e3]),
                       pd.Series(["buy", "buy", "sell", "hold", None, "buy", None]))
    assert got.tolist() == ["price_out_of_range", "size_out_of_range", "notional_out_of_range", "invalid_side",
                            "time_before_2009", "non_positive_price", None]


def test_sizes_and_notionals_below_the_bars_resolution_are_faults():
    """The bars hold sizes and notionals as DECIMAL(38, 12): below 1e-12 one is stored as 0 (a bar of volume or
    quote volume 0: a VWAP of 0 and an infinite vwap_dev), so such a trade is quarantined, not stored."""
    got = value_faults(pd.Series([T0] * 4), pd.Series([1.0, 2e-7, 1e-6, 1e-6]), pd.Series([1e-13, 1e-6, 1e-6, 1e-3]))
    assert got.tolist() == ["size_below_resolution", "notional_below_resolution", None, None]
    with duckdb.connect() as con:  # what the bars make of them: 0, and 1e-12 kept
        assert con.execute("select cast(1e-13 as decimal(38, 12)) = 0, cast(1e-12 as decimal(38, 12)) > 0").fetchall() == [(True, True)]



def test_sizes_and_notionals_the_bars_would_round_are_faults_and_exact_ones_are_not():
    """Digits past the 12th decimal are rounded away by the DECIMAL: a size of 1.4e-12 became 1e-12 and a
    notional of 1.23456789e-8 became 1.2346e-8, so a one-trade bar's VWAP left its price (by 50 % and 3e-5)
    and the bars' VWAP test stopped the day's build. Trades on exchange lot and tick sizes are exact."""
    price = pd.Series([2.0, 1.23456789e-8, 1.2345678e-5, 90.54, 1.2346e-8, 1e9, 0.1])
    size = pd.Series([1.4e-12, 1.0, 0.1234567, 1.1044842, 1e6, 0.0001, 3.0])
    got = value_faults(pd.Series([T0] * len(price)), price, size)
    assert got.tolist() == ["size_below_resolution", "notional_below_resolution", "notional_below_resolution",
                            None, None, None, None]
    with duckdb.connect() as con:  # what the bars hold of the accepted rows: within 1e-10 of the value
        for p_, s_ in zip(price[got.isna()], size[got.isna()]):
            held = con.execute("select cast(?::double as decimal(38, 12))::double, cast(?::double as decimal(38, 12))::double",
                               [s_, p_ * s_]).fetchone()
            assert held == pytest.approx((s_, p_ * s_), rel=1e-10)

@pytest.mark.filterwarnings("error")
def test_huge_values_are_named_without_a_numpy_warning():
    """1e300 overflowed np.round's scaling and printed a RuntimeWarning on a successful ingest."""
    faults = value_faults(pd.Series([T0] * 3), pd.Series([1e300, 1.0, 1e300]), pd.Series([1.0, 1e300, 1e300]))
    assert faults.tolist() == ["price_out_of_range", "size_out_of_range", "price_out_of_range"]


def test_every_writer_of_lake_trades_refuses_rows_out_of_bounds(data_dir):
    with pytest.raises(TradeRangeError, match="price_out_of_range"):
        write_trades(data_dir, "BTC-USDT", trades([1.0, 1e20], [1.0, 1e10]))
    with pytest.raises(TradeRangeError, match="non_finite_size"):
        write_trades(data_dir, "BTC-USDT", trades([1.0], [np.nan]))
    assert not data_dir.trades.exists()


def test_a_day_past_its_totals_is_refused_whole_and_other_days_are_kept(data_dir, monkeypatch):
    monkeypatch.setattr(trade_rules, "MAX_DAY_TOTAL", 10.0)
    ok = trades([1.0, 2.0], [1.0, 1.0])
    assert write_trades(data_dir, "BTC-USDT", ok).added == 2
    more = trades([1.0] * 3, [4.0] * 3).assign(trade_id=["x0", "x1", "x2"])  # day size 2 + 12 > 10
    with pytest.raises(TradeRangeError, match="total size of 14"):
        write_trades(data_dir, "BTC-USDT", more)
    assert pd.read_parquet(trades_partition(data_dir, "BTC-USDT", pd.Timestamp(T0, unit="ms").date()))["trade_id"].tolist() == ["r0", "r1"]
    bars = pd.DataFrame({"bar_at_ms": [T0], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [11.0],
                         "source": ["import:x"]})
    with pytest.raises(TradeRangeError, match="candles on 2025-03-10 would hold a total volume"):
        write_candles(data_dir, "BTC-USDT", "1m", bars)


def test_value_fault_gives_value_faults_reason_row_by_row():
    """The recorder's per-trade check (value_fault, no DataFrame) and the batch check (value_faults) name the same
    first broken rule for hostile rows, so a trade the recorder keeps is one every writer accepts."""
    nan, inf = float("nan"), float("inf")
    rows = [  # (ts, price, size, side, the reason both must give)
        (T0, 100.0, 1.0, "buy", None), (T0, 100.0, 1.0, None, None), (T0, 100.0, 1.0, nan, None),
        (T0, 100.0, 1.0, pd.NA, None), (T0, 100.0, 1.0, pd.NaT, None),  # pd.NA: value_fault raised TypeError
        (T0, nan, 1.0, "buy", "non_finite_price"), (T0, inf, 1.0, "buy", "non_finite_price"),
        (T0, -inf, 1.0, "sell", "non_finite_price"), (T0, 0.0, 1.0, "buy", "non_positive_price"),
        (T0, -1.0, 1.0, "buy", "non_positive_price"), (T0, 2e12, 1.0, "buy", "price_out_of_range"),
        (T0, 1.0, nan, "buy", "non_finite_size"), (T0, 1.0, inf, "buy", "non_finite_size"),
        (T0, 1.0, 0.0, "buy", "non_positive_size"), (T0, 1.0, -0.5, "buy", "non_positive_size"),
        (T0, 1.0, 2e15, "buy", "size_out_of_range"), (T0, 1.0, 1e-13, "buy", "size_below_resolution"),
        (T0, 1.0, 1.4e-12, "buy", "size_below_resolution"), (T0, 1e9, 1e7, "buy", "notional_out_of_range"),
        (T0, 1.23456789e-2, 1e-6, "buy", "notional_below_resolution"), (T0, 1e12, 1e3, "buy", None),
        (T0, 0.0, nan, "bad", "non_positive_price"), (T0, 100.0, 1.0, "BUY", "invalid_side"),
        (T0, 100.0, 1.0, "", "invalid_side"), (T0, 100.0, 1.0, 1, "invalid_side"),
        (5, 100.0, 1.0, "buy", "time_before_2009"), (nan, 100.0, 1.0, "buy", "time_before_2009"),
        (-inf, 100.0, 1.0, "buy", "time_before_2009"), (None, nan, nan, "x", "time_before_2009"),
        ("abc", 100.0, 1.0, "buy", "time_before_2009"), (str(T0), "100", "1", "buy", None),
        (T0, "abc", 1.0, "buy", "non_finite_price"), (T0, "inf", 1.0, "buy", "non_finite_price"),
        (T0, "1_000", 1.0, "buy", "non_finite_price"), (T0, " 2 ", "-1", "buy", "non_positive_size"),
        (T0, None, 1.0, "buy", "non_finite_price"), (T0, True, 1.0, "buy", None), (T0, 1e300, 1e300, "buy",
                                                                                     "price_out_of_range"),
        # ints past the float range (a CSV's 401-digit number reads as one): value_faults raised OverflowError
        (T0, 10**400, 1.0, "buy", "non_finite_price"), (T0, 1.0, -10**400, "buy", "non_finite_size"),
        (-10**400, 1.0, 1.0, "buy", "time_before_2009"),
    ]
    ts, price, size, side, want = (list(c) for c in zip(*rows))
    batch = value_faults(pd.Series(ts, dtype=object), pd.Series(price, dtype=object), pd.Series(size, dtype=object),
                         pd.Series(side, dtype=object))
    one = [trade_rules.value_fault(*r[:4]) for r in rows]
    assert list(batch) == want
    assert one == want
