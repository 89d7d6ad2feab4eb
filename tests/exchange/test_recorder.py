"""record-trades against the fake BloFin: every trade once, hourly files, finished hours merged into
the trades lake, gaps reported, and a SIGKILL + restart that loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import duckdb
import pandas as pd
from conftest import CLI
from fake_blofin import FakeBlofin

from python_assets.config import Paths
from python_assets.exchange.client import ExchangeConfig, make_exchange
from python_assets.exchange.recorder import HOUR_MS, TradeRecorder, hour_file, merge_closed_hours, run_recorders


class Clock:
    """A settable clock shared by the fake exchange and the recorder."""

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def __call__(self) -> float:
        return self.ms / 1000

    def sleep(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


def live_rows(paths: Paths) -> pd.DataFrame:
    return duckdb.sql(f"select * from read_parquet('{paths.live_trades}/**/*.parquet') order by ts").df()


def test_recorder_keeps_every_trade_once_in_hourly_files_and_merges_finished_hours(data_dir: Paths) -> None:
    start = 1_800_000_000_000 // HOUR_MS * HOUR_MS + HOUR_MS - 30_000  # 30 s before an hour ends
    clock = Clock(start)
    with FakeBlofin(clock=clock, trade_period_ms=250, trades_start_ms=start - 5_000) as fake:
        cfg = ExchangeConfig(api_url=fake.url, rate_limit_ms=1)
        rec = TradeRecorder(make_exchange(cfg), data_dir, "BTC/USDT:USDT", cfg, clock=clock)
        run_recorders([rec], poll_s=2.0, flush_s=6.0, duration_s=60.0, clock=clock, sleep=clock.sleep)
        expected = fake.all_trades(fake.inst("BTC-USDT"), clock.ms - 2_000)  # up to the last poll (then a 2 s sleep)
    first_hour = start // HOUR_MS * HOUR_MS
    assert hour_file(data_dir, "BTC-USDT", first_hour).exists() and hour_file(data_dir, "BTC-USDT", first_hour + HOUR_MS).exists()
    rows = live_rows(data_dir)
    # the first poll sees the newest 100 trades (25 s at 4 trades/s); everything after that is kept
    kept = [t for t in expected if int(t["ts"]) >= int(rows["ts"].min())]
    assert list(rows["trade_id"]) == [t["tradeId"] for t in kept]
    assert rows["size"].tolist() == [float(t["size"]) * 0.001 for t in kept]  # contracts x contract value
    assert rec.stats.gaps == []

    assert merge_closed_hours(data_dir, "BTC-USDT", clock.ms) == 0  # the hours are not over (+ grace) yet
    later = first_hour + 2 * HOUR_MS + 121_000
    assert merge_closed_hours(data_dir, "BTC-USDT", later) == 2
    assert merge_closed_hours(data_dir, "BTC-USDT", later) == 0
    lake = duckdb.sql(f"select trade_id, seq from read_parquet('{data_dir.trades}/*/*/trades.parquet') order by ts, seq").df()
    assert list(lake["trade_id"]) == list(rows["trade_id"])
    assert not list(data_dir.live_trades.rglob("date=*/[0-9][0-9].parquet"))  # pending files moved to merged/


def test_recorder_reports_a_possible_gap_when_polls_do_not_overlap(data_dir: Paths) -> None:
    clock = Clock(1_800_000_000_000)
    logged = []
    with FakeBlofin(clock=clock, trade_period_ms=50, trades_start_ms=clock.ms - 10_000) as fake:
        cfg = ExchangeConfig(api_url=fake.url, rate_limit_ms=1)
        rec = TradeRecorder(make_exchange(cfg), data_dir, "ETH-USDT", cfg, clock=clock,
                            log=lambda event, **f: logged.append((event, f)))
        rec.poll()
        clock.sleep(3.0)  # 60 trades: the next page overlaps
        rec.poll()
        clock.sleep(20.0)  # 400 trades: more than one page, some are lost
        rec.poll()
    assert len(rec.stats.gaps) == 1
    assert logged[0][0] == "recorder_possible_gap"


def test_record_trades_survives_sigkill_and_restart_without_gaps_or_duplicates(data_dir: Paths) -> None:
    with FakeBlofin(trade_period_ms=100) as fake:  # 10 trades/s: one page of 100 covers 10 s, the restart takes ~3
        env = {**os.environ, "BLOFIN_API_URL": fake.url, "BLOFIN_DATA_DIR": str(data_dir.data_dir), "BLOFIN_RATE_LIMIT_MS": "1"}
        cmd = [*CLI, "record-trades", "--symbol", "BTC-USDT", "--poll-seconds", "0.2", "--flush-seconds", "0.5"]
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not list(data_dir.live_trades.rglob("*.parquet")) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        first.send_signal(signal.SIGKILL)
        first.wait()
        polls_before = fake.counts.get("trades", 0)
        second = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while fake.counts.get("trades", 0) < polls_before + 5 and time.time() < deadline:
            time.sleep(0.05)
        second.send_signal(signal.SIGTERM)  # graceful: flushes before exiting
        out = second.communicate(timeout=30)[0].decode()
    assert first.returncode == -signal.SIGKILL
    assert second.returncode == 0, out
    assert "0 possible gaps" in out
    ids = live_rows(data_dir)["trade_id"].astype(int).tolist()
    assert len(ids) == len(set(ids)) > 100
    assert ids == list(range(ids[0], ids[-1] + 1))  # consecutive trade ids: nothing lost across the kill


def test_a_second_poll_recorder_of_a_symbol_is_refused_while_one_records(data_dir: Paths) -> None:
    from python_assets.exchange.rec_lock import RecorderBusy

    clock = Clock(1_800_000_000_000)
    with FakeBlofin(clock=clock) as fake:
        cfg = ExchangeConfig(api_url=fake.url, rate_limit_ms=1)
        first = TradeRecorder(make_exchange(cfg), data_dir, "BTC/USDT:USDT", cfg, clock=clock)
        try:
            TradeRecorder(make_exchange(cfg), data_dir, "BTC/USDT:USDT", cfg, clock=clock)
            raise AssertionError("a second recorder of BTC-USDT was let in")
        except RecorderBusy as exc:
            assert "BTC-USDT is already being recorded" in str(exc)
        run_recorders([first], duration_s=0.0, clock=clock, sleep=clock.sleep)  # lets go on the way out
        TradeRecorder(make_exchange(cfg), data_dir, "BTC/USDT:USDT", cfg, clock=clock)
