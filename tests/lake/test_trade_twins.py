"""The same trades with and without trade ids: matched within one file as across files, a missing side matching
any side, one to one; the stored row is never replaced, and the count of stored trades does not depend on order."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from python_assets.config import Paths
from python_assets.ingest.trades import ingest_file
from python_assets.lake import trade_twins

T0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
NOW = T0 + 86_400_000
HEAD = "ts,price,size,side,trade_id\n"


def _csv(folder: Path, name: str, text: str) -> Path:
    """A trades file in folder."""
    path = folder / name
    path.write_text(text)
    return path


def _lake(paths: Paths) -> pd.DataFrame:
    """The stored trades of BTC-USDT, id and content, in stored order."""
    files = sorted((paths.trades / "symbol=BTC-USDT").glob("date=*/trades.parquet"))
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return frame[["trade_id", "ts", "price", "size", "side"]]


def _ingest_all(paths: Paths, files: list[Path]) -> list:
    """Each file ingested in turn; every result's counts add up."""
    results = [ingest_file(paths, f, "BTC-USDT", now=NOW) for f in files]
    for r in results:
        assert r.rows_read == r.rows_added + r.duplicates + r.quarantined
    return results


@pytest.mark.parametrize("batching", ["one file", "without the id first", "with the id first"])
def test_a_trade_with_and_without_an_id_in_one_file_is_stored_once_as_in_two_files(data_dir, tmp_path, batching):
    """The review's mixed.csv held one trade once without an id and once with id 11: it stored 2 rows, while the
    same two rows as two files (either order) stored 1; twins were looked for only against stored rows."""
    other = f"{T0},0.1,2,,\n{T0 + 1},0.2,3,buy,8\n"
    without_id, with_id = f"{T0 + 2},0.3,3,sell,\n", f"{T0 + 2},0.3,3,sell,11\n"
    mixed, m_a, m_b = HEAD + other + without_id + with_id, HEAD + other + without_id, HEAD + with_id
    b_first, a_second = HEAD + other + with_id, HEAD + without_id
    files = {
        "one file": [_csv(tmp_path, "mixed.csv", mixed)],
        "without the id first": [_csv(tmp_path, "mA.csv", m_a), _csv(tmp_path, "mB.csv", m_b)],
        "with the id first": [_csv(tmp_path, "mB.csv", b_first), _csv(tmp_path, "mA.csv", a_second)],
    }[batching]
    results = _ingest_all(data_dir, files)
    lake = _lake(data_dir)
    assert len(lake) == 3 and sum(r.rows_added for r in results) == 3 and lake["size"].sum() == 8
    kept = lake.loc[lake["ts"] == T0 + 2, "trade_id"].tolist()  # one write: the exchange id; else the stored row
    assert len(kept) == 1 and kept[0].startswith("h") == (batching == "without the id first")
    if batching == "one file":
        assert (results[0].duplicates, results[0].stored_with_id) == (1, 1)
    again = _ingest_all(data_dir, files)  # a rerun adds nothing and leaves the files as they were
    assert sum(r.rows_added for r in again) == 0 and _lake(data_dir).equals(lake)


@pytest.mark.parametrize("sideless_first", [True, False], ids=["without sides first", "with sides first"])
def test_a_file_without_a_side_column_matches_the_same_trades_with_sides(data_dir, tmp_path, sideless_first):
    """noside.csv (ts, price, size) then mB.csv (the same trade, side sell, id 11) stored 2 rows for one trade:
    the side was part of the content key, so a missing side never matched and that minute's volume doubled."""
    noside = _csv(tmp_path, "noside.csv", f"ts,price,size\n{T0 + 2},0.3,3\n")
    sided = _csv(tmp_path, "mB.csv", f"{HEAD}{T0 + 2},0.3,3,sell,11\n")
    first, second = _ingest_all(data_dir, [noside, sided] if sideless_first else [sided, noside])
    assert (first.rows_added, second.rows_added, second.duplicates) == (1, 0, 1)
    assert len(_lake(data_dir)) == 1


