"""williams_r_reversion on a flat 14-bar window: %R is 0 there (TA-Lib's value for no range, which its short
entry `willr_14 > -depth` reads as "at the high"), so the shipped spec shorted a market that did not move."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import talib

from python_assets.backtest.spec import compile_strategy, resolve_params
from python_assets.backtest.spec_files import STRATEGY_DIR, load_spec

HOUR_MS = 3_600_000


def bars() -> pd.DataFrame:
    """1h bars: 40 rising (each close at its bar's high, %R 0 with a range), then 40 flat at the last close."""
    close = np.r_[100 * 1.01 ** np.arange(40), np.full(40, 100 * 1.01 ** 39)]
    open_ = np.r_[close[0], close[:-1]]
    high, low = close.copy(), np.minimum(open_, close) * np.r_[np.full(40, 0.995), np.ones(40)]
    return pd.DataFrame({"symbol": "X", "timeframe": "1h", "bar_at_ms": HOUR_MS * np.arange(80, dtype=np.int64),
                         "open": open_, "high": high, "low": low, "close": close, "volume": 1.0,
                         "willr_14": talib.WILLR(high, low, close, 14)})


def test_a_flat_window_is_no_short_entry_and_a_close_at_the_high_still_is():
    spec = load_spec(STRATEGY_DIR / "williams_r_reversion.yaml")
    sql = compile_strategy(spec, resolve_params(spec, {}), frozenset({"willr_14"}), "bars")
    frame = bars()
    with duckdb.connect() as con:
        con.register("bars", frame)
        shorts = set(con.execute(f"select bar_at_ms from ({sql}) where entry_short").df()["bar_at_ms"] // HOUR_MS)
    flat = set(range(40 + 13, 80))  # the 14-bar window holds only flat bars
    assert (frame["willr_14"].iloc[sorted(flat)] == 0).all()
    assert not shorts & flat
    assert set(range(13, 40)) <= shorts  # %R 0 at a real 14-bar high: the short entry it always was


def test_a_window_flat_within_rounding_is_no_short_entry():
    """Highs 0.1 + 0.2 over lows 0.3 (one ulp apart): willr_14 is 0 there (the features' within_rounding rule,
    TA-Lib's), while the guard `highest(high, 14) > lowest(low, 14)` was true, so the short still fired."""
    spec = load_spec(STRATEGY_DIR / "williams_r_reversion.yaml")
    sql = compile_strategy(spec, resolve_params(spec, {}), frozenset({"willr_14"}), "bars")
    n = 40
    high, low, close = np.full(n, 0.1 + 0.2), np.full(n, 0.3), np.full(n, 0.3)
    frame = pd.DataFrame({"symbol": "X", "timeframe": "1h", "bar_at_ms": HOUR_MS * np.arange(n, dtype=np.int64),
                          "open": close, "high": high, "low": low, "close": close, "volume": 1.0,
                          "willr_14": talib.WILLR(high, low, close, 14)})
    assert high[0] > low[0] and (frame["willr_14"].iloc[13:] == 0).all()
    with duckdb.connect() as con:
        con.register("bars", frame)
        shorts = con.execute(f"select count(*) from ({sql}) where entry_short").fetchone()[0]
    assert shorts == 0
