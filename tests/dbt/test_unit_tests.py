"""dbt's unit tests (hand-built rows in the models' ymls) on their own: the models they cover and those
models' parents are built empty (`--empty`: schemas only, no data needed), then every unit test passes."""

from __future__ import annotations

import json
import re

from conftest import run_dbt

from python_assets.config import DBT_PROJECT_DIR, Paths


def test_every_dbt_unit_test_passes(data_dir: Paths):
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    unit_tests = [u for u in manifest["unit_tests"].values() if u["package_name"] == "blofin_stack"]
    models = sorted({u["model"] for u in unit_tests})
    assert len(unit_tests) >= 7 and {"bars_1m", "bt_trade_stats"} <= set(models)
    run_dbt(data_dir, "run", "--empty", "--quiet", "--select", *[f"+{m}" for m in models])
    out = re.sub(r"\x1b\[[0-9;]*m", "", run_dbt(data_dir, "test", "--select", "test_type:unit").stdout)
    passed = re.findall(r"\d+ of (\d+) PASS (\S+)", out)
    assert len(passed) == len(unit_tests) == int(passed[0][0]), out[-1500:]
    assert {name for _, name in passed} == {f"{u['model']}::{u['name']}" for u in unit_tests}
