"""Funding settlements in the lake -> stg_funding_rates -> the backtest engine: a settlement is an instant on the
whole second, whatever milliseconds its source stamped on it (freqtrade's 8h funding files: 00:00:00.017,
08:00:00.007, 16:00:00.005 beside others at .000)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from conftest import run_dbt

from python_assets.backtest.engine import Costs, Rules, simulate
from python_assets.backtest.reads import load_funding
from python_assets.config import Paths
from python_assets.lake.store import FUNDING_SCHEMA, funding_partition, write_funding

HOUR = 3_600_000
D0 = 1_637_366_400_000  # 2021-11-20 00:00 UTC
STAMPS = {D0 + 17: 1e-4, D0 + 8 * HOUR + 7: 2e-4, D0 + 16 * HOUR - 2: -3e-4}  # as the sources stamped them


def funding_paid(funding_ms: np.ndarray, funding_rate: np.ndarray) -> float:
    """Funding of a long entered at the 08:00 open and left at the 10:00 open (1h bars, flat price 1): it held
    no settlement (the one at 08:00 came before its fill), so it pays 0."""
    n, bar_ms, px = 12, D0 + np.arange(12) * HOUR, np.ones(12)
    enter, leave = np.zeros(n, bool), np.zeros(n, bool)
    enter[7], leave[9] = True, True  # decided at the closes of 07:00 and 09:00: filled at the next opens
    result = simulate(px, px, px, px, bar_ms, HOUR, {"entry_long": enter, "exit_long": leave}, Rules(), Costs(),
                      funding_ms=funding_ms, funding_rate=funding_rate)
    return float(result.funding.sum())


def test_a_settlement_stamped_a_few_ms_late_is_the_settlement_of_its_second(data_dir: Paths):
    write_funding(data_dir, "XRP-USDT", pd.DataFrame({"funding_ts": list(STAMPS), "funding_rate": list(STAMPS.values())}))
    run_dbt(data_dir, "run", "--quiet", "--select", "stg_funding_rates")
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        con.execute(f"set file_search_path = '{data_dir.data_dir}'")  # the staging view names lake/... paths
        rows = con.execute("select funding_at_ms, stamped_at_ms, epoch_ms(funding_at), funding_rate "
                           "from stg_funding_rates order by funding_at_ms").fetchall()
        funding_ms, funding_rate = load_funding(con, "XRP-USDT")
    assert rows == [(D0, D0 + 17, D0, 1e-4), (D0 + 8 * HOUR, D0 + 8 * HOUR + 7, D0 + 8 * HOUR, 2e-4),
                    (D0 + 16 * HOUR, D0 + 16 * HOUR - 2, D0 + 16 * HOUR, -3e-4)]  # a clock 2 ms early: 16:00 too
    # the engine's rule at a bar open (an entry there does not pay a settlement stamped at it) now holds for the
    # 08:00:00.007 stamp as for an exact one: with the source's milliseconds the entry paid 2e-4 of its size
    assert funding_paid(funding_ms, funding_rate) == 0.0
    assert funding_paid(np.array(list(STAMPS), dtype=np.int64), np.array(list(STAMPS.values()))) != 0.0


def test_a_lake_holding_two_stamps_of_a_settlement_gives_one_row(data_dir: Paths):
    """A lake written before its writers kept one row per settlement second (a freqtrade import beside BloFin's
    history) holds 08:00:00.000 and 08:00:00.007: the backtests charged both; now one settlement, the earliest
    stamp's, and the key test passes."""
    day = pd.Timestamp(D0, unit="ms", tz="UTC").date()
    path = funding_partition(data_dir, "XRP-USDT", day)
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(pd.DataFrame({"funding_ts": [D0 + 8 * HOUR, D0 + 8 * HOUR + 7],
                                                      "funding_rate": [2e-4, 9e-4]}), schema=FUNDING_SCHEMA,
                                        preserve_index=False), path)
    done = run_dbt(data_dir, "build", "--select", "stg_funding_rates")  # its primary_key test included
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        con.execute(f"set file_search_path = '{data_dir.data_dir}'")
        assert con.execute("select funding_at_ms, stamped_at_ms, funding_rate, stamps, rates_differ, funding_date "
                           "from stg_funding_rates").fetchall() == [(D0 + 8 * HOUR, D0 + 8 * HOUR, 2e-4, 2, True, day)]
    # the two rates disagree: a warning check says so (the build still succeeds), the key test passes
    assert "WARN 1 stg_funding_rates_one_rate_per_settlement" in done.stdout
    assert "PASS primary_key_stg_funding_rates" in done.stdout
