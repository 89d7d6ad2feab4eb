"""The feature registry: every feature column's group, warm-up, TA-Lib reference and scale, read from dbt's manifest."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

# meta scale: the units of a feature that has some; none (no mark) is scale-free: a return, ratio, z-score, oscillator
SCALES = ("price", "price_change", "volume")


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
    # "price": a level in the instrument's price units (a moving average, a band); "price_change": a difference of
    # prices (ATR, MACD); "volume": in volume units (OBV); None: scale-free
    scale: str | None = None
    # the column's dbt data_type where the yml gives one (varchar: the regime labels); unset: a number
    data_type: str | None = None
    # the values its accepted_values test allows (a text column's labels), None without such a test
    values: tuple[str, ...] | None = None

    @property
    def is_text(self) -> bool:
        """A text column (regime labels): a strategy condition may only compare it with text."""
        return (self.data_type or "").lower() in ("varchar", "text", "string")

    @property
    def is_scale_free(self) -> bool:
        """No units: the same value for a market quoted at 1 or at 20,000 (what models pooling symbols may read)."""
        return self.scale is None

    def as_dict(self) -> dict:
        return asdict(self)


def accepted_values(manifest: dict) -> dict[tuple[str, str], tuple[str, ...]]:
    """{(model, column): values} of the manifest's accepted_values tests: the labels a text column can hold."""
    out = {}
    for node in manifest["nodes"].values():
        test = node.get("test_metadata") or {}
        if node.get("resource_type") == "test" and test.get("name") == "accepted_values" and node.get("attached_node"):
            kwargs = test.get("kwargs") or {}
            model = node["attached_node"].rsplit(".", 1)[-1]
            out[(model, kwargs.get("column_name") or node.get("column_name"))] = tuple(map(str, kwargs.get("values") or ()))
    return out


def load_registry(manifest_path: Path) -> list[Feature]:
    """Features in model then column order, from a parsed dbt manifest.json."""
    manifest = json.loads(Path(manifest_path).read_text())
    allowed = accepted_values(manifest)
    out = []
    for node in manifest["nodes"].values():
        if node.get("resource_type") != "model" or not node["name"].startswith("feat_"):
            continue
        for col in node["columns"].values():
            meta = col.get("meta") or col.get("config", {}).get("meta") or {}
            if meta.get("feature"):
                if meta.get("scale") not in (None, *SCALES):
                    raise ValueError(f"feature {col['name']} of {node['name']}: meta scale {meta['scale']!r} is not one of "
                                     f"{', '.join(SCALES)} (leave it out for a scale-free feature)")
                out.append(Feature(col["name"], node["name"], meta["group"], int(meta["warmup_bars"]),
                                   meta.get("talib"), col.get("description", ""), meta.get("higher_timeframe"),
                                   meta.get("scale"), col.get("data_type"), allowed.get((node["name"], col["name"]))))
    order = {m: i for i, m in enumerate(["feat_price", "feat_volume", "feat_volatility", "feat_technical", "feat_recursive", "feat_regime", "feat_htf_context"])}
    return sorted(out, key=lambda f: order.get(f.model, 99))
