"""Disk per symbol-day of the WebSocket recorder, measured on the fake BloFin at realistic rates.

Records `seconds` (default 60) of two symbols (8 trades/s each, a books update every 100 ms, 20 levels
sampled every second, mark price polled every 5 s), merges the open hour into the day files, then for each
dataset extrapolates: bytes per row (file size less an empty file's size, over its rows) x rows per
second per symbol x 86,400 for the datasets that grow with time (trades, books, mark_prices). Linear in
rows, so it slightly overstates big files (Parquet compresses a day's file at least as well as a
minute's). Segments, gaps and funding grow per event (a connection, a hole, a settlement), not per
second: their day files stay a few KB.

Run: `.venv/bin/python tests/exchange/measure_recorder_disk.py [seconds]`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[2])]
from fake_blofin_ws import FakeBlofinLive  # noqa: E402

from python_assets.config import Paths  # noqa: E402
from python_assets.exchange.ws_recorder import Recorder, RecorderSettings  # noqa: E402


def main(seconds: float) -> None:
    d = Path(tempfile.mkdtemp())
    with FakeBlofinLive(trades_per_s=8.0, book_ms=100, funding_ms=8 * 3_600_000) as fake:
        rec = Recorder(Paths(d), RecorderSettings(symbols=("BTC-USDT", "ETH-USDT"), ws_url=fake.ws_url,
                                                  rest_url=fake.url, duration_s=seconds, status_s=1e9),
                       out=lambda line: None)
        rec.setup()
        asyncio.run(rec.run())
        for r in rec.symbols.values():
            r.merge(r.clock() + 3 * 3_600_000)  # as once the hour is over
    total = 0.0
    for ds in ("trades", "books", "mark_prices"):
        files = list((d / "lake" / ds).rglob("*.parquet"))
        if not files:
            continue
        rows = sum(pq.read_metadata(f).num_rows for f in files)
        schema = pq.read_schema(files[0])
        empty = Path(tempfile.mkdtemp()) / "e.parquet"
        pq.write_table(pa.Table.from_pylist([], schema=schema), empty)
        payload = sum(f.stat().st_size - empty.stat().st_size for f in files)
        per_day = max(payload, 0) / rows * rows / len(rec.symbols) / seconds * 86_400 if rows else 0.0
        total += per_day
        print(f"{ds:<18} {rows:>7} rows {payload / max(rows, 1):6.1f} B/row -> {per_day / 2**20:7.1f} MiB per symbol-day")
    print(f"{'total':<18} {total / 2**20:37.1f} MiB per symbol-day")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
