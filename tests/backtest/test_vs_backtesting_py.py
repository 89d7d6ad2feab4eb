"""sma_cross against backtesting.py on the same bars: same trades (times, prices) and final equity."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from python_assets.backtest.engine import Costs
from python_assets.backtest.runner import backtest_frame
from python_assets.backtest.spec import resolve_params, spec_from_dict
from python_assets.backtest.spec_files import STRATEGY_DIR

backtesting = pytest.importorskip("backtesting")
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402

from conftest import shared_file  # noqa: E402

WHOLE_UNITS = 1 - sys.float_info.epsilon  # backtesting.py's default buy()/sell() size: all equity, whole units


def rolling_mean(values, n):
    return pd.Series(values).rolling(n).mean().to_numpy()


class SmaCross(Strategy):
    fast = 10
    slow = 30

    def init(self):
        self.sma_fast = self.I(rolling_mean, self.data.Close, self.fast)
        self.sma_slow = self.I(rolling_mean, self.data.Close, self.slow)

    def next(self):
        if crossover(self.sma_fast, self.sma_slow):
            self.position.close()
            self.buy()
        elif crossover(self.sma_slow, self.sma_fast):
            self.position.close()
            self.sell()


def whole_unit_sma_cross():
    """The shipped sma_cross spec, sized like backtesting.py: all equity in whole units."""
    import yaml

    raw = yaml.safe_load((STRATEGY_DIR / "sma_cross.yaml").read_text())
    raw["sizing"] = {"fraction": WHOLE_UNITS, "lot_size": 1}
    return spec_from_dict(raw)


def synthetic_ohlc(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.r_[100.0, close[:-1]] * (1 + rng.normal(0, 0.0005, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n)))
    idx = pd.date_range("2025-01-01", periods=n, freq="5min", tz="UTC")
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1.0}, index=idx)


def ours_frame(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "symbol": "X", "timeframe": "5m", "bar_at_ms": (df.index.as_unit("ms").asi8).astype(np.int64),
        "open": df["Open"].to_numpy(), "high": df["High"].to_numpy(), "low": df["Low"].to_numpy(),
        "close": df["Close"].to_numpy(), "volume": df["Volume"].to_numpy(),
    })


def compare(df: pd.DataFrame, fast: int, slow: int, commission: float) -> int:
    stats = Backtest(df, SmaCross, cash=10_000, commission=commission).run(fast=fast, slow=slow)
    spec = whole_unit_sma_cross()
    bars, res = backtest_frame(spec, resolve_params(spec, {"fast": fast, "slow": slow}),
                               ours_frame(df), Costs(commission, commission, 0.0, 10_000.0))
    ref = stats._trades
    closed = res.reason != 6  # ours also closes the last position at the last close (end_of_data)
    times = lambda i: pd.to_datetime(bars.ms[i], unit="ms", utc=True)  # noqa: E731
    assert closed.sum() == len(ref) and len(ref) > 10
    assert list(times(res.entry_index[closed])) == list(ref["EntryTime"])
    assert list(times(res.exit_index[closed])) == list(ref["ExitTime"])
    np.testing.assert_allclose(res.entry_price[closed], ref["EntryPrice"], rtol=1e-12)
    np.testing.assert_allclose(res.exit_price[closed], ref["ExitPrice"], rtol=1e-12)
    np.testing.assert_array_equal(res.side[closed] * res.size[closed], ref["Size"])
    # backtesting.py leaves the last trade open (marked at the last close, no exit commission);
    # ours closes it there and pays the exit fee.
    open_trades = res.reason == 6
    exit_fee = float((res.size[open_trades] * bars.close[-1] * commission).sum())
    ref_final = float(stats._equity_curve["Equity"].iloc[-1]) - exit_fee
    assert res.final_equity == pytest.approx(ref_final, rel=1e-9)
    return int(closed.sum())


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


@pytest.mark.parametrize("commission", [0.0, 0.002])
@pytest.mark.parametrize("fast,slow", [(10, 30), (5, 21)])
def test_sma_cross_matches_backtesting_py_on_synthetic_bars(fast, slow, commission):
    compare(synthetic_ohlc(), fast, slow, commission)


@pytest.mark.parametrize("commission", [0.0, 0.001])
def test_sma_cross_matches_backtesting_py_on_freqtrade_eth_btc(commission):
    raw = pd.read_feather(shared_file("freqtrade/ETH_BTC-5m.feather"))
    df = raw.set_index(pd.DatetimeIndex(raw["date"]).tz_convert("UTC"))[["open", "high", "low", "close", "volume"]]
    df.columns = ["Open", "High", "Low", "Close", "Volume"]
    compare(df, 10, 30, commission)


def test_sma_cross_matches_backtesting_py_on_its_own_goog_csv(tmp_path):
    """backtesting.py's GOOG sample in its own CSV layout (an unnamed date index), read by our file
    reader: the same bars, and sma_cross(10, 30) gives the same 66 trades with finalize_trades=True
    (backtesting.py then closes the last one at the last bar's open, ours at its close)."""
    from backtesting.test import GOOG

    from python_assets.backtest.files import read_ohlcv

    path = tmp_path / "GOOG.csv"
    GOOG.to_csv(path)
    assert path.read_text().splitlines()[0] == ",Open,High,Low,Close,Volume"
    bars, bar_ms = read_ohlcv(path)
    assert (bars["symbol"].iloc[0], bars["timeframe"].iloc[0], bar_ms, len(bars)) == ("GOOG", "1d", 86_400_000, len(GOOG))
    df = bars.set_index(pd.to_datetime(bars["bar_at_ms"], unit="ms", utc=True).rename(None))[["open", "high", "low", "close", "volume"]]
    df.columns = ["Open", "High", "Low", "Close", "Volume"]
    pd.testing.assert_frame_equal(df, GOOG.astype(float).tz_localize("UTC"), check_index_type=False, check_freq=False)
    assert compare(df, 10, 30, 0.0) == 65  # closed by a signal; ours closes the 66th at the end
    spec = whole_unit_sma_cross()
    _, res = backtest_frame(spec, resolve_params(spec, {"fast": 10, "slow": 30}), bars, Costs(0.0, 0.0, 0.0, 10_000.0))
    finalized = Backtest(GOOG, SmaCross, cash=10_000, finalize_trades=True).run()
    assert len(res.size) == finalized["# Trades"] == 66
    assert (res.pnl > 0).mean() == pytest.approx(finalized["Win Rate [%]"] / 100)  # 46.97 %
