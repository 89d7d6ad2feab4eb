"""dbt docs are complete: every model and seed and every column of each has a description."""

from __future__ import annotations

import json

from python_assets.config import DBT_PROJECT_DIR


def test_every_model_and_column_has_a_description():
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    missing = []
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "seed"):
            continue
        if not node.get("description", "").strip():
            missing.append(node["name"])
        missing += [f"{node['name']}.{c}" for c, col in node["columns"].items() if not col.get("description", "").strip()]
    assert missing == []
