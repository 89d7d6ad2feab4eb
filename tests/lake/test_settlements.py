"""One lake row per funding settlement: the same settlement stamped a few ms apart by two sources (BloFin's history
at 08:00:00.000, freqtrade's funding files at 08:00:00.007) is a duplicate or a conflict, never a second row that
the backtests would charge again (stg_funding_rates puts both on the same second)."""

from __future__ import annotations

import pandas as pd

from python_assets.config import Paths
from python_assets.lake.settlements import on_stored_stamps
from python_assets.lake.store import funding_partition, read_partition, FUNDING_SCHEMA, write_funding

H8 = 1_637_395_200_000  # 2021-11-20 08:00 UTC


def funding(rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame({"funding_ts": [t for t, _ in rows], "funding_rate": [r for _, r in rows]})


def stored(paths: Paths) -> list[tuple[int, float]]:
    frame = read_partition(funding_partition(paths, "XRP-USDT", pd.Timestamp(H8, unit="ms").date()), FUNDING_SCHEMA)
    return list(zip(frame["funding_ts"].tolist(), frame["funding_rate"].tolist()))


def test_a_stamp_takes_the_stamp_its_second_already_has():
    fresh = funding([(H8 + 7, 1e-4), (H8 + 8 * 3_600_000, 2e-4), (H8 + 8 * 3_600_000 + 5, 2e-4), (H8 + 1_000, 3e-4)])
    got = on_stored_stamps(fresh, funding([(H8, 1e-4)]))
    assert got["funding_ts"].tolist() == [H8, H8 + 8 * 3_600_000, H8 + 8 * 3_600_000, H8 + 1_000]  # 1 s later: its own
    assert got["funding_rate"].tolist() == fresh["funding_rate"].tolist() and got.index.equals(fresh.index)


def test_a_second_source_of_a_settlement_is_a_duplicate_or_a_conflict_not_a_second_row(data_dir: Paths):
    assert write_funding(data_dir, "XRP-USDT", funding([(H8, 1e-4)])).added == 1  # BloFin's stamp
    same = write_funding(data_dir, "XRP-USDT", funding([(H8 + 7, 1e-4)]))  # freqtrade's stamp, the same rate
    assert (same.offered, same.added, same.duplicates, same.conflicts) == (1, 0, 1, ())
    other = write_funding(data_dir, "XRP-USDT", funding([(H8 + 7, 5e-4)]))  # another rate: the stored one kept
    assert (other.added, other.conflicts) == (0, (H8 + 7,))  # named as the writer stamped it
    twice = write_funding(data_dir, "XRP-USDT", funding([(H8 + 3_600_000 + 3, 2e-4), (H8 + 3_600_000 + 9, 2e-4)]))
    assert (twice.offered, twice.added, twice.duplicates) == (2, 1, 1)
    assert stored(data_dir) == [(H8, 1e-4), (H8 + 3_600_000 + 3, 2e-4)]


def test_stamps_round_to_the_nearest_second_and_conflicts_name_the_stamps_as_given(data_dir: Paths):
    """A clock a few ms early (07:59:59.998) is the 08:00 settlement too; a conflict is named by the writer's own
    stamp (it named the stored one: the recorder looked that up in its batch and failed); two rates for one
    settlement in one write are a conflict, not a duplicate dropped without a word."""
    assert write_funding(data_dir, "XRP-USDT", funding([(H8, 1e-4)])).added == 1
    early = write_funding(data_dir, "XRP-USDT", funding([(H8 - 2, 1e-4), (H8 - 2 + 8 * 3_600_000, 2e-4),
                                                         (H8 + 8 * 3_600_000 + 3, 9e-4)]))
    assert (early.offered, early.added, early.duplicates, early.conflicts) == (3, 1, 1, (H8 + 8 * 3_600_000 + 3,))
    other = write_funding(data_dir, "XRP-USDT", funding([(H8 + 9, 5e-4)]))
    assert other.conflicts == (H8 + 9,)
    assert stored(data_dir) == [(H8, 1e-4), (H8 - 2 + 8 * 3_600_000, 2e-4)]


def test_a_settlement_at_midnight_finds_its_stamp_in_the_other_days_file(data_dir: Paths):
    midnight = H8 + 16 * 3_600_000  # 2021-11-21 00:00 UTC
    assert write_funding(data_dir, "XRP-USDT", funding([(midnight, 1e-4)])).added == 1
    late = write_funding(data_dir, "XRP-USDT", funding([(midnight - 3, 1e-4)]))  # 23:59:59.997, the day before
    assert (late.added, late.duplicates) == (0, 1)
