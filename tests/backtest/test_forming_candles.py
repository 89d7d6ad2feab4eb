"""A data file written while a candle was forming (freqtrade's last candle, before drop_incomplete) ends in a
bar that has not closed: `backtest --data` traded its partial prices as a whole bar. Bars that close after
the current time are left out, with one note; a file of closed bars runs as before."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from blofin_cli.main import main as cli_main
from python_assets.backtest.files import OhlcvFileError, closed_bars, read_ohlcv

from test_vs_backtesting_py import synthetic_ohlc

STEP = 300_000  # 5m
N = 600


def freqtrade_file(tmp_path: Path) -> tuple[Path, int]:
    """A freqtrade futures feather of N 5m candles (as `freqtrade download-data` writes it): (path, last open ms)."""
    df = synthetic_ohlc(N, 3).rename_axis("date").reset_index()
    df.columns = [c.lower() for c in df.columns]
    path = tmp_path / "XRP_USDT_USDT-5m-futures.feather"
    df.to_feather(path)
    return path, int(df["date"].iloc[-1].value // 1_000_000)


def test_closed_bars_keep_a_complete_file_whole_and_leave_out_the_forming_ones(tmp_path) -> None:
    path, last = freqtrade_file(tmp_path)
    bars, bar_ms = read_ohlcv(path)
    kept, note = closed_bars(bars, bar_ms, last + STEP, path)  # the last bar closed exactly now
    assert kept is bars and note is None
    kept, note = closed_bars(bars, bar_ms, last + STEP - 1, path)
    assert len(kept) == N - 1 and kept.equals(bars.iloc[:-1])
    assert note == ("left out the 5m bar at 2025-01-03 01:55:00 UTC of XRP_USDT_USDT-5m-futures.feather: not closed "
                    "at 2025-01-03 01:59:59 UTC (still forming when the file was written)")
    kept, note = closed_bars(bars, bar_ms, last - STEP + 60_000, path)  # a clock behind the file: two still open
    assert len(kept) == N - 2 and note.startswith("left out 2 5m bars from 2025-01-03 01:50:00 UTC to "
                                                  "2025-01-03 01:55:00 UTC of ")
    with pytest.raises(OhlcvFileError, match="needs at least 2 closed bars; 599 of its 600 5m bars close after now"):
        closed_bars(bars, bar_ms, int(bars["bar_at_ms"].iloc[0]) + STEP, path)


def run_window(data_dir) -> tuple[int, int, int]:
    """(bars in the equity curve, its last bar open ms, the window end ms) of the one stored run."""
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        return con.execute("select count(*), max(e.bar_at_ms), epoch_ms(max(r.window_end)) from backtest_equity e "
                           "join backtest_runs r using (backtest_id)").fetchone()


@pytest.mark.parametrize("after_close_ms,left_out", [(-120_000, 1), (0, 0)])
def test_backtest_data_leaves_out_the_candle_still_forming(data_dir, tmp_path, monkeypatch, capsys,
                                                           after_close_ms, left_out) -> None:
    import python_assets.lake.store as store

    path, last = freqtrade_file(tmp_path)
    monkeypatch.setattr(store, "now_ms", lambda: last + STEP + after_close_ms)
    chart = tmp_path / "chart.html"
    assert cli_main(["backtest", "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20",
                     "--data", str(path), "--trades", "0", "--html", str(chart)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: left out")]
    assert len(notes) == left_out and chart.exists()
    end = last + STEP * (1 - left_out)
    assert run_window(data_dir) == (N - left_out, end - STEP, end)
    if left_out:
        opened = pd.Timestamp(last, unit="ms")
        assert notes[0].startswith(f"note: left out the 5m bar at {opened:%Y-%m-%d %H:%M:%S} UTC of {path.name}")
