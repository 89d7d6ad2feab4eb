"""A spot market (the lake records each symbol's: spot or perpetual swap) is bought and sold only: the engine
holds it long, unlevered, with no funding and no liquidation; a short-only strategy is not run on it; a swap's
backtest is the same, bit for bit, as before markets were passed in."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from python_assets.backtest.engine import EXIT_REASONS, Costs, Rules, simulate
from python_assets.backtest.markets import PERP, SPOT, market_terms, runs_on
from python_assets.backtest.reads import NO_FUNDING, Bars
from python_assets.backtest.runner import (BacktestJob, SymbolTask, Window, backtest_symbol, run_bars,
                                           tradable_symbols)
from python_assets.backtest.spec import spec_from_dict
from python_assets.ingest.importers import import_file, lake_markets

HOUR = 3_600_000
COSTS = Costs(taker_fee=0.0006, maker_fee=0.0002, slippage_bps=1.0)
N = 12


def bars(symbol: str = "XRP-ETH", opens=None) -> Bars:
    o = np.asarray(opens if opens is not None else 100.0 + np.arange(N, dtype=float))
    c = o + 0.5
    return Bars(symbol, "1h", HOUR, np.arange(len(o), dtype=np.int64) * HOUR, o, np.maximum(o, c) + 1,
                np.minimum(o, c) - 1, c)


def flags(n: int = N, **at) -> dict[str, np.ndarray]:
    out = {k: np.zeros(n, bool) for k in ("entry_long", "exit_long", "entry_short", "exit_short")}
    for name, idx in at.items():
        out[name][list(idx)] = True
    return out


FULL = Window("full", "full", 0, N * HOUR)
BOTH = Rules(allow_long=True, allow_short=True)
# a short first, then a long (a reversal), then out: a swap books both sides
SIGNALS = flags(entry_short=[1], entry_long=[4], exit_long=[8])


def test_a_spot_symbol_with_a_short_signal_gets_no_short_trade():
    _, perp = run_bars(bars(), SIGNALS, BOTH, COSTS, NO_FUNDING, FULL, market=PERP)
    _, spot = run_bars(bars(), SIGNALS, BOTH, COSTS, NO_FUNDING, FULL, market=SPOT)
    assert list(perp.side) == [-1, 1]
    assert list(spot.side) == [1] and list(spot.entry_index) == [5] and list(spot.exit_index) == [9]


def test_a_spot_position_pays_no_funding_where_a_swap_pays():
    funding = (np.array([6 * HOUR + 1], np.int64), np.array([0.01]))  # 1 % while the long is held
    _, perp = run_bars(bars(), flags(entry_long=[2], exit_long=[8]), BOTH, COSTS, funding, FULL, market=PERP)
    _, spot = run_bars(bars(), flags(entry_long=[2], exit_long=[8]), BOTH, COSTS, funding, FULL, market=SPOT)
    assert perp.funding[0] > 0 and spot.funding[0] == 0.0
    assert spot.final_equity == pytest.approx(perp.final_equity + perp.funding[0])


def test_spot_is_unlevered_and_never_liquidated():
    """sizing.fraction 3 is 3x leverage: a swap long is liquidated in a 60 % fall, a spot long is 1x and rides it."""
    opens = [100.0, 100, 100, 100, 40, 40, 40, 40, 40, 40, 40, 40]
    rules = Rules(allow_long=True, fraction=3.0)
    _, perp = run_bars(bars(opens=opens), flags(entry_long=[1]), rules, COSTS, NO_FUNDING, FULL, market=PERP)
    _, spot = run_bars(bars(opens=opens), flags(entry_long=[1]), rules, COSTS, NO_FUNDING, FULL, market=SPOT)
    assert EXIT_REASONS[perp.reason[0]] == "liquidation" and perp.final_equity == 0.0
    assert EXIT_REASONS[spot.reason[0]] == "end_of_data"
    px = 100 * (1 + 1e-4)  # the entry with 1 bp slippage
    assert spot.size[0] == pytest.approx(10_000 / (px * (1 + COSTS.taker_fee)))
    assert spot.final_equity > 0.35 * 10_000


def test_a_swap_backtest_is_unchanged_bit_for_bit():
    funding = (np.array([3 * HOUR, 7 * HOUR], np.int64), np.array([0.001, -0.002]))
    b, rules = bars(), Rules(allow_long=True, allow_short=True, fraction=2.0, stop_loss=0.05)
    _, by_market = run_bars(b, SIGNALS, rules, COSTS, funding, FULL, market=PERP)
    _, default = run_bars(b, SIGNALS, rules, COSTS, funding, FULL)
    direct = simulate(b.open, b.high, b.low, b.close, b.ms, HOUR, SIGNALS, rules, COSTS, *funding)
    for name in ("side", "entry_index", "exit_index", "size", "entry_price", "exit_price", "entry_fee", "exit_fee",
                 "funding", "reason", "equity", "position"):
        assert np.array_equal(getattr(by_market, name), getattr(direct, name)), name
        assert np.array_equal(getattr(default, name), getattr(direct, name)), name
    assert market_terms(rules, COSTS, funding, PERP) == (rules, COSTS, funding)


def spec(side: str):
    return spec_from_dict({"name": f"t_{side}", "timeframe": "1h", "side": side,
                           "entry_long": "close > open" if side != "short" else None,
                           "entry_short": "close > open" if side != "long" else None}, frozenset({"open", "close"}))


def test_a_short_only_strategy_is_not_run_on_a_spot_symbol():
    markets = {"XRP-ETH": SPOT, "BTC-USDT": PERP}
    assert tradable_symbols(spec("short"), ["BTC-USDT", "XRP-ETH", "ETH-USDT"], markets) == (
        ["BTC-USDT", "ETH-USDT"], ["XRP-ETH"])
    assert tradable_symbols(spec("both"), ["BTC-USDT", "XRP-ETH"], markets) == (["BTC-USDT", "XRP-ETH"], [])
    assert not runs_on("short", SPOT) and runs_on("both", SPOT) and runs_on("short", PERP)


def test_the_ledger_rows_of_a_spot_symbol_hold_longs_only():
    """backtest_symbol (what run_job maps over symbols) books a long/short strategy's long side only on spot."""
    s = spec("both")
    job = BacktestJob(spec=s, grid=[{}], symbols=None, timeframe="1h", start_ms=0, end_ms=N * HOUR, costs=COSTS,
                      run_id="r", kind="cli", source="test", markets={"XRP-ETH": SPOT})
    sides = {}
    for market in (SPOT, PERP):
        task = SymbolTask(job, (("sid", {}, BOTH),), bars(), (SIGNALS,), NO_FUNDING, None, "v", market)
        (rows,) = backtest_symbol(task)
        sides[market] = sorted(rows.trades["side"])
    assert sides == {SPOT: ["long"], PERP: ["long", "short"]}


