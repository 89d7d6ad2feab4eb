"""The designer: strategy specs built from a grammar of condition atoms over registered features
(or OHLCV), proposed at random or by mutating / crossing the best current designs. A design's
canonical key (side + sorted atoms) identifies it, so a duplicate is never tested twice."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

SIDES = ("long", "short", "both")
# Searched on a log scale: a 1-2 bar hold (where a short-lived edge lives) is drawn as often as 24-48.
RISK_PARAMS = {"hold": {"default": 12, "min": 1, "max": 48, "type": "int", "log": True},
               "stop": {"default": 0.03, "min": 0.005, "max": 0.1, "type": "float", "log": True}}


@dataclass(frozen=True)
class Atom:
    """One entry condition: long and mirrored short text, parameters ({name} placeholders), columns."""

    name: str
    long: str
    short: str
    params: dict[str, tuple[float, float, str]]
    needs: frozenset[str]
    constraint: str | None = None


def _atom(name, long, short, params=None, needs=(), constraint=None) -> Atom:
    return Atom(name, long, short, params or {}, frozenset(needs), constraint)


_BAR_RETURN = "(close / lag(close, 1) - 1)"
ATOMS = {a.name: a for a in (
    _atom("rsi", "rsi_14 < {lo}", "rsi_14 > 100 - {lo}", {"lo": (10, 45, "int")}, ["rsi_14"]),
    _atom("pctb", "bb_pctb_20 < {lo}", "bb_pctb_20 > 1 - {lo}", {"lo": (-0.2, 0.4, "float")}, ["bb_pctb_20"]),
    _atom("zscore", "close_zscore_20 < -{z}", "close_zscore_20 > {z}", {"z": (0.5, 3.0, "float")}, ["close_zscore_20"]),
    _atom("willr", "willr_14 < -100 + {lo}", "willr_14 > -{lo}", {"lo": (5, 40, "int")}, ["willr_14"]),
    _atom("cci", "cci_20 < -{c}", "cci_20 > {c}", {"c": (50, 250, "int")}, ["cci_20"]),
    _atom("ema_trend", "ema_12 > ema_26", "ema_12 < ema_26", needs=["ema_12", "ema_26"]),
    _atom("above_ema50", "close > ema_50", "close < ema_50", needs=["ema_50"]),
    _atom("adx", "adx_14 > {a}", "adx_14 > {a}", {"a": (15, 40, "int")}, ["adx_14"]),
    _atom("macd_turn", "cross_above(macd_hist, 0)", "cross_below(macd_hist, 0)", needs=["macd_hist"]),
    _atom("donchian", "close > lag(donchian_high_20, 1)", "close < lag(donchian_low_20, 1)",
          needs=["donchian_high_20", "donchian_low_20"]),
    _atom("regime", "regime == 'trend_up'", "regime == 'trend_down'", needs=["regime"]),
    _atom("drop", "close < lag(close, 1) * (1 - {d})", "close > lag(close, 1) * (1 + {d})", {"d": (0.001, 0.03, "float")}),
    # the same one-bar move in units of the symbol's recent volatility: one threshold fits every symbol and regime
    _atom("drop_z", f"{_BAR_RETURN} < -{{k}} * stddev({_BAR_RETURN}, 20)", f"{_BAR_RETURN} > {{k}} * stddev({_BAR_RETURN}, 20)",
          {"k": (0.5, 3.0, "float")}),
    _atom("sma_cross", "cross_above(sma(close, {f}), sma(close, {s}))", "cross_below(sma(close, {f}), sma(close, {s}))",
          {"f": (2, 30, "int"), "s": (10, 100, "int")}, constraint="{f} < {s}"),
    _atom("breakout", "close > lag(highest(high, {n}), 1)", "close < lag(lowest(low, {n}), 1)", {"n": (5, 60, "int")}),
    _atom("below_sma", "close < sma(close, {n}) * (1 - {d})", "close > sma(close, {n}) * (1 + {d})",
          {"n": (5, 60, "int"), "d": (0.0, 0.03, "float")}),
)}


@dataclass(frozen=True)
class Design:
    """A proposed strategy: side + atoms, with where it came from."""

    side: str
    atoms: tuple[str, ...]  # sorted
    origin: str  # random | mutation | crossover
    parents: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Canonical form: the same side and atoms in any order are the same design."""
        return f"{self.side}|{'&'.join(sorted(self.atoms))}"

    @property
    def design_id(self) -> str:
        return "d" + hashlib.sha256(self.key.encode()).hexdigest()[:10]


