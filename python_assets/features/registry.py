"""The feature registry: every feature column's group, warm-up, TA-Lib reference and scale, read from dbt's manifest."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Feature:
    """One registered feature (a column of a feat_* model whose meta says feature: true)."""

    name: str
    model: str
    group: str
    warmup_bars: int
    talib: str | None
    description: str
    higher_timeframe: str | None = None
    scale: str | None = None  # "price": a level in the instrument's price units (a moving average, a band)

    def as_dict(self) -> dict:
        return asdict(self)


def load_registry(manifest_path: Path) -> list[Feature]:
    """Features in model then column order, from a parsed dbt manifest.json."""
    manifest = json.loads(Path(manifest_path).read_text())
    out = []
    for node in manifest["nodes"].values():
        if node.get("resource_type") != "model" or not node["name"].startswith("feat_"):
            continue
        for col in node["columns"].values():
            meta = col.get("meta") or col.get("config", {}).get("meta") or {}
            if meta.get("feature"):
                out.append(Feature(col["name"], node["name"], meta["group"], int(meta["warmup_bars"]),
                                   meta.get("talib"), col.get("description", ""), meta.get("higher_timeframe"),
                                   meta.get("scale")))
    order = {m: i for i, m in enumerate(["feat_price", "feat_volume", "feat_volatility", "feat_technical", "feat_recursive", "feat_regime", "feat_htf_context"])}
    return sorted(out, key=lambda f: order.get(f.model, 99))
