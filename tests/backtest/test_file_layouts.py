"""Other tools' OHLCV files read as bars: backtesting.py's CSV with an unnamed date index, and a
freqtrade file name giving the symbol the way `import` reads it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_assets.backtest.files import OhlcvFileError, guess_from_name, read_ohlcv


def ohlcv(n: int = 30, freq: str = "5min") -> pd.DataFrame:
    close = 100 + np.arange(n, dtype=float)
    return pd.DataFrame({"Open": close - 0.5, "High": close + 1, "Low": close - 1, "Close": close, "Volume": 1.0},
                        index=pd.date_range("2024-01-01", periods=n, freq=freq))


def test_an_unnamed_first_column_of_dates_is_the_time_column(tmp_path):
    path = tmp_path / "prices.csv"
    frame = ohlcv(freq="1D")
    frame.to_csv(path)  # backtesting.py's layout: header ",Open,High,Low,Close,Volume"
    assert path.read_text().startswith(",Open,High,Low,Close,Volume\n2024-01-01,")
    bars, bar_ms = read_ohlcv(path)
    assert bar_ms == 86_400_000 and bars["timeframe"].iloc[0] == "1d"
    assert list(bars["bar_at_ms"]) == list(frame.index.as_unit("ms").asi8)
    assert list(bars["close"]) == list(frame["Close"])


def test_an_unnamed_first_column_of_row_numbers_is_not_taken_for_times(tmp_path):
    path = tmp_path / "prices.csv"
    ohlcv().reset_index(drop=True).to_csv(path)  # ",Open,..." over 0, 1, 2: a written-out RangeIndex
    with pytest.raises(OhlcvFileError, match="missing a time column"):
        read_ohlcv(path)


def test_a_freqtrade_file_name_gives_the_pair_as_import_reads_it(tmp_path):
    path = tmp_path / "XRP_USDT_USDT-5m-futures.feather"
    ohlcv().rename_axis("date").reset_index().rename(columns=str.lower).to_feather(path)
    bars, _ = read_ohlcv(path)
    assert bars["symbol"].iloc[0] == "XRP-USDT" == guess_from_name(path).symbol
    assert read_ohlcv(path, "MY-NAME")[0]["symbol"].iloc[0] == "MY-NAME"
    other = tmp_path / "my_prices.csv"
    ohlcv().rename_axis("date").to_csv(other)
    assert read_ohlcv(other)[0]["symbol"].iloc[0] == "MY_PRICES"  # other names: the file name, as before


@pytest.mark.parametrize("column", ["High", "Close"])
def test_an_infinite_price_is_one_clear_error_naming_its_row(tmp_path, column):
    # inf passed the NaN and <= 0 checks: a high of inf liquidated a short at a made-up price, a close of
    # inf failed the ledger's NOT NULL equity with a database error
    frame = ohlcv()
    frame.iloc[7, frame.columns.get_loc(column)] = np.inf
    frame.rename_axis("date").to_csv(tmp_path / "prices.csv")
    with pytest.raises(OhlcvFileError, match="row 8 has .* infinite"):
        read_ohlcv(tmp_path / "prices.csv")


def test_a_sparse_file_keeps_its_own_timeframe(tmp_path):
    """Exchanges leave out candles without trades: a 1m file of a thin market that lacks over half its minutes
    had a median gap of 2m, so it was read as 2m bars (`import` refused it as 2m candles, a backtest ran and
    annualised it as 2m) and one lacking three quarters of them as 5m. Its most common gap is still 1m."""
    frame = ohlcv(n=400, freq="1min").rename_axis("date")
    keep = np.random.default_rng(3).random(len(frame)) < 0.3
    frame[keep].to_csv(tmp_path / "thin.csv")
    assert frame[keep].index.to_series().diff().median() >= pd.Timedelta("2min")
    bars, bar_ms = read_ohlcv(tmp_path / "thin.csv")
    assert (bar_ms, bars["timeframe"].iloc[0], len(bars)) == (60_000, "1m", keep.sum())
