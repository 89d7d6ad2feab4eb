"""The strategy catalog in the warehouse: validated specs and their compiled SQL, read by dbt's
backtest_signals model, plus the feature columns specs may name."""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import lru_cache

import duckdb

from python_assets.backtest.expr import Columns
from python_assets.backtest.spec import SpecError, StrategySpec, compile_strategy, instance_id, resolve_params
from python_assets.backtest.spec_files import STRATEGY_DIR, SpecFolder, read_folder
from python_assets.config import DBT_PROJECT_DIR
from python_assets.features.registry import Feature, load_registry

FEATURES_PLACEHOLDER = "__FEATURES__"
SPECS_DDL = """
create table if not exists strategy_specs (
    strategy_id varchar primary key,
    strategy varchar not null,
    strategy_version varchar not null,
    params json not null,
    timeframe varchar not null,
    side varchar not null,
    active boolean not null,
    spec json not null,
    signal_sql varchar not null,
    published_at timestamptz not null
)
"""


@lru_cache(maxsize=1)
def feature_columns() -> Columns:
    """Registered feature names (from dbt's manifest): the columns a spec may name besides OHLCV, with the
    text ones (data_type varchar) marked so that a condition comparing regime with a number is refused, and
    their labels (accepted_values) so that one comparing it with a label it never holds is too."""
    features = load_registry(DBT_PROJECT_DIR / "target" / "manifest.json")
    return Columns((f.name for f in features), text=(f.name for f in features if f.is_text),
                   labels={f.name: f.values for f in features if f.is_text and f.values})


def registered_features() -> list[Feature]:
    """The feature registry (from dbt's manifest) with each feature's meta: the ML set keeps the scale-free ones."""
    return load_registry(DBT_PROJECT_DIR / "target" / "manifest.json")


def price_scale_features() -> frozenset[str]:
    """Features that are price levels (meta scale: price): the backtest chart draws them over the close."""
    return frozenset(f.name for f in load_registry(DBT_PROJECT_DIR / "target" / "manifest.json") if f.scale == "price")


def strategy_folder() -> SpecFolder:
    """The shipped folder validated against the feature registry: its specs and the files left out, each with why."""
    return read_folder(STRATEGY_DIR, feature_columns())


def active_specs() -> dict[str, StrategySpec]:
    """The shipped specs, validated against the feature registry, active ones only (a file that does not
    validate is left out: strategy_folder says which)."""
    return strategy_folder().active


def publish_specs(con: duckdb.DuckDBPyConnection, specs: dict[str, StrategySpec]) -> list[str]:
    """Replace strategy_specs with each spec's default instance; returns the instance ids. Two specs with one
    instance id are refused naming both (the insert failed with a bare duplicate-key error)."""
    rows, owner = [], {}
    for spec in specs.values():
        params = resolve_params(spec, {})
        sid = instance_id(spec, params)
        if sid in owner:
            raise SpecError(f"strategies {owner[sid]!r} and {spec.name!r} both have the instance id {sid!r}: rename one")
        owner[sid] = spec.name
        sql = compile_strategy(spec, params, feature_columns(), FEATURES_PLACEHOLDER)
        rows.append((sid, spec.name, spec.version, json.dumps(params), spec.timeframe,
                     spec.side, spec.active, json.dumps(asdict(spec), default=str), sql))
    con.execute(SPECS_DDL)
    con.execute("begin transaction")
    con.execute("delete from strategy_specs")
    if rows:
        con.executemany("insert into strategy_specs values (?, ?, ?, ?, ?, ?, ?, ?, ?, now())", rows)
    con.execute("commit")
    return [r[0] for r in rows]
