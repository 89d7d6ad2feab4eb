"""Every DuckDB connection the code opens runs in UTC whatever the machine's time zone: DuckDB takes the
process's TZ otherwise, and the report formatted its timestamptz columns in it while labelling them Z
(a 23:55Z bar read 19:55Z under America/New_York, and Asia/Kolkata moved it to the next day)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
from python_assets.warehouse.connection import connect_utc, connect_warehouse
with connect_warehouse(sys.argv[1]) as con:
    at = con.execute("select strftime(to_timestamp(1741651200 - 300), '%Y-%m-%dT%H:%M:%SZ')").fetchone()[0]
    day = con.execute("select cast(to_timestamp(1741651200 - 300) as date)").fetchone()[0]
with connect_utc() as scratch:
    hour = scratch.execute("select hour(to_timestamp(0))").fetchone()[0]
print(at, day, hour)
"""


def test_connections_are_utc_under_any_process_time_zone(tmp_path):
    for tz in ("America/New_York", "Asia/Kolkata"):
        out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / f"w-{tz.replace('/', '-')}.duckdb")],
                             env={**os.environ, "TZ": tz}, capture_output=True, text=True, check=True).stdout
        assert out.split() == ["2025-03-10T23:55:00Z", "2025-03-10", "0"], (tz, out)