def canonical(side: str, atoms, origin: str, parents=()) -> Design:
    return Design(side, tuple(sorted(set(atoms))), origin, tuple(parents))


def spec_dict(design: Design, timeframe: str) -> dict[str, Any]:
    """The backtester spec of a design: entry = AND of its atoms; exits = stop loss and a time stop."""
    params: dict[str, Any] = {k: dict(v) for k, v in RISK_PARAMS.items()}
    constraints, longs, shorts = [], [], []
    for name in design.atoms:
        atom = ATOMS[name]
        names = {p: f"{name}_{p}" for p in atom.params}
        for p, (lo, hi, kind) in atom.params.items():
            mid = (lo + hi) / 2
            params[names[p]] = {"default": int(round(mid)) if kind == "int" else mid, "min": lo, "max": hi, "type": kind}
        longs.append(atom.long.format(**names))
        shorts.append(atom.short.format(**names))
        if atom.constraint:
            constraints.append(atom.constraint.format(**names))
    return {
        "name": design.design_id, "description": f"designed ({design.origin}): {design.key}",
        "timeframe": timeframe, "side": design.side, "params": params, "constraints": constraints,
        "entry_long": " and ".join(longs) if design.side in ("long", "both") else None,
        "entry_short": " and ".join(shorts) if design.side in ("short", "both") else None,
        "stop_loss": "stop", "max_bars": "hold",
    }


def usable_atoms(columns: frozenset[str]) -> list[str]:
    """Atoms whose columns exist (OHLCV-only data gets the inline-indicator atoms)."""
    return sorted(n for n, a in ATOMS.items() if a.needs <= columns)


def singles(rng: random.Random, atoms: list[str], seen: set[str], n: int, sides: tuple[str, ...] = SIDES) -> list[Design]:
    """Up to n single-atom designs not in seen, long and short (of sides), in a seeded order: the simplest
    hypotheses are each tested once before the search spends trials on combinations of them."""
    untried = [canonical(side, [a], "random") for a in atoms for side in ("long", "short") if side in sides]
    untried = [d for d in untried if d.key not in seen]
    rng.shuffle(untried)
    out = untried[:n]
    seen.update(d.key for d in out)
    return out


def propose(rng: random.Random, atoms: list[str], parents: list[Design], seen: set[str], n: int,
            max_attempts: int = 2000, sides: tuple[str, ...] = SIDES) -> list[Design]:
    """n new designs (canonical keys not in seen) of the given sides: single atoms not tried yet first, then
    half mutations/crossovers of parents when there are any, the rest random. sides=('long',) where every
    symbol is spot: a short or both design would only repeat a long one's trades there, or make none."""
    out: list[Design] = singles(rng, atoms, seen, n, sides)
    attempts = 0
    while len(out) < n and attempts < max_attempts:
        attempts += 1
        roll = rng.random()
        if parents and roll < 0.3:
            p = rng.choice(parents)
            kept = list(p.atoms)
            change = rng.choice(["swap", "add", "drop", "side"])
            side = p.side
            if change == "swap":
                kept[rng.randrange(len(kept))] = rng.choice(atoms)
            elif change == "add" and len(kept) < 3:
                kept.append(rng.choice(atoms))
            elif change == "drop" and len(kept) > 1:
                kept.pop(rng.randrange(len(kept)))
            else:
                side = rng.choice([s for s in sides if s != p.side] or [p.side])
            d = canonical(side, kept, "mutation", [p.design_id])
        elif len(parents) >= 2 and roll < 0.5:
            a, b = rng.sample(parents, 2)
            d = canonical(a.side, [rng.choice(a.atoms), rng.choice(b.atoms)], "crossover", [a.design_id, b.design_id])
        else:
            d = canonical(rng.choice(sides), rng.sample(atoms, rng.choice([1, 2, 2])), "random")
        if d.key not in seen and d.side in sides:
            seen.add(d.key)
            out.append(d)
    return out
