"""A stored design's strategy, for research, the portfolio and the fill stress. A catalog design is a shipped
spec (strategies/*.yaml) known by its name and its content: the design stores the hash of the spec it was
designed from, an edited spec is a new design (`c_<name>@<hash>`), and a design whose file is gone, changed
or no longer compiles with its tuned parameters is left out with a reason (DesignUnavailable) instead of
taking the day's step down or evaluating another strategy under its id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, fields, is_dataclass
from typing import Any

from python_assets.backtest.expr import names_in, parse
from python_assets.backtest.spec import OHLCV, SpecError, StrategySpec, spec_from_dict
from python_assets.backtest.spec_files import STRATEGY_DIR, catalog_spec, load_specs, read_folder

class DesignUnavailable(Exception):
    """A stored design whose strategy cannot be evaluated any more; the message says why, in one line."""


def content_version(spec: StrategySpec) -> str:
    """Hash of what a spec trades (every field but its name, description and `active`): an edit of the prose
    keeps the design, an edit of a condition, parameter range, side, sizing or exit makes a new one. Only
    what is set counts (fields at their default, None and empty are left out), so a field the code adds
    later with a default does not change the hash of every unchanged spec and re-tune it as a new design."""
    body = {k: v for k, v in _set_fields(spec).items() if k not in ("name", "description", "active")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _set_fields(value: Any) -> Any:
    """A dataclass or mapping as plain data without the fields at their default and the None or empty values."""
    if is_dataclass(value):
        pairs = {f.name: getattr(value, f.name) for f in fields(value)
                 if f.default is MISSING or getattr(value, f.name) != f.default}
        value = pairs
    if isinstance(value, dict):
        kept = {k: _set_fields(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {} and v != [] and v != ()}
    if isinstance(value, (list, tuple)):
        return [_set_fields(v) for v in value]
    return value


def spec_uses(spec: StrategySpec, columns: frozenset[str]) -> bool:
    """Whether a catalog spec's conditions only name columns the market has."""
    names = set().union(*(names_in(parse(t)) for t in spec.conditions.values() if t))
    return names - set(spec.params) <= (columns | OHLCV)


def catalog_rows(designs: dict[str, dict[str, Any]], timeframe: str, columns: frozenset[str],
                 sides: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The catalog designs to add on a day (designs: those of the days before, by id): each spec of the
    timeframe whose columns the market has and whose side it trades, once per content. `c_<name>` is the
    name's first content (and any spec stored before contents were: taken as the file is);
    a spec edited since is `c_<name>@<hash>`, a design of its own."""
    out = {}
    for name, spec in load_specs(STRATEGY_DIR, columns).items():  # active, compiled on the market: as published
        if spec.timeframe != timeframe or not spec_uses(spec, columns) or spec.side not in (*sides, "both"):
            continue
        version = content_version(spec)
        did, key = f"c_{name}", f"catalog:{name}"
        first = designs.get(did)
        if first is not None and first["spec"].get("version", version) != version:
            did, key = f"{did}@{version[:8]}", f"{key}@{version[:8]}"
        if did not in designs:
            out[did] = {"key": key, "origin": "catalog", "parents": [], "spec": {"catalog": name, "version": version}}
    return out


def design_strategy(key: str, origin: str, spec: dict[str, Any], timeframe: str | None = None) -> StrategySpec:
    """The strategy a stored design runs: its stored spec, or for a catalog design the file of its name
    with the content it was designed from; DesignUnavailable when that is gone, changed or invalid, or when
    it was tuned on another timeframe than `timeframe` (the market it would run on): its parameters were
    tuned on those bars (1h designs run on 15m bars turned a Sharpe of +28 into -17)."""
    found = _stored_strategy(key, origin, spec)
    if timeframe is not None and found.timeframe != timeframe:
        raise DesignUnavailable(f"tuned on {found.timeframe} bars, not on the market's {timeframe}")
    return found


def _stored_strategy(key: str, origin: str, spec: dict[str, Any]) -> StrategySpec:
    """design_strategy without the timeframe check."""
    if origin != "catalog":
        try:
            return spec_from_dict(spec)
        except SpecError as exc:
            raise DesignUnavailable(f"its stored spec no longer validates: {exc}") from None
    name = spec.get("catalog") or key.split(":", 1)[1]
    try:
        found = catalog_spec(name, STRATEGY_DIR)
    except KeyError:
        raise DesignUnavailable(_missing(name)) from None
    if not found.active:
        raise DesignUnavailable(f"{name!r} is set active: false (its file keeps it out of research and the portfolio)")
    version = content_version(found)
    if spec.get("version", version) != version:
        raise DesignUnavailable(f"spec changed: {name!r} is not the content this design was tuned on "
                                f"({spec['version']}, now {version}); the edited spec is tuned as a design of its own")
    return found


def _missing(name: str) -> str:
    """Why the catalog has no spec `name`: its file left out of the folder (invalid, or clashing with another
    file: read_folder's line), else gone."""
    left_out = read_folder(STRATEGY_DIR).left_out
    lines = [line for f, line in left_out.items() if f.rsplit(".", 1)[0] == name or f"{name!r}" in line]
    if lines:
        return f"catalog spec {name!r} is left out of {STRATEGY_DIR.name}/: {lines[0]}"
    return f"spec file gone: {STRATEGY_DIR.name}/ has no strategy {name!r} (deleted or renamed)"


def unavailable_note(design_id: str, reason: Exception) -> str:
    """One line for a step's summary: the design left out and why (DesignUnavailable, or what evaluating it
    at its tuned parameters raised: tuner.UNRUNNABLE)."""
    why = str(reason) if isinstance(reason, DesignUnavailable) else f"its spec does not run at its tuned parameters: {reason}"
    return f"{design_id} left out: {' '.join(why.split())}"


def strategies(rows: list[tuple]) -> tuple[dict[str, StrategySpec], list[str]]:
    """The strategy of each design row (design_id, design_key, origin, parents, spec JSON) that has one,
    and a note for each left out."""
    specs, notes = {}, []
    for did, key, origin, _, spec in rows:
        try:
            specs[did] = design_strategy(key, origin, json.loads(spec))
        except DesignUnavailable as exc:
            notes.append(unavailable_note(did, exc))
    return specs, notes


def timeframe_note(timeframes: dict[str, str], timeframe: str) -> str | None:
    """One line for the designs (id -> timeframe tuned on) left out of a ranking on `timeframe`, or None."""
    other = sorted({tf for tf in timeframes.values() if tf != timeframe})
    count = sum(tf != timeframe for tf in timeframes.values())
    return (f"{count} designs tuned on {', '.join(other)} left out of the {timeframe} ranking "
            "(a design is ranked on the timeframe it was tuned on)") if count else None
