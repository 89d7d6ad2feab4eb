"""Condition expressions of strategy specs: a small, closed language parsed and compiled to DuckDB SQL.

Grammar: `or` / `and` / `not`, comparisons (< <= > >= == !=), + - * /, numbers, 'strings',
names (parameters, OHLCV columns, registered features) and the functions in FUNCTIONS. Every
function is causal: it reads the current and earlier bars of the same symbol and timeframe only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

Node = tuple  # ('num', v) | ('str', s) | ('name', n) | ('call', f, args) | ('bin', op, a, b) | ('not', a) | ('neg', a)

TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<str>'[^']*')"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|,))"
)
COMPARISONS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "<>"}
WINDOW_FUNCTIONS = {"sma": "avg", "highest": "max", "lowest": "min", "stddev": "stddev_pop"}
SCALAR_FUNCTIONS = {"abs": 1, "least": 2, "greatest": 2}
FUNCTIONS = sorted([*WINDOW_FUNCTIONS, *SCALAR_FUNCTIONS, "lag", "cross_above", "cross_below"])
SERIES_WINDOW = "partition by symbol, timeframe order by bar_at_ms"
MAX_DEPTH = 40  # nesting of parentheses, calls and not/-: deeper text hit Python's recursion limit (RecursionError)
MAX_LENGTH = 1_000_000  # bars of a window or lag (~1.9 years of 1m bars): 1e23 failed in DuckDB as an INT64 overflow
UNKNOWN_NAME = "unknown name"  # how a compile error about a missing column begins (the CLI adds a --data hint)
NUMBER, TEXT, BOOLEAN, ANY = "a number", "text", "a true/false condition", "any"  # value types of the checker


class ExprError(ValueError):
    """An expression that does not parse or names something unknown."""


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; raises on any character outside the language."""
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"unexpected character {text[pos:].strip()[:1]!r} at position {pos} in {text!r}")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "name" and value in ("and", "or", "not"):
            kind = "op"
        tokens.append((kind, value))
        pos = m.end()
    return tokens


class Columns(frozenset):
    """Column names that also say which of them hold text (regime labels); every other one is a number.
    A plain frozenset of names says nothing of types: the checker then takes its names as any type."""

    text: frozenset[str]
    labels: dict[str, frozenset[str]]  # a text column's possible values, where known (accepted_values)

    def __new__(cls, names=(), text=frozenset(), labels=None):
        obj = super().__new__(cls, names)
        obj.text = frozenset(text)
        obj.labels = {k: frozenset(v) for k, v in (labels or {}).items()}
        return obj

    def __reduce__(self):
        return Columns, (tuple(self), tuple(self.text), {k: tuple(sorted(v)) for k, v in self.labels.items()})


