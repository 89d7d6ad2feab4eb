"""keltner_pos_20 on a quiet pair priced ~1.5e6 on a 0.01 tick: a channel one tick wide is a channel."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pytest
import talib
from awkward_lake import high_priced
from conftest import run_dbt

from python_assets.config import Paths
from python_assets.lake.store import write_trades

SYMBOL, TICK = "HIPR-USDT", 0.01


@pytest.fixture(scope="module")
def one_minute(tmp_path_factory):
    """The high-priced pair's 1m bars with feat_recursive's keltner_pos_20 (one day, one dbt run)."""
    paths = Paths(tmp_path_factory.mktemp("keltner") / "data")
    write_trades(paths, SYMBOL, high_priced(date(2025, 3, 10), seed=11))
    run_dbt(paths, "run", "--select", "+feat_recursive")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.sql("select b.high, b.low, b.close, f.keltner_pos_20 from int_bars_unioned b join feat_recursive f "
                       "using (symbol, timeframe, bar_at_ms) where b.timeframe = '1m' order by b.bar_at_ms").df()


def test_a_channel_a_tick_wide_has_a_position_as_ema_and_atr_give_it(one_minute):
    """(close - EMA20) / (2 ATR10) from TA-Lib wherever ATR10 is at least half a tick: the old bound, 1e-7 of
    the price (0.15 here, 15 ticks), left every such bar NULL. Checked against TA-Lib, not the bound itself."""
    h, lo, c = (one_minute[k].to_numpy(float) for k in ("high", "low", "close"))
    ema, atr = talib.EMA(c, 20), talib.ATR(h, lo, c, 10)
    channel = np.isfinite(ema) & np.isfinite(atr) & (atr >= TICK / 2)
    got = one_minute["keltner_pos_20"].to_numpy(float)[channel]
    assert channel.sum() > 500 and np.isfinite(got).all()
    np.testing.assert_allclose(got, ((c - ema) / (2 * atr))[channel], rtol=1e-6, atol=1e-9)


def test_a_long_flat_run_still_has_no_position(one_minute):
    """The 90-minute runs of one price: ATR10 decays towards 0 and the ratio is rounding noise: NULL there."""
    h, lo, c = (one_minute[k].to_numpy(float) for k in ("high", "low", "close"))
    atr = talib.ATR(h, lo, c, 10)
    vanished = np.isfinite(atr) & (atr < 1e-9 * c)
    assert vanished.sum() > 10
    assert one_minute["keltner_pos_20"][vanished].isna().all()
