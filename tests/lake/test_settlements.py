"""One lake row per funding settlement: the same settlement stamped a few ms apart by two sources (BloFin's history
at 08:00:00.000, freqtrade's funding files at 08:00:00.007) is a duplicate or a conflict, never a second row that
the backtests would charge again (stg_funding_rates puts both on the same second)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from python_assets.config import Paths
from python_assets.lake.settlements import on_stored_stamps, replaces
from python_assets.lake.store import funding_partition, read_partition, FUNDING_SCHEMA, write_funding

H8 = 1_637_395_200_000  # 2021-11-20 08:00 UTC
NAN = float("nan")


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


@pytest.mark.parametrize("stored_rate, rate, unknown_only, takes_place", [
    (NAN, 2e-4, True, True),  # a known rate over an unknown one: the write_funding rule
    (None, 2e-4, True, True),  # a NULL is unknown too
    (1e-4, 2e-4, True, False),  # another known rate: a conflict, the stored one stays
    (1e-4, 1e-4, True, False),  # the same rate: a duplicate
    (1e-4, NAN, True, False),  # an unknown rate never replaces
    (NAN, NAN, True, False),
    (1e-4, 2e-4, False, True),  # the exchange's settled rate (replace_funding) over the stream's announcement
    (1e-4, 1e-4, False, False),
    (1e-4, NAN, False, False),  # not even a settled one: replace_funding said 'replaced' and kept the stored rate
])
def test_a_rate_replaces_the_stored_one_only_when_it_is_known(stored_rate, rate, unknown_only, takes_place):
    assert bool(replaces(stored_rate, rate, unknown_only)) is takes_place
    column = replaces(pd.Series([stored_rate], dtype="float64"), pd.Series([rate]), unknown_only)  # write_funding's
    assert column.tolist() == [takes_place]


def test_a_stored_unknown_rate_takes_the_known_rate_and_a_known_rate_stays(data_dir: Paths):
    """An older lake (an older recorder stored the stream's NaN) holds unknown rates: a known rate for their
    settlement was a conflict and the NaN stayed (stg_funding_rates and the backtests saw no rate). It takes the
    unknown one's place under the stored stamp, across midnight too; a stored known rate stays, against another known
    rate (a conflict) or an unknown one."""
    midnight = H8 + 16 * 3_600_000
    old = pa.table({"funding_ts": [H8, H8 + 3_600_000, H8 + 8 * 3_600_000, midnight - 2],
                    "funding_rate": pa.array([NAN, 1e-4, None, NAN], pa.float64(), from_pandas=False)})
    target = funding_partition(data_dir, "XRP-USDT", pd.Timestamp(H8, unit="ms").date())
    target.parent.mkdir(parents=True)
    pq.write_table(old, target)  # a real NaN, a NULL and another NaN, as older writers left them
    got = write_funding(data_dir, "XRP-USDT", funding([(H8 + 7, 2e-4), (H8 + 3_600_000, 5e-4),
                                                       (H8 + 8 * 3_600_000, 3e-4), (midnight, 4e-4),
                                                       (H8 + 3 * 3_600_000, 6e-4)]))
    want = [(H8, 2e-4), (H8 + 3_600_000, 1e-4), (H8 + 3 * 3_600_000, 6e-4), (H8 + 8 * 3_600_000, 3e-4),
            (midnight - 2, 4e-4)]
    assert stored(data_dir) == want  # under the stored stamps
    assert (got.offered, got.added, got.duplicates) == (5, 1, 0)
    assert (got.replaced, got.conflicts) == ((H8 + 7, H8 + 8 * 3_600_000, midnight), (H8 + 3_600_000,))  # as given
    assert not funding_partition(data_dir, "XRP-USDT", pd.Timestamp(midnight, unit="ms").date()).exists()
    again = write_funding(data_dir, "XRP-USDT", funding([(H8, 9e-4), (H8 + 8 * 3_600_000, NAN), (midnight - 2, 4e-4)]))
    assert (again.added, again.duplicates, again.replaced, again.conflicts) == (0, 1, (), (H8, H8 + 8 * 3_600_000))
    assert stored(data_dir) == want


def test_a_known_rate_wins_over_an_unknown_one_given_beside_it_in_one_write(data_dir: Paths):
    """A review's repro: stored NaN at 08:00, then one write of 08:00:00.003 NaN and 08:00:00.005 2e-4: both were
    counted duplicates and the NaN stayed (the merge keeps a settlement's first row; the clash check skipped the
    NaN). The known rate is the settlement's row, whatever the order: it replaces the stored NaN, or is stored."""
    target = funding_partition(data_dir, "XRP-USDT", pd.Timestamp(H8, unit="ms").date())
    target.parent.mkdir(parents=True)
    pq.write_table(pa.table({"funding_ts": [H8], "funding_rate": pa.array([NAN], pa.float64())}), target)
    got = write_funding(data_dir, "XRP-USDT", funding([(H8 + 3, NAN), (H8 + 5, 2e-4)]))
    assert (got.added, got.duplicates, got.replaced, got.conflicts) == (0, 0, (H8 + 5,), (H8 + 3,))  # NaN: as stored
    fresh = write_funding(data_dir, "XRP-USDT", funding([(H8 + 3_600_000, NAN), (H8 + 3_600_004, 3e-4)]))
    assert (fresh.added, fresh.replaced, fresh.conflicts) == (1, (), (H8 + 3_600_000,))
    assert stored(data_dir) == [(H8, 2e-4), (H8 + 3_600_004, 3e-4)]
