"""Label models look forward by design, so the dbt graph keeps them apart: only ml_training_set reads them."""

from __future__ import annotations

import json

from python_assets.config import DBT_PROJECT_DIR


def test_only_the_training_set_reads_label_models():
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    labels = {uid for uid, n in manifest["nodes"].items()
              if n["resource_type"] == "model" and n["config"].get("meta", {}).get("label_model")}
    assert labels, "no model is marked meta.label_model"
    readers = {manifest["nodes"][c]["name"] for uid in labels for c in manifest["child_map"][uid]
               if manifest["nodes"].get(c, {}).get("resource_type") == "model"}
    assert readers == {"ml_training_set"}
    # and no feature model depends on a label model, even indirectly
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] == "model" and node["fqn"][1] == "features":
            stack, seen = list(node["depends_on"]["nodes"]), set()
            while stack:
                up = stack.pop()
                assert up not in labels, f"{node['name']} depends on a label model"
                if up not in seen and up in manifest["nodes"]:
                    seen.add(up)
                    stack += manifest["nodes"][up]["depends_on"].get("nodes", [])  # a seed depends on no node
