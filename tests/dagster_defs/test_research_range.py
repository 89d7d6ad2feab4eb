"""A range run of the research step (a backfill, materialize --end: one run over the days) proposes, tunes and
ranks the same as the days run one by one: a day's designs breed from the day before's ranking. As three steps
each over the whole range, every day's designs were proposed before any day was ranked."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import numpy as np
import pandas as pd

from dagster_defs.research.assets import strategy_research
from dagster_defs.resources import SymbolFanout, Warehouse
from dagster_defs.runner import partition_tags
from python_assets.config import Paths

DAYS = ("2025-02-26", "2025-02-27")
CONFIG = {"ops": {"strategy_research": {"config": {"trials_per_design": 4, "new_designs_max": 12}}}}


def _features(days: int = 40, seed: int = 6) -> pd.DataFrame:
    """Two random-walk symbols of 1h bars (the columns the research step reads from the features view)."""
    rng, out = np.random.default_rng(seed), []
    t0, n = int(pd.Timestamp("2025-01-20", tz="UTC").value // 10**6), days * 24
    for symbol in ("BTC-USDT", "ETH-USDT"):
        c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        o = np.r_[100.0, c[:-1]]
        h, lo = np.maximum(o, c) * (1 + abs(rng.normal(0, 0.003, n))), np.minimum(o, c) * (1 - abs(rng.normal(0, 0.003, n)))
        ms = t0 + np.arange(n) * 3_600_000
        out.append(pd.DataFrame({"symbol": symbol, "timeframe": "1h", "bar_at_ms": ms,
                                 "bar_at": pd.to_datetime(ms, unit="ms", utc=True), "bar_date": pd.to_datetime(ms, unit="ms").date,
                                 "open": o, "high": h, "low": lo, "close": c, "volume": rng.uniform(1, 10, n)}))
    return pd.concat(out, ignore_index=True)


def _research(root, monkeypatch, runs: list[tuple[str, str]]) -> dict[str, list[tuple]]:
    (root / "data").mkdir(parents=True)
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(root / "data"))
    paths = Paths((root / "data").resolve())
    frame = _features()
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute("create table features as select * from frame")
    for first, last in runs:
        key, tags = partition_tags(date.fromisoformat(first), date.fromisoformat(last))
        assert dg.materialize([strategy_research], partition_key=key, tags=tags, run_config=CONFIG,
                              resources={"warehouse": Warehouse(), "symbol_fanout": SymbolFanout()}).success
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return {t: con.execute(f"select * {skip} from {t} order by all").fetchall()
                for t, skip in (("strategy_designs", ""), ("ranking_history", ""), ("tuning_trials", "exclude (seconds)"))}


def test_a_range_run_equals_the_days_run_one_by_one(tmp_path, monkeypatch):
    one_by_one = _research(tmp_path / "daily", monkeypatch, [(d, d) for d in DAYS])
    ranged = _research(tmp_path / "range", monkeypatch, [DAYS])
    day2 = date.fromisoformat(DAYS[1])
    bred = [r for r in one_by_one["strategy_designs"] if r[6] == day2 and r[2] in ("mutation", "crossover")]
    assert bred, "day 2 bred nothing from day 1's ranking: the comparison would not see the order"
    for table in one_by_one:
        assert ranged[table] == one_by_one[table], table
