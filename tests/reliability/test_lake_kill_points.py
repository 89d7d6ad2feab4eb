"""The lake step killed at every write it makes, then rerun, leaves the lake exactly as an uninterrupted
run does: every lake file byte for byte and every lake source's rows (what the warehouse's staging
views read). The kill is an os._exit in a forked child at the n-th atomic replace, either with the temp
file written and not yet renamed, or just after the rename; the rerun runs here, uninterrupted.
Sources: synthetic (a day's trades then its funding; a day generated before is left alone) and blofin (the
fake exchange: 1m candles and funding of two days below a stored day, two recorder hours merged)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dagster_defs.ingest.assets import fill_lake
from dagster_defs.partitions import day_start_ms
from dagster_defs.resources import MarketSource
from python_assets.config import Paths
from python_assets.exchange.recorder import LIVE_SCHEMA, hour_file
from python_assets.lake.atomic import write_table_atomic
from python_assets.exchange.errors import MarketRefused
from python_assets.lake.store import TRADE_SCHEMA, funding_partition, read_partition, trades_partition, write_trades
from python_assets.ingest.market import generate_market_day, holds_synthetic_trades

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exchange"))
from fake_blofin import FakeBlofin  # noqa: E402  (tests/exchange is not a package)

KILLED = 86  # the child's exit status when it died at its kill point
LOG = logging.getLogger("lake_kill_points")
SOURCES = {  # lake source name -> glob under the lake, as dbt_project/models/staging/lake/_lake__sources.yml reads it
    "trades": "trades/*/*/trades.parquet",
    "funding_rates": "funding/*/*/funding.parquet",
    "candles": "candles/*/*/*/candles.parquet",
    "live_trades": "live_trades/*/*/**/*.parquet",
}


def lake_files(p: Paths) -> dict[str, bytes]:
    """{path under the lake: bytes} of every lake file but the temp files a killed writer leaves behind."""
    return {str(f.relative_to(p.lake)): f.read_bytes() for f in sorted(p.lake.rglob("*"))
            if f.is_file() and not f.name.startswith(".tmp-")}


def lake_tables(p: Paths) -> dict[str, list[tuple]]:
    """Sorted rows of each lake source (hive columns included)."""
    out = {}
    for name, glob in SOURCES.items():
        if any(p.lake.glob(glob)):
            out[name] = duckdb.sql(f"select * from read_parquet('{p.lake}/{glob}', hive_partitioning = true, "
                                   "union_by_name = true) order by all").fetchall()
    return out


def count_replaces(run: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run uninterrupted and return how many atomic replaces it made."""
    calls = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (calls.append(dst), real(src, dst))[1])
    run()
    monkeypatch.setattr(os, "replace", real)
    return len(calls)


def run_killed(run: Callable[[], None], n: int, before_rename: bool) -> None:
    """Run in a forked child that exits at its n-th atomic replace (before or after the rename)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            real, count = os.replace, [0]

            def dying_replace(src, dst):
                count[0] += 1
                if count[0] == n and before_rename:
                    os._exit(KILLED)
                real(src, dst)
                if count[0] == n:
                    os._exit(KILLED)

            os.replace = dying_replace
            run()
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == KILLED, f"the child ended before its kill point {n}"


def check_every_kill_point(seed: Paths, run: Callable[[Paths], None], root: Path,
                           monkeypatch: pytest.MonkeyPatch) -> tuple[int, Paths]:
    """Kill a run on a copy of seed at each of its writes (before and after the rename), rerun it, and
    compare with an uninterrupted run; returns the number of writes and the uninterrupted data dir."""
    clean = copy_of(seed, root / "clean")
    writes = count_replaces(lambda: run(clean), monkeypatch)
    expected_files, expected_tables = lake_files(clean), lake_tables(clean)
    run(clean)  # a rerun of a finished run writes nothing and changes nothing
    assert lake_files(clean) == expected_files
    for n in range(1, writes + 1):
        for before_rename in (True, False):
            where = f"kill at write {n} of {writes}, {'before' if before_rename else 'after'} its rename"
            p = copy_of(seed, root / f"kill-{n}-{before_rename}")
            run_killed(lambda: run(p), n, before_rename)
            assert lake_files(p) != expected_files or (n == writes and not before_rename), where
            run(p)
            assert lake_files(p) == expected_files, where
            assert lake_tables(p) == expected_tables, where
            temps = list(p.lake.rglob(".tmp-*"))  # left for remove_stale_temp_files; no reader globs them
            assert len(temps) == int(before_rename), where
            shutil.rmtree(p.data_dir)
    return writes, clean


def copy_of(seed: Paths, target: Path) -> Paths:
    shutil.copytree(seed.data_dir, target)
    return Paths(target)


# ---- synthetic source ------------------------------------------------------------------------
SYNTHETIC_DAYS = [date(2025, 3, 9), date(2025, 3, 10), date(2025, 3, 11)]
GENERATED_DAY = date(2025, 3, 10)  # generated by an earlier run: the synthetic source adds nothing to it
SYMBOL = "SOL-USDT"  # the smallest synthetic day


def ingested_trades() -> pd.DataFrame:
    ts = day_start_ms(GENERATED_DAY) + np.arange(0, 86_400_000, 600_000)
    return pd.DataFrame({"trade_id": [f"real-{i}" for i in range(len(ts))], "ts": ts, "price": 60.0, "size": 1.0,
                         "side": "buy"})


def run_synthetic(p: Paths) -> None:
    fill_lake(p, SYNTHETIC_DAYS, MarketSource(kind="synthetic", symbols=SYMBOL), LOG)


def test_synthetic_lake_step_killed_at_any_write_then_rerun_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    seed = Paths(tmp_path / "seed")
    generate_market_day(seed, SYMBOL, GENERATED_DAY)
    kept = trades_partition(seed, SYMBOL, GENERATED_DAY).read_bytes()
    writes, clean = check_every_kill_point(seed, run_synthetic, tmp_path, monkeypatch)
    assert writes == 2 * 3  # per generated day: its trade-id index range, its trades, its funding
    for day in SYNTHETIC_DAYS:
        assert funding_partition(clean, SYMBOL, day).exists() and holds_synthetic_trades(clean, SYMBOL, day)
    assert trades_partition(clean, SYMBOL, GENERATED_DAY).read_bytes() == kept


def test_the_synthetic_lake_step_writes_nothing_into_a_lake_holding_real_trades(tmp_path):
    """Real trades on one day of the symbol: the other days got synthetic ticks before, a series half real and
    half synthetic; now the step is refused, in one line, before it writes anything."""
    p = Paths(tmp_path / "data")
    write_trades(p, SYMBOL, ingested_trades())
    before = lake_files(p)
    with pytest.raises(MarketRefused, match=f"{SYMBOL}: holds real data .*set BLOFIN_SOURCE=lake"):
        run_synthetic(p)
    assert lake_files(p) == before


def test_a_day_left_with_trades_and_no_funding_gets_its_funding(data_dir):
    """What a kill between a day's two writes left before each dataset was checked on its own."""
    run_synthetic(data_dir)
    lost = funding_partition(data_dir, SYMBOL, SYNTHETIC_DAYS[0])
    kept = lost.read_bytes()
    lost.unlink()
    run_synthetic(data_dir)
    assert lost.read_bytes() == kept


