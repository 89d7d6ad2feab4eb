"""Regenerate docs/img/backtest.png: the demo's synthetic BTC-USDT ticks (same generator and seed as
`blofin-stack demo`) as 1h candles, `blofin-stack backtest --strategy sma_cross` on them, and a headless
Chromium screenshot of the chart it writes.

    .venv/bin/python docs/img/backtest_png.py     # needs chromium on PATH
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from PIL import Image

from python_assets.ingest.synthetic import DEFAULT_SEED, generate_ticks

OUT = Path(__file__).resolve().parent / "backtest.png"
FIRST_DAY, DAYS = date(2025, 3, 1), 14


def hourly_candles(symbol: str) -> pd.DataFrame:
    """The demo's ticks of DAYS days as 1h OHLCV bars."""
    ticks = pd.concat([generate_ticks(symbol, FIRST_DAY + timedelta(days=i), DEFAULT_SEED) for i in range(DAYS)])
    ticks["date"] = pd.to_datetime(ticks["ts"], unit="ms", utc=True).dt.floor("1h")
    bars = ticks.groupby("date").agg(open=("price", "first"), high=("price", "max"), low=("price", "min"),
                                      close=("price", "last"), volume=("size", "sum"))
    return bars.reset_index()


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("error: chromium is not on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "BTC-USDT-1h.csv"
        hourly_candles("BTC-USDT").to_csv(csv, index=False)
        env = {**os.environ, "BLOFIN_DATA_DIR": str(Path(tmp) / "data")}
        run = subprocess.run([sys.executable, "-m", "blofin_cli", "backtest", "--strategy", "sma_cross",
                              "--data", str(csv), "--symbol", "BTC-USDT", "--trades", "8"],
                             env=env, capture_output=True, text=True, check=True)
        print(run.stdout)
        html = Path(re.search(r"^chart:\s+(\S+)$", run.stdout, re.M)[1])
        shot = Path(tmp) / "shot.png"
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1200,760", "--virtual-time-budget=20000", f"--user-data-dir={tmp}/profile",
                        f"--screenshot={shot}", html.as_uri()], check=True, capture_output=True, timeout=120)
        Image.open(shot).convert("RGB").quantize(colors=64).save(OUT, optimize=True)
    print(f"{OUT}: {OUT.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
