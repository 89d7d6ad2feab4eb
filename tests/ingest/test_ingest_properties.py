"""Property tests over ingestion: random mixes of good and malformed rows never crash it, every good row
is stored exactly, every bad row is quarantined with a reason, and ingesting again adds nothing.
BLOFIN_HYPOTHESIS_EXAMPLES raises the example count, up to INGEST_EXAMPLES_MAX: each example writes a lake
and ingests twice (~0.17 s quiet, ~0.6 s on a loaded 2-core machine), so `make soak`'s 10,000 would take
30-100 min of one test under its 30-minute limit; it runs 2,000 here (~6 min quiet)."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from python_assets.config import Paths
from python_assets.ingest.trades import IngestError, ingest_file

INGEST_EXAMPLES_MAX = 2_000
EXAMPLES = min(int(os.environ.get("BLOFIN_HYPOTHESIS_EXAMPLES", "40")), INGEST_EXAMPLES_MAX)
NOW = 1_750_000_000_000
T_MIN, T_MAX = 1_600_000_000_000, 1_740_000_000_000
REASONS = {"missing_time", "unparsable_time", "time_in_future", "time_before_2009", "missing_price", "non_numeric_price",
           "non_finite_price", "non_positive_price", "missing_size", "non_numeric_size", "non_finite_size",
           "non_positive_size", "invalid_side", "malformed_row", "conflicting_trade_id", "conflicting_trade_id_in_file",
           "price_out_of_range",
           "size_out_of_range", "notional_out_of_range", "unbalanced_quote", "field_too_large", "size_below_resolution",
           "notional_below_resolution"}


@dataclass(frozen=True)
class Cell:
    text: str
    value: object  # the parsed value when valid, None when this cell makes the row bad


def _ts_cells() -> st.SearchStrategy[Cell]:
    ms = st.integers(T_MIN, T_MAX)
    good = st.one_of(
        ms.map(lambda v: Cell(str(v), v)),
        ms.map(lambda v: Cell(str(v // 1000), v // 1000 * 1000)),  # epoch seconds
        ms.map(lambda v: Cell(pd.Timestamp(v, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ"), v)),
        ms.map(lambda v: Cell(f"{v / 1000:.3f}", v)),  # fractional seconds
    )
    bad = st.sampled_from([Cell("", None), Cell("yesterday", None), Cell("nan", None), Cell("1e400", None),
                           Cell(str(NOW + 86_400_000), None), Cell("-5", None), Cell("12", None)])
    return st.one_of(good, good, bad)


def _positive_cells(top: float) -> st.SearchStrategy[Cell]:
    """Good values from 1e-6 up to top (prices to 1e9 times sizes to 1e6 stay within the 1e15 notional bound,
    and from 1e-6 times 1e-6 above the warehouse's 1e-12 resolution)."""
    good = st.floats(1e-6, top, allow_nan=False).map(lambda v: Cell(repr(v), v))
    bad = st.sampled_from([Cell("", None), Cell("abc", None), Cell("0", None), Cell("-1.5", None), Cell("inf", None),
                           Cell("nan", None), Cell("1e999", None), Cell("1e20", None)])
    return st.one_of(good, good, bad)


def _held(value: float) -> bool:
    """Whether the bars' DECIMAL(38, 12) holds value within 1e-10 of it (exact decimal arithmetic): a
    size or notional it would round further, 6.103515625e-05 say, is quarantined (below_resolution)."""
    exact = Decimal(value)
    return abs(exact.quantize(Decimal("1e-12")) - exact) <= Decimal("1e-10") * abs(exact)


SIDES = st.sampled_from([Cell("buy", "buy"), Cell("SELL", "sell"), Cell("b", "buy"), Cell("", ""), Cell("hold", None)])


@st.composite
def trade_files(draw) -> tuple[list[list[str]], list[dict | None]]:
    """CSV body rows (unique trade ids) and, per row, the stored trade it must become or None when bad."""
    n = draw(st.integers(0, 40))
    rows, expect = [], []
    for i in range(n):
        ts, price, size, side = draw(_ts_cells()), draw(_positive_cells(1e9)), draw(_positive_cells(1e6)), draw(SIDES)
        fields = [f"id{i}", ts.text, price.text, size.text, side.text]
        if draw(st.integers(0, 19)) == 0:  # a row with a missing or an extra field
            fields = fields[:-1] if draw(st.booleans()) else fields + ["extra"]
            rows.append(fields)
            expect.append(None)
            continue
        ok = all(c.value is not None for c in (ts, price, size, side)) and _held(size.value) and _held(price.value * size.value)
        rows.append(fields)
        expect.append({"trade_id": f"id{i}", "ts": ts.value, "price": price.value, "size": size.value,
                       "side": side.value or None} if ok else None)
    order = draw(st.permutations(range(n)))  # out of time order on purpose
    rows, expect = [rows[k] for k in order], [expect[k] for k in order]
    good = [i for i, e in enumerate(expect) if e is not None]
    for i in draw(st.lists(st.sampled_from(good), max_size=3)) if good else []:
        rows.append(list(rows[i]))  # an exact repeat of a good row: a duplicate, neither stored twice nor quarantined
        expect.append("duplicate")
    return rows, expect


def _write(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["trade_id", "timestamp", "price", "amount", "side"])
        w.writerows(rows)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_files())
