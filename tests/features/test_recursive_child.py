"""feat_recursive runs its recursions in a child process (in_child): importing the module loads no numba (its
kernel compiles on first use), and the child's columns are the in-process ones bit for bit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from python_assets.features.recursive import recursive_columns
from python_assets.platform.fanout import in_child

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_recursions_loads_no_numba():
    code = "import sys, python_assets.features.recursive; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


def test_the_childs_columns_are_the_in_process_ones_bit_for_bit():
    rng = np.random.default_rng(5)
    n = 5_000
    symbol = np.repeat(np.array([0, 1], dtype=np.int32), n // 2)
    timeframe = np.zeros(n, dtype=np.int32)
    bar_at_ms = np.tile(np.arange(n // 2, dtype=np.int64) * 60_000, 2)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    high, low = close * (1 + rng.uniform(0, 0.003, n)), close * (1 - rng.uniform(0, 0.003, n))
    volume = rng.lognormal(0, 1, n)
    volume[17:40] = 0.0  # flat, empty bars
    high[100:130] = low[100:130] = close[100:130] = close[99]
    arrays = {"symbol": symbol, "timeframe": timeframe, "bar_at_ms": bar_at_ms, "high": high, "low": low,
              "close": close, "volume": volume}
    first = recursive_columns({k: v[:3_000] for k, v in arrays.items()})  # series 1 stops mid-way: carry its state
    carried = {(1, 0): first["resume_state"][-1]}
    rest = {k: v[3_000:] for k, v in arrays.items()}
    here, there = recursive_columns(rest, carried), in_child(recursive_columns, rest, carried)
    assert here.keys() == there.keys()
    for name in here:
        a, b = np.asarray(here[name]), np.asarray(there[name])
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
