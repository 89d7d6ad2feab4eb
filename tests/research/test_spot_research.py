"""Research and the portfolio on a spot symbol: its long side only, a short-only design not at all; the
symbols' markets travel with the Market to the tuning workers."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from python_assets.backtest.engine import Costs
from python_assets.backtest.portfolio_daily import _design_runs
from python_assets.backtest.spec import resolve_params, spec_from_dict
from python_assets.research.designer import canonical, spec_dict
from python_assets.research.tuner import Market, evaluate

H = 3_600_000
SPOT_ONLY = {"XRP-ETH": "spot"}


def frame(symbols=("XRP-ETH",), bars: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    out = []
    for sym in symbols:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
        open_ = np.r_[close[0], close[:-1]]
        out.append(pd.DataFrame({"symbol": sym, "timeframe": "1h", "bar_at_ms": 1_735_689_600_000 + np.arange(bars) * H,
                                 "open": open_, "high": np.maximum(open_, close) * 1.002,
                                 "low": np.minimum(open_, close) * 0.998, "close": close, "volume": 1.0}))
    return pd.concat(out, ignore_index=True)


def spec(side: str):
    up, down = "close > open", "close < open"
    return spec_from_dict({"name": f"t_{side}", "timeframe": "1h", "side": side,
                           "entry_long": up if side != "short" else None, "exit_long": down if side != "short" else None,
                           "entry_short": down if side != "long" else None, "exit_short": up if side != "long" else None},
                          frozenset({"open", "close"}))


def test_a_long_short_design_trades_only_its_long_side_on_spot():
    spot, perp = Market.from_frame(frame(), "1h", markets=SPOT_ONLY), Market.from_frame(frame(), "1h")
    both_spot, long_spot = evaluate(spot, spec("both"), {}, Costs()), evaluate(spot, spec("long"), {}, Costs())
    both_perp, long_perp = evaluate(perp, spec("both"), {}, Costs()), evaluate(perp, spec("long"), {}, Costs())
    assert both_spot.oos_trades == long_spot.oos_trades > 0 and both_spot.is_trades == long_spot.is_trades
    assert np.array_equal(both_spot.oos_returns, long_spot.oos_returns)
    assert both_perp.oos_trades > long_perp.oos_trades  # the swap trades the short side too
    assert np.array_equal(long_perp.oos_returns, long_spot.oos_returns)  # without funding, a long is the same


def test_a_short_only_design_is_not_run_on_a_spot_symbol():
    alone = evaluate(Market.from_frame(frame(), "1h", markets=SPOT_ONLY), spec("short"), {}, Costs())
    assert alone.is_trades == alone.oos_trades == 0 and alone.is_score == -1.0
    mixed = Market.from_frame(frame(("BTC-USDT", "XRP-ETH")), "1h", markets=SPOT_ONLY)
    swap_only = Market.from_frame(frame(("BTC-USDT", "XRP-ETH")).query("symbol == 'BTC-USDT'"), "1h")
    ev, ref = evaluate(mixed, spec("short"), {}, Costs()), evaluate(swap_only, spec("short"), {}, Costs())
    assert ev.oos_trades == ref.oos_trades > 0 and np.array_equal(ev.oos_returns, ref.oos_returns)


def test_the_markets_travel_with_the_market_to_a_worker():
    market = Market.from_frame(frame(), "1h", markets=SPOT_ONLY)
    assert pickle.loads(pickle.dumps(market)).markets == SPOT_ONLY


def test_the_portfolio_has_no_member_of_a_short_only_design_on_a_spot_symbol():
    market = Market.from_frame(frame(("BTC-USDT", "XRP-ETH")), "1h", markets=SPOT_ONLY)
    members = {}
    for side in ("short", "both"):
        d = canonical(side, ["sma_cross"], "random")
        raw = spec_dict(d, "1h")
        row = {"design_id": d.design_id, "key": d.key, "origin": "random", "spec": raw,
               "params": resolve_params(spec_from_dict(raw), {}), "oos_start_ms": 0}
        members[side] = [m["symbol"] for m in _design_runs(market, row, Costs())]
    assert members == {"short": ["BTC-USDT"], "both": ["BTC-USDT", "XRP-ETH"]}
