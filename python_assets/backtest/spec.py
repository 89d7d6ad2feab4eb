"""Strategy specs: YAML files validated into StrategySpec, parameters resolved, compiled to SQL signals."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from python_assets.backtest import expr
from python_assets.platform.timeframes import TIMEFRAMES

SIDES = ("long", "short", "both")
OHLCV = frozenset({"open", "high", "low", "close", "volume"})
CONDITIONS = ("entry_long", "exit_long", "entry_short", "exit_short")
RISK_FIELDS = ("stop_loss", "take_profit", "trailing_stop", "max_bars")
KNOWN_KEYS = {"name", "description", "timeframe", "side", "params", "constraints", "sizing", "active",
              *CONDITIONS, *RISK_FIELDS}
PARAM_KEYS = ("default", "min", "max", "type", "log")
SIZING_KEYS = ("fraction", "lot_size")
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SpecError(ValueError):
    """A strategy spec or parameter set that cannot run; the message names the problem."""


class ConstraintUndefined(SpecError):
    """A constraint that cannot be evaluated at these parameters (10 / a at a = 0): not a draw the constraint
    rules out, a spec that cannot run there (the tuner counts such trials)."""


@dataclass(frozen=True)
class Param:
    """A tunable parameter: its default and the closed range it may take."""

    name: str
    default: float | int
    low: float | int
    high: float | int
    kind: str = "int"  # int | float
    log: bool = False  # searched on a log scale (a tuner draws 1, 2, 4 ... 48 as often as 24 .. 48)


@dataclass(frozen=True)
class StrategySpec:
    """A declarative strategy: conditions over columns, side, sizing and exits; no code."""

    name: str
    description: str
    timeframe: str
    side: str
    params: dict[str, Param]
    constraints: tuple[str, ...]
    conditions: dict[str, str | None]
    fraction: float = 1.0
    lot_size: float = 0.0
    risk: dict[str, Any] = field(default_factory=dict)  # stop_loss etc.: number, parameter name or None
    active: bool = True

    @property
    def version(self) -> str:
        """Content hash of the spec: a changed spec is a new version in the ledger."""
        blob = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _number(value: Any, what: str) -> float | int:
    """A finite int or float: inf was written into the SQL as a bare name, nan passed every range check."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(f"{what} must be a finite number, got {value}")
    return value


def _flag(raw: dict, key: str, default: bool, what: str) -> bool:
    """A real YAML boolean: the string 'false' was read as true."""
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise SpecError(f"{what} must be true or false (unquoted), got {value!r}")
    return value


def _mapping(raw: dict, key: str, strategy: str, known: tuple[str, ...] | None = None) -> dict:
    """raw[key] as a mapping ({} when absent); with `known`, no other keys (a misspelt one was ignored)."""
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"strategy {strategy!r}: {key} must be a mapping, got {type(value).__name__} {value!r:.60}")
    unknown = sorted(map(str, set(value) - set(known or value)))
    if unknown:
        raise SpecError(f"strategy {strategy!r}: {key}: unknown key(s) {unknown}; known: {list(known)}")
    return value


def _param(name: str, raw: Any, strategy: str) -> Param:
    if not isinstance(name, str) or not PARAM_NAME.fullmatch(name) or name in ("and", "or", "not"):
        raise SpecError(f"strategy {strategy!r}: parameter name {name!r} is not a name a condition can use "
                        "(letters, digits and _, not and/or/not)")
    if not isinstance(raw, dict) or "default" not in raw:
        raise SpecError(f"strategy {strategy!r}: parameter {name!r} needs a mapping with default, min, max")
    _mapping({name: raw}, name, strategy, PARAM_KEYS)
    kind = raw.get("type", "int" if isinstance(raw["default"], int) else "float")
    if kind not in ("int", "float"):
        raise SpecError(f"strategy {strategy!r}: parameter {name!r} has unknown type {kind!r} (int or float)")
    what = f"strategy {strategy!r}: parameter {name}"
    p = Param(name, _number(raw["default"], f"{what}.default"), _number(raw.get("min", raw["default"]), f"{what}.min"),
              _number(raw.get("max", raw["default"]), f"{what}.max"), kind, _flag(raw, "log", False, f"{what}.log"))
    if p.log and not p.low > 0:
        raise SpecError(f"strategy {strategy!r}: parameter {name!r} is searched on a log scale, so its min must be > 0")
    if not p.low <= p.default <= p.high:
        raise SpecError(f"strategy {strategy!r}: parameter {name!r} default {p.default} is outside [{p.low}, {p.high}]")
    return p