# ---- blofin source (fake exchange) ----------------------------------------------------------
BLOFIN_DAYS = [date(2025, 2, 3), date(2025, 2, 4)]
STORED_DAY = BLOFIN_DAYS[-1] + timedelta(days=1)  # fetched before: the window lies below stored data
HOURS = (5, 6)  # recorder hours of the first day waiting to be merged into the trades lake


def run_blofin(p: Paths, days: list[date] = BLOFIN_DAYS) -> None:
    fill_lake(p, days, MarketSource(kind="blofin", symbols="BTC-USDT"), LOG)


def recorded_hour(p: Paths, k: int, hour: int) -> None:
    """A finished hour of the trade recorder, not yet merged: one trade a minute."""
    start = day_start_ms(BLOFIN_DAYS[0]) + hour * 3_600_000
    ts = start + np.arange(0, 3_600_000, 60_000)
    rows = pd.DataFrame({"trade_id": [f"{k}-{i}" for i in range(len(ts))], "ts": ts, "price": 100.0 + k,
                         "size": 0.5, "side": "sell"})
    write_table_atomic(pa.Table.from_pandas(rows, schema=LIVE_SCHEMA, preserve_index=False), hour_file(p, "BTC-USDT", start))


def test_blofin_lake_step_killed_at_any_write_then_rerun_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    with FakeBlofin() as fake:
        monkeypatch.setenv("BLOFIN_API_URL", fake.url)
        monkeypatch.setenv("BLOFIN_RATE_LIMIT_MS", "1")
        seed = Paths(tmp_path / "seed")
        run_blofin(seed, [STORED_DAY])
        for k, hour in enumerate(HOURS):
            recorded_hour(seed, k, hour)
        writes, clean = check_every_kill_point(seed, run_blofin, tmp_path, monkeypatch)
    # candles and funding per day, funding's _exchange_holes.json (the stretches a fetch found without a
    # settlement, asked for once); per recorder hour its trade-id index range, the trades day file, merged/HH
    assert writes == 2 + 2 + 1 + 3 * len(HOURS)
    candles = duckdb.sql(f"select date, count(*) from read_parquet('{clean.candles}/*/*/*/candles.parquet', "
                         "hive_partitioning = true) group by 1 order by 1").fetchall()
    assert candles == [(d, 1440) for d in [*BLOFIN_DAYS, STORED_DAY]]  # whole days, no hole below the stored one
    funding = duckdb.sql(f"select count(*) from read_parquet('{clean.funding}/*/*/funding.parquet')").fetchall()
    assert funding == [(9,)]
    assert len(read_partition(trades_partition(clean, "BTC-USDT", BLOFIN_DAYS[0]), TRADE_SCHEMA)) == 60 * len(HOURS)
    assert not list(clean.live_trades.glob("*/*/[0-9][0-9].parquet"))  # every finished hour merged