class _Parser:
    def __init__(self, text: str):
        self.text, self.tokens, self.i, self.depth = text, tokenize(text), 0, 0

    def deeper(self) -> None:
        """Count one more level of nesting; refuse text nested deeper than MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"nested more than {MAX_DEPTH} levels deep in {self.text[:60]!r}...")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExprError(f"expected {value or 'more input'!r} in {self.text!r}, got {tok[1] if tok else 'end'!r}")
        self.i += 1
        return tok

    def at(self, *values: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "op" and tok[1] in values

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return node

    def or_expr(self) -> Node:
        self.deeper()
        node = self.and_expr()
        while self.at("or"):
            self.take()
            node = ("bin", "or", node, self.and_expr())
        self.depth -= 1
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.at("and"):
            self.take()
            node = ("bin", "and", node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.at("not"):
            self.take()
            self.deeper()
            node = ("not", self.not_expr())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        node = self.sum()
        if self.at(*COMPARISONS):
            op = self.take()[1]
            node = ("bin", op, node, self.sum())
        return node

    def sum(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.take()[1]
            node = ("bin", op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at("*", "/"):
            op = self.take()[1]
            node = ("bin", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.take()
            self.deeper()
            node = ("neg", self.unary())
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return ("num", float(value) if any(c in value for c in ".eE") else int(value))
        if kind == "str":
            return ("str", value[1:-1])
        if kind == "name":
            if self.at("("):
                self.take("(")
                args = [] if self.at(")") else [self.or_expr()]
                while self.at(","):
                    self.take()
                    args.append(self.or_expr())
                self.take(")")
                return ("call", value, args)
            return ("name", value)
        if value == "(":
            node = self.or_expr()
            self.take(")")
            return node
        raise ExprError(f"unexpected {value!r} in {self.text!r}")


def parse(text: str) -> Node:
    """The syntax tree of one expression."""
    return _Parser(str(text)).parse()


def children(node: Node) -> tuple[Node, ...]:
    """The sub-expressions of a node: a call's arguments, an operator's operands; none for a leaf."""
    if node[0] == "call":
        return tuple(node[2])
    if node[0] == "bin":
        return node[2], node[3]
    if node[0] in ("not", "neg"):
        return (node[1],)
    return ()


def names_in(node: Node) -> set[str]:
    """Every bare name an expression reads (parameters and columns)."""
    if node[0] == "name":
        return {node[1]}
    return set().union(*(names_in(c) for c in children(node)))


def evaluate(node: Node, values: dict[str, Any], where: str = "a constraint") -> Any:
    """Evaluate a parameter-only expression (a spec constraint, a window length) in Python."""
    kind = node[0]
    if kind in ("num", "str"):
        return node[1]
    if kind == "name":
        if node[1] not in values:
            raise ExprError(f"unknown parameter {node[1]!r}")
        return values[node[1]]
    if kind == "not":
        return not evaluate(node[1], values, where)
    if kind == "neg":
        return -evaluate(node[1], values, where)
    if kind == "bin":
        a, b = evaluate(node[2], values, where), evaluate(node[3], values, where)
        if node[1] == "/" and b == 0:
            raise ExprError(f"divides by zero for {values}")
        ops = {"and": lambda: a and b, "or": lambda: a or b, "<": lambda: a < b, "<=": lambda: a <= b,
               ">": lambda: a > b, ">=": lambda: a >= b, "==": lambda: a == b, "!=": lambda: a != b,
               "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b}
        return ops[node[1]]()
    raise ExprError(f"a function call ({node[1]}) is not allowed in {where}: only parameters, numbers and + - * /")


def _show(node: Node, kind: str) -> str:
    """An operand for a message: a name or literal with its type, else the type alone."""
    if node[0] in ("name", "num", "str") and kind != ANY:
        return f"{node[1]!r} ({kind})" if node[0] != "num" else f"{node[1]} ({kind})"
    return kind


def value_type(node: Node, type_of: Callable[[str], str]) -> str:
    """NUMBER, TEXT, BOOLEAN or ANY (unknown: not checked) of an expression; ExprError where an operator or
    function gets the wrong type: DuckDB failed on them only when the signal SQL ran (a text feature
    compared with a number was a ConversionException inside the daily warehouse build)."""
    kind = node[0]
    if kind in ("num", "str"):
        return NUMBER if kind == "num" else TEXT
    if kind == "name":
        return type_of(node[1])
    if kind in ("not", "neg"):
        want = BOOLEAN if kind == "not" else NUMBER
        _expect(node[1], value_type(node[1], type_of), want, "not" if kind == "not" else "-")
        return want
    if kind == "bin":
        op, a, b = node[1], node[2], node[3]
        ta, tb = value_type(a, type_of), value_type(b, type_of)
        if op in ("and", "or"):
            _expect(a, ta, BOOLEAN, op), _expect(b, tb, BOOLEAN, op)
            return BOOLEAN
        if op in ("==", "!="):
            if ANY not in (ta, tb) and ta != tb:
                raise ExprError(f"'{op}' compares {_show(a, ta)} with {_show(b, tb)}")
            return BOOLEAN
        _expect(a, ta, NUMBER, op), _expect(b, tb, NUMBER, op)
        return BOOLEAN if op in COMPARISONS else NUMBER
    fname, args = node[1], node[2]
    types = [value_type(a, type_of) for a in args]
    if fname == "lag" and types:
        return types[0]
    series = {**dict.fromkeys(WINDOW_FUNCTIONS, 1), "cross_above": 2, "cross_below": 2, **SCALAR_FUNCTIONS}
    for a, t in zip(args[:series.get(fname, 0)], types):
        _expect(a, t, NUMBER, f"{fname}()")
    return BOOLEAN if fname in ("cross_above", "cross_below") else NUMBER if fname in series else ANY


def _expect(node: Node, kind: str, want: str, op: str) -> None:
    if kind not in (want, ANY):
        raise ExprError(f"'{op}' needs {want}, got {_show(node, kind)}")


def check_labels(node: Node, labels: dict[str, frozenset[str]]) -> None:
    """ExprError where a text column is compared (== / !=) with a label it never holds: regime == 'trendup'
    was never true, and the strategy never traded without a word."""
    if node[0] == "bin" and node[1] in ("==", "!="):
        for a, b in ((node[2], node[3]), (node[3], node[2])):
            if a[0] == "name" and b[0] == "str" and a[1] in labels and b[1] not in labels[a[1]]:
                raise ExprError(f"{a[1]} is never {b[1]!r}: its values are {', '.join(sorted(labels[a[1]]))}")
    for child in children(node):
        check_labels(child, labels)


def check_condition(node: Node, type_of: Callable[[str], str]) -> None:
    """ExprError unless the expression is a well-typed true/false condition."""
    kind = value_type(node, type_of)
    if kind not in (BOOLEAN, ANY):
        raise ExprError(f"is {_show(node, kind)}, not a true/false condition (compare it: close > 0, regime == 'range')")


def sql_literal(value: Any) -> str:
    """A number or string as a SQL literal (strings single-quoted, quotes doubled)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ExprError(f"{value} is not a finite number")
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class SignalCompiler:
    """Compiles expressions to SQL over a bars relation; window terms become shared, deduplicated
    columns in nested CTE levels (a window over a window needs its own level)."""

    columns: frozenset[str]
    defs: dict[str, tuple[str, int]] = field(default_factory=dict)  # sql -> (alias, level)
    used: set[str] = field(default_factory=set)

    def column(self, sql: str, level: int) -> tuple[str, int]:
        """Register a window term once; returns (alias, level)."""
        if sql not in self.defs:
            self.defs[sql] = (f"_w{len(self.defs)}", level)
        return self.defs[sql]

    def compile(self, node: Node, params: dict[str, Any]) -> tuple[str, int]:
        """(sql, level): the SQL text and the CTE level whose columns it needs."""
        kind = node[0]
        if kind in ("num", "str"):
            return sql_literal(node[1]), 0
        if kind == "name":
            name = node[1]
            if name in params:
                return sql_literal(params[name]), 0
            if name in self.columns:
                self.used.add(name)
                return f'"{name}"', 0
            raise ExprError(f"{UNKNOWN_NAME} {name!r}: not a parameter, an OHLCV column or a registered feature")
        if kind == "neg":
            sql, lvl = self.compile(node[1], params)
            return f"(-{sql})", lvl
        if kind == "not":
            sql, lvl = self.compile(node[1], params)
            return f"(not {sql})", lvl
        if kind == "bin":
            (a, la), (b, lb) = self.compile(node[2], params), self.compile(node[3], params)
            op = COMPARISONS.get(node[1], node[1])
            return f"({a} {op} {b})", max(la, lb)
        return self.call(node[1], node[2], params)

    def _window_length(self, fname: str, node: Node, params: dict[str, Any]) -> int:
        missing = names_in(node) - set(params)
        if missing:
            raise ExprError(f"{fname}(): the length names {sorted(missing)[0]!r}, which is not a declared parameter")
        value = evaluate(node, params, f"the length of {fname}()")
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LENGTH:
            raise ExprError(f"{fname}(): the length must be a whole number from 1 to {MAX_LENGTH:,} "
                            f"(parameter or literal), got {value!r}")
        return value

    def call(self, fname: str, args: list[Node], params: dict[str, Any]) -> tuple[str, int]:
        if fname in WINDOW_FUNCTIONS:
            if len(args) != 2:
                raise ExprError(f"{fname}(series, length) takes 2 arguments, got {len(args)}")
            n = self._window_length(fname, args[1], params)
            x, lx = self.compile(args[0], params)
            frame = f"over ({SERIES_WINDOW} rows between {n - 1} preceding and current row)"
            sql = f"case when count({x}) {frame} = {n} then {WINDOW_FUNCTIONS[fname]}({x}) {frame} end"
            return self.column(sql, lx + 1)
        if fname == "lag":
            if len(args) not in (1, 2):
                raise ExprError(f"lag(series[, bars]) takes 1 or 2 arguments, got {len(args)}")
            n = self._window_length(fname, args[1], params) if len(args) == 2 else 1
            x, lx = self.compile(args[0], params)
            return self.column(f"lag({x}, {n}) over ({SERIES_WINDOW})", lx + 1)
        if fname in ("cross_above", "cross_below"):
            if len(args) != 2:
                raise ExprError(f"{fname}(a, b) takes 2 arguments, got {len(args)}")
            (a, la), (b, lb) = self.compile(args[0], params), self.compile(args[1], params)
            pa, lpa = self.column(f"lag({a}, 1) over ({SERIES_WINDOW})", la + 1)
            pb, lpb = self.column(f"lag({b}, 1) over ({SERIES_WINDOW})", lb + 1)
            now, before = (">", "<") if fname == "cross_above" else ("<", ">")
            return f"(({a} {now} {b}) and ({pa} {before} {pb}))", max(lpa, lpb)
        if fname in SCALAR_FUNCTIONS:
            if len(args) != SCALAR_FUNCTIONS[fname]:
                raise ExprError(f"{fname}() takes {SCALAR_FUNCTIONS[fname]} argument(s), got {len(args)}")
            compiled = [self.compile(a, params) for a in args]
            return f"{fname}({', '.join(s for s, _ in compiled)})", max(lvl for _, lvl in compiled)
        raise ExprError(f"unknown function {fname!r}; known: {', '.join(FUNCTIONS)}")

    def ctes(self, source: str, where: str) -> tuple[str, str]:
        """(with-clause body, name of the last level) computing every registered window term."""
        depth = max((lvl for _, lvl in self.defs.values()), default=0)
        base = ", ".join(f'"{c}"' for c in sorted(self.used))
        parts = [f"_l0 as (select symbol, timeframe, bar_at_ms{', ' + base if base else ''} from {source} where {where})"]
        for level in range(1, depth + 1):
            cols = [f"{sql} as {alias}" for sql, (alias, lvl) in self.defs.items() if lvl == level]
            parts.append(f"_l{level} as (select *, {', '.join(cols)} from _l{level - 1})")
        return ",\n".join(parts), f"_l{depth}"