def spec_from_dict(raw: dict[str, Any], columns: frozenset[str] | None = None) -> StrategySpec:
    """Validate a parsed spec; with `columns`, every name must be a parameter or one of them."""
    if not isinstance(raw, dict) or not raw.get("name"):
        raise SpecError("a strategy spec needs a mapping with a name")
    _require_utf8(raw)
    name = str(raw["name"])
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise SpecError(f"strategy {name!r}: unknown key(s) {sorted(unknown)}; known: {sorted(KNOWN_KEYS)}")
    timeframe = raw.get("timeframe", "1h")
    if timeframe not in TIMEFRAMES:
        raise SpecError(f"strategy {name!r}: timeframe {timeframe!r} is not one of {TIMEFRAMES}")
    side = raw.get("side", "long")
    if side not in SIDES:
        raise SpecError(f"strategy {name!r}: side {side!r} is not one of {SIDES}")
    params = {k: _param(k, v, name) for k, v in _mapping(raw, "params", name).items()}
    sizing = _mapping(raw, "sizing", name, SIZING_KEYS)
    fraction = _number(sizing.get("fraction", 1.0), f"strategy {name!r}: sizing.fraction")
    lot_size = _number(sizing.get("lot_size", 0.0), f"strategy {name!r}: sizing.lot_size")
    if not 0 < fraction <= 10 or lot_size < 0:
        raise SpecError(f"strategy {name!r}: sizing.fraction must be in (0, 10] and lot_size >= 0")
    constraints = raw.get("constraints") or ()
    if not isinstance(constraints, (list, tuple)):  # a string was read character by character
        raise SpecError(f"strategy {name!r}: constraints must be a list of expressions, got {constraints!r:.60}")
    spec = StrategySpec(
        name=name, description=str(raw.get("description", "")).strip(), timeframe=timeframe, side=side,
        params=params, constraints=tuple(str(c) for c in constraints),
        conditions={c: (str(raw[c]) if raw.get(c) is not None else None) for c in CONDITIONS},
        fraction=float(fraction), lot_size=float(lot_size),
        risk={k: raw.get(k) for k in RISK_FIELDS}, active=_flag(raw, "active", True, f"strategy {name!r}: active"),
    )
    _check_conditions(spec, columns)
    resolve_params(spec, {})  # defaults must satisfy the constraints and the stops must agree
    if columns is not None:
        compile_strategy(spec, resolve_params(spec, {}), columns, "bars")
    return spec