@pytest.mark.parametrize("sideless, sided, stored", [
    (2, ["buy", "sell"], 2), (1, ["buy", "sell"], 2), (3, ["buy", "sell"], 3), (2, ["buy", None], 2),
])
@pytest.mark.parametrize("sideless_first", [True, False], ids=["without sides first", "with sides first"])
def test_sideless_and_sided_rows_match_one_to_one_in_either_order(data_dir, tmp_path, sideless, sided, stored,
                                                                   sideless_first):
    """A missing side matches any side, still up to multiplicity: n trades without sides and m with make max(n, m)
    rows whichever file comes first (no trade counted twice, none lost)."""
    noside = _csv(tmp_path, "noside.csv", "ts,price,size\n" + f"{T0 + 7},5.0,1.5\n" * sideless)
    with_ids = _csv(tmp_path, "ids.csv", HEAD + "".join(f"{T0 + 7},5.0,1.5,{s or ''},{40 + i}\n"
                                                        for i, s in enumerate(sided)))
    _ingest_all(data_dir, [noside, with_ids] if sideless_first else [with_ids, noside])
    assert len(_lake(data_dir)) == stored


def _rows(sides: list[str | None], hashed: bool, first_id: int = 0) -> pd.DataFrame:
    """Trades of one time, price and size with these sides, content-hash ids or exchange ids."""
    ids = [f"h{first_id + i:016x}" if hashed else str(first_id + i) for i in range(len(sides))]
    return pd.DataFrame({"trade_id": ids, "ts": T0, "price": 1.0, "size": 2.0, "side": pd.Series(sides, dtype=object)})


def test_matching_takes_the_most_rows_a_missing_side_allows():
    """A sided row takes an equal side first, so a missing side is left for the row no equal side holds: new buy
    and sell against held sell and a missing side match both (taking the missing side for the sell would not)."""
    assert trade_twins.matched_rows(_rows(["sell", "buy"], True), _rows(["sell", None], False)).tolist() == [True, True]
    assert trade_twins.matched_rows(_rows([None, "buy"], True), _rows(["sell"], False)).tolist() == [True, False]
    assert trade_twins.matched_rows(_rows([None, None], True), _rows(["buy", None], False)).tolist() == [True, True]
    assert trade_twins.matched_rows(_rows(["buy"], True), _rows(["sell"], False)).tolist() == [False]


def test_within_one_write_the_exchange_id_wins_and_a_stored_row_is_never_replaced():
    """One write with a trade both ways keeps the exchange id's row; a stored hash row keeps the trade instead."""
    write = pd.concat([_rows(["sell"], True), _rows(["sell"], False, 11)], ignore_index=True)
    assert trade_twins.twin_rows(write, write.iloc[:0]).tolist() == [True, False]
    assert trade_twins.twin_rows(write.iloc[[1]], _rows(["sell"], True)).tolist() == [True]


def _most_pairs(a: list[str | None], b: list[str | None]) -> int:
    """The most one-to-one pairs of a and b whose sides are equal or one missing (by trying every pairing)."""
    if not a:
        return 0
    rest = [1 + _most_pairs(a[1:], b[:j] + b[j + 1:]) for j, s in enumerate(b) if None in (a[0], s) or a[0] == s]
    return max([_most_pairs(a[1:], b), *rest])


def test_every_mix_of_up_to_two_sides_stores_as_many_rows_in_either_order_or_in_one_write():
    """Content-hash rows and exchange-id rows of one time, price and size, each side buy, sell or missing: two
    writes in either order and the two as one write store the same count, the fewest rows any pairing leaves."""
    mixes = [list(m) for n in range(3) for m in itertools.product(["buy", "sell", None], repeat=n)]
    for hashed_sides, exchange_sides in itertools.product(mixes, mixes):
        hashed, exchange = _rows(hashed_sides, True), _rows(exchange_sides, False, 100)
        one = pd.concat([hashed, exchange], ignore_index=True)
        counts = {len(hashed) + int((~trade_twins.twin_rows(exchange, hashed)).sum()),
                  len(exchange) + int((~trade_twins.twin_rows(hashed, exchange)).sum()),
                  int((~trade_twins.twin_rows(one, one.iloc[:0])).sum())}
        assert counts == {len(one) - _most_pairs(hashed_sides, exchange_sides)}, (hashed_sides, exchange_sides)
