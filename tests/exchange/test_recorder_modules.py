"""The recorder's modules keep the project's size rule (no module over ~400 lines), and its pure checks of trade
messages and hole gap rows (rec_checks.py) stay pure: no lake, file, network or I/O-doing module imported."""

from __future__ import annotations

import ast
from pathlib import Path

EXCHANGE = Path(__file__).resolve().parents[2] / "python_assets" / "exchange"
IO_MODULES = ("python_assets.config", "python_assets.lake", "python_assets.ingest", "python_assets.exchange.rec_store",
              "python_assets.exchange.recorder", "pathlib", "os", "ccxt", "pyarrow", "websockets", "aiohttp")
PURE = ("python_assets.lake.trade_rules",)  # what every lake trade satisfies: numpy/pandas only


def test_no_recorder_module_is_over_400_lines() -> None:
    long = {p.name: n for p in sorted(EXCHANGE.glob("*.py")) if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_the_recorder_checks_import_nothing_that_does_io() -> None:
    tree = ast.parse((EXCHANGE / "rec_checks.py").read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert [m for m in names if m.startswith(IO_MODULES) and m not in PURE] == []