def _require_utf8(value: Any) -> None:
    """SpecError naming the first text (a key or a value, at any depth) that is not UTF-8: YAML's "\\ud800"
    escape gives a lone surrogate, which the warehouse, the report's files and the HTML cannot write."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, v in items:
        for text in (key, v):
            if isinstance(text, str) and not _is_utf8(text):
                raise SpecError(f"text {text!r:.60} is not UTF-8 text (a lone surrogate such as \\ud800): "
                                "write the character itself")
        _require_utf8(v)


def _is_utf8(text: str) -> bool:
    """Whether text encodes as UTF-8 (a str holding a lone surrogate does not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_conditions(spec: StrategySpec, columns: frozenset[str] | None) -> None:
    c = spec.conditions
    if spec.side in ("long", "both") and not c["entry_long"]:
        raise SpecError(f"strategy {spec.name!r}: side {spec.side} needs entry_long")
    if spec.side in ("short", "both") and not c["entry_short"]:
        raise SpecError(f"strategy {spec.name!r}: side {spec.side} needs entry_short")
    type_of = name_types(spec, columns)
    for key, text in [*((k, t) for k, t in c.items() if t is not None), *(("constraint", t) for t in spec.constraints)]:
        try:
            node = expr.parse(text)
            if key == "constraint":  # parameters only: every name a number
                expr.check_condition(node, lambda n: expr.NUMBER if n in spec.params else expr.ANY)
                continue
            expr.check_condition(node, type_of)
            expr.check_labels(node, getattr(columns, "labels", {}))
        except expr.ExprError as exc:
            raise SpecError(f"strategy {spec.name!r}: {key}: {exc}") from None
        # a condition of constants and parameters is the same on every bar: fine as such (1 == 1 holds a position
        # from the first bar: buy and hold), not where a parameter named like a column hides that column
        hidden = sorted((expr.names_in(node) & set(spec.params)) & (OHLCV | set(columns or ())))
        if hidden and expr.names_in(node) <= set(spec.params):
            raise SpecError(f"strategy {spec.name!r}: {key}: {text!r} reads no column, so it is the same on every bar "
                            f"(the parameter {hidden[0]!r} hides the column of that name)")


def unused_conditions(spec: StrategySpec) -> list[str]:
    """The conditions given for the side the spec does not trade (a both spec set to side: long keeps its short
    ones): not an error, but a run should say they were left out (they were ignored without a word)."""
    return [k for k, text in spec.conditions.items() if text is not None and spec.side != "both" and not k.endswith(spec.side)]


def name_types(spec: StrategySpec, columns: frozenset[str] | None) -> Callable[[str], str]:
    """The checker's type of each name a condition may read: parameters and OHLCV are numbers, a feature is
    text or a number where `columns` says (an expr.Columns), else not checked."""
    text = getattr(columns, "text", None)

    def type_of(name: str) -> str:
        if name in spec.params or name in OHLCV:
            return expr.NUMBER
        if text is not None and name in columns:
            return expr.TEXT if name in text else expr.NUMBER
        return expr.ANY
    return type_of


def resolve_params(spec: StrategySpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with overrides, each checked against its range, then the constraints and stops."""
    unknown = set(overrides) - set(spec.params)
    if unknown:
        raise SpecError(f"strategy {spec.name!r}: unknown parameter(s) {sorted(unknown)}; declared: {sorted(spec.params)}")
    values: dict[str, Any] = {}
    for name, p in spec.params.items():
        value = _param_value(spec.name, name, p.kind, overrides.get(name, p.default))
        if not p.low <= value <= p.high:
            raise SpecError(f"strategy {spec.name!r}: parameter {name}={value} is outside [{p.low}, {p.high}]")
        values[name] = value
    for text in spec.constraints:
        try:
            ok = expr.evaluate(expr.parse(text), values)
        except expr.ExprError as exc:
            raise ConstraintUndefined(f"strategy {spec.name!r}: constraint {text!r}: {exc}") from None
        if not ok:
            raise SpecError(f"strategy {spec.name!r}: constraint {text!r} does not hold for {values}")
    risk_values(spec, values)
    return values


def _param_value(strategy: str, name: str, kind: str, raw: Any) -> int | float:
    """A parameter's value (an --param string or a number) as its kind: an int parameter takes 10, '10' or
    '10.0'; inf and nan are refused (int('inf') raised OverflowError)."""
    what = f"strategy {strategy!r}: parameter {name}={raw!r}"
    if isinstance(raw, str):
        try:
            raw = int(raw)
        except ValueError:
            try:
                raw = float(raw)
            except ValueError:
                raise SpecError(f"{what} is not a number") from None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise SpecError(f"{what} is not a number")
    if not math.isfinite(raw):
        raise SpecError(f"{what} is not a finite number")
    if kind != "int":
        return float(raw)
    if isinstance(raw, float) and not raw.is_integer():
        raise SpecError(f"{what} must be a whole number")
    return int(raw)


def risk_values(spec: StrategySpec, params: dict[str, Any]) -> dict[str, float | None]:
    """Stops and limits as numbers (a parameter name is looked up); contradictions raise SpecError."""
    out: dict[str, float | None] = {}
    for key in RISK_FIELDS:
        raw = spec.risk.get(key)
        if raw is None:
            out[key] = None
            continue
        if isinstance(raw, str):
            if raw not in params:
                raise SpecError(f"strategy {spec.name!r}: {key} names parameter {raw!r}, which is not declared")
            raw = params[raw]
        out[key] = float(_number(raw, f"strategy {spec.name!r}: {key}"))
    for key in ("stop_loss", "trailing_stop"):
        v = out[key]
        if v is not None and not 0 < v < 1:
            raise SpecError(f"strategy {spec.name!r}: {key}={v} must be a fraction in (0, 1): "
                            "a stop at or beyond 100% can never trigger before the price reaches zero")
    if out["take_profit"] is not None and out["take_profit"] <= 0:
        raise SpecError(f"strategy {spec.name!r}: take_profit={out['take_profit']} must be > 0 "
                        "(a target at or behind the entry contradicts the stop side)")
    if out["max_bars"] is not None and (out["max_bars"] < 1 or out["max_bars"] != int(out["max_bars"])):
        raise SpecError(f"strategy {spec.name!r}: max_bars must be a whole number >= 1")
    if out["stop_loss"] is not None and out["trailing_stop"] is not None and out["trailing_stop"] > out["stop_loss"]:
        raise SpecError(f"strategy {spec.name!r}: trailing_stop={out['trailing_stop']} is wider than "
                        f"stop_loss={out['stop_loss']}: the trailing stop could never be the binding one at entry")
    return out


def instance_id(spec: StrategySpec, params: dict[str, Any]) -> str:
    """A readable, stable id for spec x params: name plus the sorted parameter values."""
    if not params:
        return spec.name
    return spec.name + "(" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + ")"


def compile_strategy(spec: StrategySpec, params: dict[str, Any], columns: frozenset[str], source: str,
                     timeframe: str | None = None) -> str:
    """One SELECT of signal events (rows where any of the four conditions holds) from `source`."""
    return compile_instances([(instance_id(spec, params), spec, params)], columns, source, timeframe or spec.timeframe)


def signal_query_parts(instances: list[tuple[str, StrategySpec, dict[str, Any]]], columns: frozenset[str],
                       source: str, timeframe: str) -> tuple[str, str, list[str]]:
    """(with-clause body, its last CTE, one SELECT of events per instance over that CTE): window
    terms shared by instances (the same sma in many grid points) are computed once."""
    compiler = expr.SignalCompiler(frozenset(columns) | OHLCV)
    selects = []
    for sid, spec, params in instances:
        type_of = name_types(spec, columns)
        conds = {}
        for key in CONDITIONS:
            text = spec.conditions[key]
            enabled = text is not None and (spec.side == "both" or key.endswith(spec.side))
            if not enabled:
                conds[key] = "false"
                continue
            try:
                node = expr.parse(text)
                sql, _ = compiler.compile(node, params)
                expr.check_condition(node, type_of)
            except expr.ExprError as exc:
                raise SpecError(f"strategy {spec.name!r}: {key}: {exc}") from None
            conds[key] = f"coalesce({sql}, false)"
        cols = ", ".join(f"{sql} as {key}" for key, sql in conds.items())
        any_ = " or ".join(f"({s})" for s in conds.values())
        selects.append((sid, cols, any_))
    body, last = compiler.ctes(source, f"timeframe = {expr.sql_literal(timeframe)}")
    return body, last, [
        f"select {expr.sql_literal(sid)} as strategy_id, symbol, timeframe, bar_at_ms, {cols} from {last} where {any_}"
        for sid, cols, any_ in selects
    ]


def compile_instances(instances: list[tuple[str, StrategySpec, dict[str, Any]]], columns: frozenset[str],
                      source: str, timeframe: str) -> str:
    """Signal events of many spec instances on one timeframe as one SELECT."""
    body, _, selects = signal_query_parts(instances, columns, source, timeframe)
    return f"with {body}\n" + "\nunion all\n".join(selects)
