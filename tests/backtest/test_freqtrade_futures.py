"""Real perpetual data end to end: freqtrade's XRP/USDT:USDT 5m candles and 8h funding imported into the
lake, bars built by dbt from candles alone, a backtest charged funding, and the funding total checked
against a hand computation over the stored trades."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_dbt, shared_file

from blofin_cli.main import main as cli_main
from python_assets.backtest.engine import Costs
from blofin_cli.research import run_backtest
from python_assets.config import Paths

FUTURES = "freqtrade/futures/"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The 5m candles and 8h funding of XRP/USDT:USDT in a fresh lake beside the last day of freqtrade's ETH/BTC
    5m candles of 2018 (a pair of another year, as a freqtrade data folder holds), bars and features built (once)."""
    candles = shared_file(FUTURES + "XRP_USDT_USDT-5m-futures.feather")
    funding = shared_file(FUTURES + "XRP_USDT_USDT-8h-funding_rate.feather")
    eth_btc = pd.read_feather(shared_file("freqtrade/ETH_BTC-5m.feather"))
    other = tmp_path_factory.mktemp("spot") / "ETH_BTC-5m.feather"
    eth_btc[eth_btc["date"] >= "2018-01-29"].reset_index(drop=True).to_feather(other)
    data_dir = Paths((tmp_path_factory.mktemp("futures") / "data").resolve())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLOFIN_DATA_DIR", str(data_dir.data_dir))
        assert cli_main(["import", str(candles), str(funding), str(other)]) == 0
        run_dbt(data_dir, "run", "--select", "+features", "stg_funding_rates")
        yield data_dir, pd.read_feather(candles), pd.read_feather(funding)


def test_imported_candles_become_bars_on_every_timeframe(imported):
    paths, candles, _ = imported
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        bars = con.execute("select bar_at_ms, open, high, low, close, cast(volume as double), source "
                           "from bars_5m where symbol = 'XRP-USDT' order by bar_at_ms").df()
        hourly = con.execute("select count(*), sum(cast(volume as double)) from bars_1h where symbol = 'XRP-USDT'").fetchall()[0]
    traded = candles[candles["volume"] > 0]
    assert bars["bar_at_ms"].tolist() == (traded["date"].astype("int64") // 10**6).tolist()
    assert np.array_equal(bars[["open", "high", "low", "close"]].to_numpy(), traded[["open", "high", "low", "close"]].to_numpy())
    assert set(bars["source"]) == {"import:XRP_USDT_USDT-5m-futures.feather"}
    assert hourly[1] == pytest.approx(traded["volume"].sum(), rel=1e-12)  # every 5m candle lands in one hour


def hand_funding(trades: pd.DataFrame, bars: pd.DataFrame, funding: pd.DataFrame) -> float:
    """Each settlement T with entry_at < T <= exit_at (fills at bar opens) costs side * size * rate * the open of the bar
    that contains T (or the next bar after a gap): the engine's documented rule, computed directly."""
    total = 0.0
    bar_ms, opens = bars["bar_at_ms"].to_numpy(), bars["open"].to_numpy()
    for t in trades.itertuples():
        sign = 1.0 if t.side == "long" else -1.0
        for ts, rate in zip(funding["ts"], funding["rate"]):
            if t.entry_at_ms < ts <= t.exit_at_ms:
                i = np.searchsorted(bar_ms + 300_000, ts, side="right")  # first bar whose end is after T
                total += sign * t.size * opens[i] * rate
    return total


def test_backtest_charges_funding_equal_to_a_hand_computation(imported, tmp_path):
    paths, _, funding_file = imported
    spec = yaml.safe_load(open("python_assets/backtest/strategies/sma_cross.yaml"))
    spec.update(name="sma_cross_5m", timeframe="5m")
    path = tmp_path / "sma_cross_5m.yaml"
    path.write_text(yaml.safe_dump(spec))
    run_id, rows = run_backtest(paths, str(path), {"fast": "12", "slow": "48"}, Costs(0.0006, 0.0002, 0.0, 10_000.0),
                                symbols=["XRP-USDT"])
    assert len(rows) == 1
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        trades = con.execute("select t.* from backtest_trades t join backtest_runs r using (backtest_id) "
                             "where r.run_id = ? order by trade_no", [run_id]).df()
        bars = con.execute("select bar_at_ms, open from bars_5m where symbol = 'XRP-USDT' order by bar_at_ms").df()
        window = con.execute("select epoch_ms(window_start), epoch_ms(window_end) from backtest_runs where run_id = ? "
                             "and window_kind = 'full'", [run_id]).fetchone()
    # without --days the window is the bars' span (it started at 1970: a 20,000-day duration, 0 trades a day)
    assert window == (bars["bar_at_ms"].iloc[0], bars["bar_at_ms"].iloc[-1] + 300_000)
    # a settlement on its nearest second (the file stamps some a few ms late: 16:00:00.007 is the 16:00 settlement)
    stamped = funding_file["date"].astype("int64") // 10**6
    funding = pd.DataFrame({"ts": (stamped + 500) // 1000 * 1000, "rate": funding_file["open"]})
    covered = funding[(funding["ts"] >= bars["bar_at_ms"].iloc[0]) & (funding["ts"] < bars["bar_at_ms"].iloc[-1])]
    assert len(covered) >= 10 and len(trades) >= 10
    expected = hand_funding(trades, bars, funding)
    assert expected != 0.0
    assert trades["funding"].sum() == pytest.approx(expected, rel=1e-9)
    assert rows[0]["funding_paid"] == pytest.approx(expected, rel=1e-9)
    assert (trades["side"] == "short").any() and (trades["side"] == "long").any()  # both signs exercised
    net = (trades["gross_pnl"] - trades["entry_fee"] - trades["exit_fee"] - trades["funding"]).sum()
    assert rows[0]["final_equity"] == pytest.approx(10_000.0 + net, rel=1e-9)


def test_a_backtest_of_some_symbols_runs_over_their_own_bars(imported, tmp_path):
    """The window was the span of every symbol's bars: ETH-BTC's day of 2018 beside XRP-USDT's week of 2021 ran
    as a window to 2021 (a 1,411-day duration for 20 days of bars), and with --days no ETH-BTC bar was in it."""
    paths, _, _ = imported
    spec = yaml.safe_load(open("python_assets/backtest/strategies/sma_cross.yaml"))
    spec.update(name="sma_cross_5m", timeframe="5m")
    path = tmp_path / "sma_cross_5m.yaml"
    path.write_text(yaml.safe_dump(spec))
    run_id, rows = run_backtest(paths, str(path), {"fast": "5", "slow": "20"}, Costs(0.0006, 0.0002, 0.0, 10_000.0),
                                symbols=["ETH-BTC"], days=1)
    assert len(rows) == 1 and rows[0]["symbol"] == "ETH-BTC"
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        window = con.execute("select epoch_ms(window_start), epoch_ms(window_end) from backtest_runs where run_id = ?",
                             [run_id]).fetchone()
    last = int(pd.Timestamp("2018-01-30 04:50", tz="UTC").value // 10**6)  # the file's last 5m candle
    assert window == (last + 300_000 - 86_400_000, last + 300_000)