def test_ingestion_keeps_good_rows_exactly_and_quarantines_every_bad_one(case):
    rows, expect = case
    with tempfile.TemporaryDirectory() as tmp:
        paths = Paths(Path(tmp) / "data")
        path = Path(tmp) / "trades.csv"
        _write(path, rows)
        result = ingest_file(paths, path, "BTC-USDT", now=NOW)
        good = [e for e in expect if isinstance(e, dict)]
        repeats = expect.count("duplicate")
        assert result.rows_read == len(rows)
        assert result.rows_added == len(good)
        assert result.duplicates == repeats
        assert result.quarantined == len(rows) - len(good) - repeats
        assert set(result.reasons) <= REASONS
        if good:
            stored = duckdb.sql(f"select trade_id, ts, price, size, side from read_parquet('{paths.trades}/*/*/*.parquet') "
                                "order by trade_id").df()
            want = pd.DataFrame(good).sort_values("trade_id").reset_index(drop=True)
            assert stored["trade_id"].tolist() == want["trade_id"].tolist()
            assert stored["ts"].tolist() == want["ts"].tolist()
            assert stored["price"].tolist() == want["price"].tolist() and stored["size"].tolist() == want["size"].tolist()
            assert stored["side"].tolist() == want["side"].tolist()
        if result.quarantined:
            q = duckdb.sql(f"select source_row, reason from read_parquet('{paths.quarantine}/*/*.parquet')").df()
            bad_lines = {i + 2 for i, e in enumerate(expect) if e is None}  # +1 header, +1 one-based
            assert set(q["source_row"]) == bad_lines and q["reason"].notna().all()
        again = ingest_file(paths, path, "BTC-USDT", now=NOW)
        assert again.rows_added == 0 and again.quarantined == result.quarantined


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([".csv", ".jsonl", ".parquet", ".json", ".feather"]))
def test_arbitrary_bytes_give_a_result_or_a_clear_error(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"junk{suffix}"
        path.write_bytes(data)
        try:
            r = ingest_file(Paths(Path(tmp) / "data"), path, "ETH-USDT", now=NOW)
        except IngestError as exc:
            assert str(exc)
        else:
            assert r.rows_read == r.rows_added + r.quarantined + r.duplicates


def test_a_thousand_row_file_of_mixed_faults(data_dir, tmp_path):
    """Fixed regression case: 1,000 rows, every fault kind, duplicates and conflicts, out of order."""
    rows = []
    for i in range(1000):
        ts = T_MIN + (997 * i % 1000) * 1000
        row = [f"t{i}", str(ts), f"{100 + i % 7}.5", f"{1 + i % 3}", "buy" if i % 2 else "sell"]
        fault = i % 10
        if fault == 1:
            row[1] = "not-a-time"
        elif fault == 2:
            row[2] = "-3"
        elif fault == 3:
            row[3] = ""
        elif fault == 4:
            row[4] = "long"
        elif fault == 5:
            row = row[:3]
        elif fault == 6:
            row[1] = str(NOW + 10 ** 9)
        elif fault == 7:
            row[0] = f"t{i - 7}"  # the id of the clean row i - 7, with another time and price: both quarantined
        rows.append(row)
    rows += [rows[0], rows[8]]  # exact duplicates of clean rows
    path = tmp_path / "mixed.csv"
    _write(path, rows)
    r = ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    assert r.rows_read == 1002
    # t0's three rows (clean, conflicting, repeated) and the other 99 conflicting pairs: 201 rows
    assert r.reasons == {"unparsable_time": 100, "non_positive_price": 100, "missing_size": 100, "invalid_side": 100,
                         "malformed_row": 100, "time_in_future": 100, "conflicting_trade_id_in_file": 201}
    assert r.rows_added == 1002 - sum(r.reasons.values()) - 1 == 200
    assert r.duplicates == 1
    again = ingest_file(data_dir, path, "BTC-USDT", now=NOW)
    assert again.rows_added == 0
