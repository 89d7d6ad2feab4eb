"""fetch-ohlcv / fetch-funding against the fake BloFin: the real ccxt client, paginated, retried on 429s
and dropped connections, rate-limited, resumable after a kill, keys from the environment only."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
from conftest import CLI
from fake_blofin import FakeBlofin, candle, funding_rate

from python_assets.config import Paths
from python_assets.exchange.client import ExchangeConfig, FetchError, make_exchange
from python_assets.exchange.history import fetch_funding_history, fetch_ohlcv_history, walk_windows

DAY = 86_400_000


def stored_candles(paths: Paths) -> list[tuple]:
    glob = f"{paths.candles}/*/*/*/candles.parquet"
    return duckdb.sql(f"select bar_at_ms, open, high, low, close, volume, volume_quote, source from read_parquet('{glob}') "
                      "order by bar_at_ms").fetchall()


def cfg_for(fake: FakeBlofin, **kw) -> ExchangeConfig:
    return ExchangeConfig(api_url=fake.url, rate_limit_ms=kw.pop("rate_limit_ms", 1), backoff_s=0.05, **kw)


def test_candles_are_complete_gap_free_and_exact_through_429s_and_dropped_connections(data_dir: Paths) -> None:
    with FakeBlofin(faults={("candles", 2): "429", ("candles", 5): "drop", ("candles", 6): "429"}) as fake:
        cfg = cfg_for(fake)
        now = fake.now_ms()
        since = now - 2 * DAY - 123_456
        stats = fetch_ohlcv_history(make_exchange(cfg), data_dir, "BTC/USDT:USDT", "1m", since, None, cfg, now=now)
        rows = stored_candles(data_dir)
    first, end = -(-since // 60_000) * 60_000, now // 60_000 * 60_000
    times = [r[0] for r in rows]
    assert times == list(range(first, end, 60_000))  # every closed minute once, the open one left out
    inst = fake.inst("BTC-USDT")
    for r in rows[::97]:
        o, h, lo, c, vol = candle(inst, r[0], 60_000)
        assert r[1:6] == (o, h, lo, c, vol)  # base volume (ccxt's index 6), not contracts
        assert r[6] == pytest.approx(vol * c) and r[7] == "blofin"
    pages = -(-len(times) // 100)
    assert stats.added == len(times) and stats.requests == pages
    assert fake.counts["candles"] == pages + 3  # three failed calls, each retried
    limits = {q.get("limit") for _, n, q in fake.requests if n == "candles"}
    assert limits == {"100"}


def test_rate_limit_is_honoured_between_all_requests(data_dir: Paths) -> None:
    with FakeBlofin() as fake:
        cfg = cfg_for(fake, rate_limit_ms=120)
        now = fake.now_ms()
        fetch_ohlcv_history(make_exchange(cfg), data_dir, "ETH-USDT", "1m", now - 700 * 60_000, None, cfg, now=now)
        gaps = [b - a for (a, *_), (b, *_) in zip(fake.requests, fake.requests[1:])]
    assert len(gaps) >= 7
    assert min(gaps) >= 0.12 * 0.9, gaps


def test_a_rerun_fetches_only_what_is_missing_including_older_history(data_dir: Paths) -> None:
    with FakeBlofin() as fake:
        cfg = cfg_for(fake)
        ex, now = make_exchange(cfg), fake.now_ms()
        fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "5m", now - DAY, None, cfg, now=now)
        again = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "5m", now - DAY, None, cfg, now=now)
        assert again.added == 0 and again.requests == 0
        older = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "5m", now - 2 * DAY, None, cfg, now=now)
        rows = stored_candles(data_dir)
    assert older.added == 288 and older.requests == 3
    times = [r[0] for r in rows]
    assert times == list(range(-(-(now - 2 * DAY) // 300_000) * 300_000, now // 300_000 * 300_000, 300_000))


def test_a_long_fetch_shows_a_progress_bar_over_its_windows(data_dir: Paths, capfd: pytest.CaptureFixture[str]) -> None:
    with FakeBlofin() as fake:
        cfg = cfg_for(fake)
        now = fake.now_ms()
        stats = fetch_ohlcv_history(make_exchange(cfg), data_dir, "BTC-USDT", "1m", now - 1000 * 60_000, None, cfg,
                                    now=now, bar=True)
        quiet = fetch_funding_history(make_exchange(cfg), data_dir, "BTC-USDT", now - DAY, None, cfg, now=now)
    lines = capfd.readouterr().out.splitlines()
    bars = [ln for ln in lines if ln.startswith("fetch BTC-USDT 1m [")]
    windows = len(walk_windows(-(-(now - 1000 * 60_000) // 60_000) * 60_000, now // 60_000 * 60_000, 100 * 60_000, False))
    assert windows == 10 and stats.requests == windows  # one full page per window of 100 minutes
    assert len(bars) == windows and re.search(rf"\] {windows}/{windows} in \d", bars[-1])
    assert all("ETA" in ln for ln in bars[:-1]) and quiet.added > 0 and not any("funding" in ln for ln in lines)


class ShortPages(FakeBlofin):
    """A fake exchange that cuts its 3rd candle and 2nd funding answer to half a page, older records remaining."""

    def candles(self, q: dict) -> dict:
        body = super().candles(q)
        return {**body, "data": body["data"][:50]} if self.counts.get("candles") == 3 else body

    def funding(self, q: dict) -> dict:
        body = super().funding(q)
        return {**body, "data": body["data"][:40]} if self.counts.get("funding") == 2 else body


def test_a_page_cut_short_mid_history_does_not_end_its_window(data_dir: Paths) -> None:
    with ShortPages() as fake:
        cfg = cfg_for(fake)
        ex, now = make_exchange(cfg), fake.now_ms()
        day = (now // DAY - 1) * DAY
        candles = fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", day, day + DAY, cfg, now=now)
        funding = fetch_funding_history(ex, data_dir, "BTC-USDT", day - 100 * DAY, day, cfg, now=now)
    assert [r[0] for r in stored_candles(data_dir)] == list(range(day, day + DAY, 60_000))
    assert candles.added == 1440 and candles.requests == 15 + 1  # the short page's rest asked for from its edge
    rows = duckdb.sql(f"select funding_ts from read_parquet('{data_dir.funding}/*/*/funding.parquet') order by 1").fetchall()
    assert [r[0] for r in rows] == list(range(day - 100 * DAY, day, 8 * 3_600_000)) and funding.added == 300


def test_funding_history_is_complete_exact_and_resumable(data_dir: Paths) -> None:
    with FakeBlofin(faults={("funding", 1): "429"}) as fake:
        cfg = cfg_for(fake)
        ex, now = make_exchange(cfg), fake.now_ms()
        first = fetch_funding_history(ex, data_dir, "BTC/USDT:USDT", now - 90 * DAY, None, cfg, now=now)
        again = fetch_funding_history(ex, data_dir, "BTC/USDT:USDT", now - 90 * DAY, None, cfg, now=now)
    rows = duckdb.sql(f"select funding_ts, funding_rate from read_parquet('{data_dir.funding}/*/*/funding.parquet') "
                      "order by 1").fetchall()
    step = 8 * 3_600_000
    expected = list(range(-(-(now - 90 * DAY) // step) * step, now + 1, step))
    assert [r[0] for r in rows] == expected
    assert all(r[1] == funding_rate(r[0]) for r in rows)
    assert first.added == len(expected) == 270 and again.added == 0


def test_failures_are_clear(data_dir: Paths) -> None:
    with FakeBlofin(faults={("candles", n): "429" for n in range(1, 10)}) as fake:
        cfg = cfg_for(fake, max_retries=2)
        ex = make_exchange(cfg)
        with pytest.raises(FetchError, match="no market 'DOGE-USDT'"):
            fetch_ohlcv_history(ex, data_dir, "DOGE-USDT", "1m", 0, None, cfg)
        with pytest.raises(FetchError, match="gave up after 3 attempts: RateLimitExceeded"):
            fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "1m", fake.now_ms() - DAY, None, cfg)


def _cli_env(fake: FakeBlofin, paths: Paths, **extra: str) -> dict[str, str]:
    return {**os.environ, "BLOFIN_API_URL": fake.url, "BLOFIN_DATA_DIR": str(paths.data_dir),
            "BLOFIN_RATE_LIMIT_MS": "1", **extra}


def test_fetch_ohlcv_resumes_after_a_kill_without_gaps_or_duplicates(data_dir: Paths) -> None:
    with FakeBlofin(delay_s=0.03) as fake:
        since = str(fake.now_ms() - 3 * DAY)
        cmd = [*CLI, "fetch-ohlcv", "--symbol", "BTC/USDT:USDT", "--since", since]
        proc = subprocess.Popen(cmd, env=_cli_env(fake, data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        # a UTC day is stored once all its pages are in: after 31 of the 44 pages the first day is stored
        while fake.counts.get("candles", 0) < 31 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()
        stored_before = len(stored_candles(data_dir))
        calls_before = fake.counts["candles"]
        done = subprocess.run(cmd, env=_cli_env(fake, data_dir), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        rows = stored_candles(data_dir)
        second_run = [q for _, n, q in fake.requests if n == "candles"][calls_before:]
    times = [r[0] for r in rows]
    assert 0 < stored_before < len(times)
    assert len(times) == len(set(times)) and times == list(range(times[0], times[-1] + 1, 60_000))
    assert times[0] == -(-int(since) // 60_000) * 60_000
    # the second run started where the first stopped instead of from --since
    assert len(second_run) <= -(-(len(times) - stored_before) // 100) + 1
    assert "new 1m candles" in done.stdout


def test_fetch_ohlcv_refuses_a_timeframe_no_bar_model_reads(data_dir: Paths) -> None:
    with FakeBlofin() as fake:
        for tf in ("30m", "3m", "1H"):
            cmd = [*CLI, "fetch-ohlcv", "--symbol", "BTC-USDT", "--timeframe", tf, "--since", str(fake.now_ms() - DAY)]
            out = subprocess.run(cmd, env=_cli_env(fake, data_dir), capture_output=True, text=True, timeout=60)
            assert out.returncode == 2 and out.stdout == "", out.stdout + out.stderr
            assert out.stderr.splitlines() == [f"error: --timeframe {tf}: {tf} candles make no bars here "
                                               "(bars are 1m, 5m, 15m, 1h, 4h, 1d): fetch one of those timeframes"]
        with pytest.raises(ValueError, match="30m candles make no bars"):
            fetch_ohlcv_history(make_exchange(cfg_for(fake)), data_dir, "BTC-USDT", "30m", 0, None, cfg_for(fake))
        assert fake.counts.get("candles", 0) == 0
    assert not data_dir.candles.exists()


class AsianDays(FakeBlofin):
    """A fake exchange whose daily bars open at 16:00 UTC (00:00 UTC+8), as an exchange on Asian time may cut them."""

    def candles(self, q: dict) -> dict:
        if q.get("bar") != "1D":
            return super().candles(q)
        hi, step = int(q.get("after", self.now_ms() + 1)) - 1, DAY
        tops = [(hi - 16 * 3_600_000) // step * step + 16 * 3_600_000 - k * step for k in range(int(q.get("limit", 100)))]
        return {"code": "0", "msg": "", "data": [[str(t), "1", "2", "0.5", "1.5", "10", "10", "15",
                                                  "1" if t + step <= self.now_ms() else "0"] for t in tops]}


def test_candles_off_the_utc_grid_are_refused(data_dir: Paths) -> None:
    with AsianDays() as fake:
        cfg, now = cfg_for(fake), fake.now_ms()
        with pytest.raises(FetchError, match=r"BTC-USDT 1d: the exchange's bar at .* 16:00:00\+00:00 is not on the 1d grid"):
            fetch_ohlcv_history(make_exchange(cfg), data_dir, "BTC-USDT", "1d", now - 30 * DAY, None, cfg, now=now)
    assert not data_dir.candles.exists()


def test_fetch_refuses_a_since_not_before_until(data_dir: Paths) -> None:
    with FakeBlofin() as fake:
        for command, until in (("fetch-ohlcv", "2026-01-01"), ("fetch-funding", "2026-01-01"), ("fetch-ohlcv", "2026-01-05")):
            cmd = [*CLI, command, "--symbol", "BTC-USDT", "--since", "2026-01-05", "--until", until]
            out = subprocess.run(cmd, env=_cli_env(fake, data_dir), capture_output=True, text=True, timeout=60)
            assert out.returncode == 2 and out.stdout == "", out.stdout + out.stderr
            assert out.stderr.splitlines() == [f"error: --until {until}T00:00:00+00:00 is not after --since "
                                               "2026-01-05T00:00:00+00:00: the range [--since, --until) is empty"]
        assert fake.counts == {}
    assert not data_dir.lake.exists()


def test_keys_come_from_the_environment_and_are_never_logged(data_dir: Paths) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    with FakeBlofin() as fake:
        env = _cli_env(fake, data_dir, BLOFIN_API_KEY="key-" + secret, BLOFIN_API_SECRET=secret,
                       BLOFIN_API_PASSPHRASE="pass-" + secret)
        cmd = [*CLI, "fetch-funding", "--symbol", "ETH-USDT", "--since", str(fake.now_ms() - 10 * DAY)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    written = [p.read_bytes() for p in Path(data_dir.data_dir).rglob("*") if p.is_file()]
    assert written and not any(secret.encode() in b for b in written)
    assert secret not in out.stdout + out.stderr


def test_make_exchange_hands_environment_keys_to_ccxt_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOFIN_API_KEY", "the-key")
    monkeypatch.setenv("BLOFIN_API_SECRET", "the-secret")
    monkeypatch.setenv("BLOFIN_API_PASSPHRASE", "the-pass")
    cfg = ExchangeConfig.from_env()
    ex = make_exchange(cfg)
    assert (ex.apiKey, ex.secret, ex.password) == ("the-key", "the-secret", "the-pass")
    assert "the-" not in repr(cfg)
    assert ex.enableRateLimit and ex.rateLimit == 100  # ccxt's BloFin default unless told otherwise


def test_retries_back_off_exponentially_and_honour_retry_after(capsys: pytest.CaptureFixture[str]) -> None:
    import types

    import ccxt

    from python_assets.exchange.client import call_with_retries

    failures = [ccxt.NetworkError("reset"), ccxt.RequestTimeout("slow"), ccxt.RateLimitExceeded("429")]
    slept: list[float] = []
    ex = types.SimpleNamespace(last_response_headers={})

    def flaky() -> str:
        if failures:
            exc = failures.pop(0)
            ex.last_response_headers = {"Retry-After": "7"} if isinstance(exc, ccxt.RateLimitExceeded) else {}
            raise exc
        return "ok"

    cfg = ExchangeConfig(backoff_s=0.5, max_backoff_s=30.0, max_retries=5)
    assert call_with_retries(ex, flaky, cfg, "test", sleep=slept.append) == "ok"
    assert slept == [0.5, 1.0, 7.0]  # 0.5 * 2^n, and the server's Retry-After when it asks for longer
    assert capsys.readouterr().err.splitlines() == [  # each retry said, not a silent wait
        "test: attempt 1 of 6 failed (NetworkError: reset); retrying in 0.5 s",
        "test: attempt 2 of 6 failed (RequestTimeout: slow); retrying in 1 s",
        "test: attempt 3 of 6 failed (RateLimitExceeded: 429); retrying in 7 s"]
    with pytest.raises(FetchError, match="BadSymbol"):
        call_with_retries(ex, lambda: (_ for _ in ()).throw(ccxt.BadSymbol("nope")), cfg, "test", sleep=slept.append)


def _freqtrade_5m(path: Path, start_ms: int, n: int = 12) -> Path:
    """A freqtrade candle file of n 5m bars from start_ms (its name tells the market: BASE_QUOTE is spot)."""
    import pandas as pd

    pd.DataFrame({"date": pd.to_datetime([start_ms + i * 300_000 for i in range(n)], unit="ms", utc=True),
                  "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0}).to_feather(path)
    return path


def test_a_symbol_holds_one_market_whichever_of_fetch_and_import_comes_first(data_dir: Paths, tmp_path: Path) -> None:
    """Spot and swap prices differ, so a lake symbol holds one market's data: fetched candles say which market
    they came from (their source), an import of the other market's file is refused against them, and a fetch
    of the other market is refused against imported or fetched data; nothing is written by a refused call."""
    from python_assets.ingest.importers import ImportFileError, import_file

    with FakeBlofin() as fake:
        cfg = cfg_for(fake)
        ex, now = make_exchange(cfg), fake.now_ms()
        day = now // DAY * DAY - 2 * DAY
        # swap candles fetched first: a spot file of that pair is refused, naming what the symbol holds
        fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "5m", day, day + 3_600_000, cfg, now=now)
        held = stored_candles(data_dir)
        assert {r[7] for r in held} == {"blofin"} and len(held) == 12
        with pytest.raises(ImportFileError, match=r"spot candles of BTC-USDT, but BTC-USDT already holds perpetual-swap "
                                                  r"data \(candles fetched from blofin's swap market\)"):
            import_file(data_dir, _freqtrade_5m(tmp_path / "BTC_USDT-5m.feather", day + DAY))
        assert stored_candles(data_dir) == held

        # a spot file imported first: the swap's candles and funding are not fetched into its symbol
        import_file(data_dir, _freqtrade_5m(tmp_path / "ETH_USDT-5m.feather", day))
        for fetch in (lambda: fetch_ohlcv_history(ex, data_dir, "ETH-USDT", "5m", day, day + DAY, cfg, now=now),
                      lambda: fetch_funding_history(ex, data_dir, "ETH-USDT", day, day + DAY, cfg, now=now)):
            with pytest.raises(FetchError, match=r"ETH-USDT: blofin ETH/USDT:USDT is a perpetual-swap market, but ETH-USDT "
                                                 r"already holds spot data \(candles from ETH_USDT-5m.feather\)"):
                fetch()
        # the CLI: bad input (exit 2, as the import's refusal), one line, no request for the symbol's data
        requests = dict(fake.counts)
        for command in ("fetch-ohlcv", "fetch-funding"):
            out = subprocess.run([*CLI, command, "--symbol", "ETH-USDT", "--since", "2025-02-01"],
                                 env=_cli_env(fake, data_dir), capture_output=True, text=True, timeout=60)
            assert out.returncode == 2 and out.stdout == "", out.stdout + out.stderr
            assert out.stderr.splitlines() == [f"error: ETH-USDT: blofin ETH/USDT:USDT is a perpetual-swap market, but "
                                               "ETH-USDT already holds spot data (candles from ETH_USDT-5m.feather); spot "
                                               "and swap prices differ, so its "
                                               f"{'candles' if command == 'fetch-ohlcv' else 'funding rates'} were not "
                                               "fetched: fetch them into another data dir"]
        assert {k: v for k, v in fake.counts.items() if k in ("candles", "funding")} == \
            {k: v for k, v in requests.items() if k in ("candles", "funding")}
        assert not (data_dir.funding / "symbol=ETH-USDT").exists()
        assert len(stored_candles(data_dir)) == 24  # the import's 12 beside BTC's 12, nothing fetched

        # a spot market fetched (here the fake's BTC book listed as spot too): its source says so, and the
        # swap's file is refused against it
        spot = {**ex.markets["BTC/USDT:USDT"], "symbol": "SOL/USDT", "id": "BTC-USDT", "type": "spot", "spot": True,
                "swap": False, "contract": False, "linear": None, "settle": None}
        ex.markets["SOL/USDT"] = spot
        fetch_ohlcv_history(ex, data_dir, "SOL/USDT", "5m", day, day + 3_600_000, cfg, now=now)
    sol = duckdb.sql(f"select distinct source from read_parquet('{data_dir.candles}/symbol=SOL-USDT/*/*/*.parquet')").fetchall()
    assert sol == [("blofin:spot",)]
    futures = _freqtrade_5m(tmp_path / "SOL_USDT_USDT-5m-futures.feather", day + DAY)
    with pytest.raises(ImportFileError, match=r"already holds spot data \(candles fetched from blofin's spot market\)"):
        import_file(data_dir, futures)


def test_a_fetch_and_an_import_of_the_other_market_at_once_cannot_both_land(data_dir: Paths, tmp_path: Path) -> None:
    """A spot file imported into an empty symbol while a swap fetch of it runs: the fetch checks the symbol again
    under its lock before each write, finds the spot candles and stops; the lake holds the import only."""
    from python_assets.exchange.client import MarketRefused
    from python_assets.ingest.importers import import_file

    with FakeBlofin() as fake:
        cfg = cfg_for(fake)
        ex, now = make_exchange(cfg), fake.now_ms()
        day = now // DAY * DAY - 2 * DAY
        spot = _freqtrade_5m(tmp_path / "BTC_USDT-5m.feather", day)
        fetch = ex.fetch_ohlcv

        def import_during_the_first_page(*args, **kwargs):
            if not (data_dir.candles / "symbol=BTC-USDT").exists():
                import_file(data_dir, spot)
            return fetch(*args, **kwargs)

        ex.fetch_ohlcv = import_during_the_first_page
        with pytest.raises(MarketRefused, match=r"already holds spot data \(candles from BTC_USDT-5m.feather\)"):
            fetch_ohlcv_history(ex, data_dir, "BTC-USDT", "5m", day, day + 3_600_000, cfg, now=now)
    assert {r[7] for r in stored_candles(data_dir)} == {"import:BTC_USDT-5m.feather"}


def test_a_dated_future_or_an_option_is_not_fetched_under_the_swaps_name(data_dir: Paths) -> None:
    from python_assets.exchange.client import MarketRefused

    with FakeBlofin() as fake:
        cfg = cfg_for(fake)
        ex = make_exchange(cfg)
        ex.load_markets()
        swap = ex.markets["BTC/USDT:USDT"]
        ex.markets["BTC/USDT:USDT-261225"] = {**swap, "symbol": "BTC/USDT:USDT-261225", "type": "future", "swap": False,
                                              "future": True, "expiry": 1_798_185_600_000}
        with pytest.raises(MarketRefused, match=r"blofin BTC/USDT:USDT-261225 is a future market: only perpetual swaps "
                                                r"and spot markets are fetched"):
            fetch_ohlcv_history(ex, data_dir, "BTC/USDT:USDT-261225", "1m", fake.now_ms() - DAY, None, cfg)
        assert fake.counts.get("candles", 0) == 0
    assert not data_dir.candles.exists() or not any(data_dir.candles.rglob("*.parquet"))
