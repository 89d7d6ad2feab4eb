"""insert_rows writes what executemany wrote, row for row and bit for bit, in one statement."""

from __future__ import annotations

import json
import math
from datetime import date

import duckdb
import numpy as np

from python_assets.warehouse.connection import insert_rows

TABLE = ("create table t (d date, name varchar, n integer, big bigint, x double, y double, flag boolean, "
         "params json, never double)")
ROWS = [
    [date(2025, 3, 10), "a", 1, 2**40, 0.1, 1, True, json.dumps({"k": 1}), None],
    [date(2025, 3, 11), None, 7, None, math.nan, 2.5, None, json.dumps([1, 2]), None],
    [date(2025, 3, 12), "c", None, -3, -0.0, None, False, None, None],
    [date(2025, 3, 13), "d", 4, 5, 1e-300, 0.1, True, "{}", None],
]


def written(fill) -> list[tuple]:
    with duckdb.connect() as con:
        con.execute(TABLE)
        fill(con)
        return con.execute("select *, x::varchar, y::varchar from t order by d").fetchall()


def test_rows_land_as_executemany_lands_them_nulls_nans_and_mixed_numbers_included():
    want = written(lambda con: con.executemany(f"insert into t values ({', '.join('?' * 9)})", ROWS))
    got = written(lambda con: insert_rows(con, "t", ROWS))
    assert repr(got) == repr(want)  # repr: NaN and -0.0 compare as written, not as ==
    assert got[1][4] != got[1][4] and str(got[2][4]) == "-0.0" and got[0][5] == 1.0 and got[1][3] is None


def test_numpy_scalars_land_as_their_python_values():
    """What the callers' arrays hand over (executemany cannot bind a NumPy integer at all)."""
    as_numpy = [[r[0], r[1], None if r[2] is None else np.int64(r[2]), r[3], np.float64(r[4]), r[5], *r[6:]] for r in ROWS]
    assert repr(written(lambda con: insert_rows(con, "t", as_numpy))) == repr(written(lambda con: insert_rows(con, "t", ROWS)))


def test_named_columns_and_no_rows():
    with duckdb.connect() as con:
        con.execute(TABLE)
        insert_rows(con, "t", [])
        insert_rows(con, "t", [["z", date(2025, 1, 1)]], ["name", "d"])
        assert con.execute("select d, name, n from t").fetchall() == [(date(2025, 1, 1), "z", None)]
        assert "_insert_rows" not in {r[0] for r in con.execute("select table_name from duckdb_tables() "
                                                                  "union all select view_name from duckdb_views()").fetchall()}