def test_the_lake_tells_each_symbol_s_market(data_dir, tmp_path):
    day = pd.Timestamp("2019-10-11", tz="UTC")
    candles = pd.DataFrame({"date": [day, day + pd.Timedelta(minutes=5)], "open": 1.0, "high": 1.0, "low": 1.0,
                            "close": 1.0, "volume": 1.0})
    for name in ("XRP_ETH-5m.feather", "ETH_USDT_USDT-5m-futures.feather"):
        candles.to_feather(tmp_path / name)
        import_file(data_dir, tmp_path / name)
    candles.to_csv(tmp_path / "plain.csv", index=False)
    import_file(data_dir, tmp_path / "plain.csv", symbol="BTC-USDT-SPOT", timeframe="5m")
    import_file(data_dir, tmp_path / "plain.csv", symbol="SOL-USDT", timeframe="5m")
    assert lake_markets(data_dir) == {"XRP-ETH": SPOT, "ETH-USDT": PERP, "BTC-USDT-SPOT": SPOT}


def test_the_backtest_command_says_why_a_short_only_strategy_skips_spot_symbols():
    """`blofin-stack backtest` of a short-only strategy on a spot lake ended in 'no bars of the strategy's
    timeframe in the window' though the bars were there: the skip is said (all spot: an error; some: a note)."""
    from python_assets.backtest.service import spot_left_out
    from python_assets.backtest.spec import SpecError

    markets = {"ADA-BTC": SPOT, "LTC-BTC": SPOT, "BTC-USDT": PERP}
    with pytest.raises(SpecError, match=r"short-only and ADA-BTC, LTC-BTC are spot markets \(held long only\)"):
        spot_left_out(spec("short"), ["ADA-BTC", "LTC-BTC"], markets)
    assert spot_left_out(spec("short"), ["ADA-BTC", "BTC-USDT"], markets) == (
        f"left out ADA-BTC: spot, held long only, and {spec('short').name} is short-only",)
    assert spot_left_out(spec("both"), ["ADA-BTC"], markets) == ()
