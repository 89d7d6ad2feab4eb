"""The feature registry read from a manifest: a scale mark is one of the known units or absent."""

from __future__ import annotations

import json

import pytest

from python_assets.features.registry import load_registry


def manifest(tmp_path, meta: dict):
    """A manifest with one feat_ model holding one feature column with this meta."""
    column = {"name": "x_1", "description": "", "meta": {"feature": True, "group": "g", "warmup_bars": 0, **meta}}
    node = {"resource_type": "model", "name": "feat_price", "columns": {"x_1": column}}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": {"model.x.feat_price": node}}))
    return path


def test_a_feature_without_a_scale_mark_is_scale_free(tmp_path):
    [feature] = load_registry(manifest(tmp_path, {}))
    assert feature.scale is None and feature.is_scale_free


def test_a_feature_marked_in_volume_units_is_not_scale_free(tmp_path):
    [feature] = load_registry(manifest(tmp_path, {"scale": "volume"}))
    assert not feature.is_scale_free


def test_an_unknown_scale_mark_is_refused_in_one_line(tmp_path):
    """A typo (prices) would otherwise pass as a unit nobody checks, or read as scale-free if tested by value."""
    with pytest.raises(ValueError, match=r"^feature x_1 of feat_price: meta scale 'prices' is not one of price, price_change, volume"):
        load_registry(manifest(tmp_path, {"scale": "prices"}))
