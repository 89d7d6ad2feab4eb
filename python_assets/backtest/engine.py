"""The position engine: one symbol, one strategy instance, bar by bar (path dependent, so not SQL).

Rules (each pinned by a hand-computed test in tests/backtest/test_engine_cases.py):
- A signal at the close of bar t fills at the open of bar t+1, never on the signal bar (fill="next_open",
  the default). Stress modes (python_assets/backtest/fills.py) move only that price: the signal bar's
  close, the worst of bar t+1's range (buy at its high, sell at its low; or of a given execution-horizon
  high and low, e.g. its first minute's) or the open plus a spread; the
  order is still booked on bar t+1, and stops, targets, liquidation and the end-of-data close are unchanged.
  A signal_close fill precedes bar t+1's open: its orders are done before that open's gap funding and
  liquidation check, and on the entry bar a stop or target the open gaps through fills at the open.
- One position per symbol; an opposite entry signal reverses (close, then open, both at that open).
- Market fills (entries, signal/time exits, stops) pay the taker fee and slippage against the trader;
  a take-profit is a resting limit: maker fee, no slippage. Fees are a fraction of the fill notional.
- Size = fraction x equity / (price x (1 + taker fee)), rounded down to lot_size when it is > 0. With the
  instrument's contract specs (Instruments: the dim_instruments version valid at the fill bar's open time),
  the size in contracts (size / contract_value) is then rounded down to a multiple of its lot_size, an
  order below min_size contracts is not placed, and the base size is contracts x contract_value. Bars
  before the first version (or with no Instruments) are sized without contracts, as before.
- Funding at each settlement time T (on its whole second: stg_funding_rates drops a source's few ms of stamp
  jitter): a position held at T pays size x mark x rate (longs pay a positive
  rate, shorts receive it); mark = open of the bar holding T (or of the next bar when T falls in a gap).
  A fill at a bar's open (an order, or a stop or target the open gaps through) comes after a settlement
  stamped at that open, as an exchange fill a few ms after T: an entry there does not pay it, an exit
  there does (entry_at < T <= exit_at); an entry at the open pays the settlements inside its bar, an exit
  there none of them. An exit inside a bar (a stop, target or liquidation at its own price) is stamped at
  the bar's open like every fill of that bar, but held the position from that open, so it pays the
  settlements inside the bar. A signal_close fill precedes the open's instant: an entry there pays a
  settlement at that open, an exit there does not.
- Stops and targets are checked from the entry bar on against each bar's low/high; when the stop and
  the target are both inside one bar the stop is assumed first; a bar that opens through a level
  fills at the open (gaps), a target there before anything later in the bar (the position is closed). A trailing stop trails the best high (long) / low (short) of earlier bars:
  a bar's own extreme moves it only after that bar is checked (the conservative order).
- A position still open after the last bar is closed at the last close (reason end_of_data).
- Liquidation (BloFin's public rule: margin ratio = equity / (maintenance margin + closing fee) <= 100 %):
  a position is liquidated where equity (cash + position marked) reaches |size| x price x (mmr + liquidation
  fee), mmr = Costs.maintenance_margin (default 0.5 %, the lowest tier of BloFin's USDT-M position tiers;
  larger tiers and small coins ask more) and the closing fee at Costs.liquidation_fee (default 0.06 %, the
  taker rate). Checked at the open (before that open's orders), then intrabar against the adverse extreme
  (low for longs, high for shorts, or the close if beyond it), at the liquidation price or at the open when
  the bar opens through it. On the adverse path a stop strictly between the open and the liquidation price
  fills first; otherwise liquidation comes before the stop and the target. The exchange's liquidation
  engine takes the position over at the bankruptcy price (equity 0 before fees) and the margin left above
  it (about mmr x notional) goes to its insurance fund, as BloFin (its ADL page: the fund is built from
  "the liquidation surplus"), Bybit and OKX settle liquidations: the trade is booked at that price without
  a fee and the account, all of it margin in this one-position cross account, ends at 0.
- Equity never goes below 0: a fill (any exit) whose loss and fee exceed the account's equity is booked as
  a liquidation that ends at exactly 0: the fee shrinks to what is left, and past the bankruptcy price
  the exit is booked at that price and the exchange's insurance fund takes the rest. A funding payment is
  capped at the equity marked at its settlement (the liquidation check follows). A wiped-out account
  (equity 0) trades no more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from python_assets.backtest.defaults import MAKER_FEE, SLIPPAGE_BPS, TAKER_FEE
from python_assets.backtest.fills import EARLY_FILL, fill_prices
from python_assets.platform.jit import compile_once

EXIT_REASONS = ("signal", "reverse", "stop_loss", "trailing_stop", "take_profit", "max_bars", "end_of_data", "liquidation")
SIGNAL, REVERSE, STOP, TRAIL, TARGET, MAX_BARS, END, LIQUIDATION = range(8)


@dataclass(frozen=True)
class Costs:
    """BloFin perpetual defaults: taker 0.06%, maker 0.02% of notional per side; no slippage (the engine's
    reference: DAILY_COSTS adds the daily run's); liquidation at a maintenance margin rate of 0.5% (lowest
    position tier) plus a 0.06% closing fee (see the module docstring)."""

    taker_fee: float = TAKER_FEE
    maker_fee: float = MAKER_FEE
    slippage_bps: float = 0.0
    initial_equity: float = 10_000.0
    maintenance_margin: float = 0.005
    liquidation_fee: float = 0.0006


# What the daily run prices every backtest at: the daily backtests, and the research, fill stress and portfolio
# steps that rank and combine the same designs (their numbers then agree with the strategies' section and with
# `blofin-stack backtest`'s defaults).
DAILY_COSTS = Costs(slippage_bps=SLIPPAGE_BPS)


@dataclass(frozen=True)
class Rules:
    """The spec's trading rules as numbers (NaN / 0 = not set)."""

    allow_long: bool = True
    allow_short: bool = False
    fraction: float = 1.0
    lot_size: float = 0.0
    stop_loss: float = math.nan
    take_profit: float = math.nan
    trailing_stop: float = math.nan
    max_bars: int = 0


@dataclass(frozen=True)
class Instruments:
    """One symbol's contract-spec versions (dim_instruments), sorted by valid_from_ms; sizes in contracts."""

    valid_from_ms: np.ndarray
    contract_value: np.ndarray
    lot_size: np.ndarray
    min_size: np.ndarray


BOOK_COLUMNS = 10  # side, entry index, exit index, size, entry price, exit price, entry fee, exit fee, funding, reason


def _close(book, nt, pos, entry_i, exit_i, entry_px, exit_px, entry_fee, fee_rate, funded, reason, cash):
    """Write the closed trade into row nt of the book; returns the cash after it, floored at 0 (a fill that
    would go below is booked as a liquidation: the fee cut to what is left, past bankruptcy at that price).
    A liquidation is booked at the bankruptcy price, no fee, the account at 0 (see the module docstring)."""
    if reason == LIQUIDATION:
        exit_px = entry_px - cash / pos  # equity 0: the margin left above it goes to the insurance fund
        fee_rate = 0.0
    move = pos * (exit_px - entry_px)
    fee = abs(pos) * exit_px * fee_rate
    after = cash + (move - fee)
    left = cash + move
    if reason == LIQUIDATION:
        after = 0.0  # exactly: cash + pos x (bankruptcy - entry) leaves a rounding (3.6e-12), and a wiped-out account trades no more
    elif after < 0.0:
        reason = LIQUIDATION
        after = 0.0
        if left > 0.0:
            fee = left
        else:
            exit_px = entry_px - cash / pos  # bankruptcy price: equity 0 before the fee
            fee = 0.0
    book[nt, 0] = 1.0 if pos > 0 else -1.0
    book[nt, 1] = entry_i
    book[nt, 2] = exit_i
    book[nt, 3] = abs(pos)
    book[nt, 4] = entry_px
    book[nt, 5] = exit_px
    book[nt, 6] = entry_fee
    book[nt, 7] = fee
    book[nt, 8] = funded
    book[nt, 9] = reason
    return after


def _whole_lots(size, lot):
    """size rounded down to a multiple of lot; a size already on a multiple keeps it (0.3 / 0.1 is
    2.9999999999999996 in floating point: a relative 1e-12 lets that count as 3 lots)."""
    return math.floor(size / lot * (1.0 + 1e-12)) * lot


def _levels(d, entry_px, best, sl, tp, trail):
    """(stop price, its exit reason, target price) of a position of direction d (NaN: not set); the
    trailing stop replaces the fixed one where it is tighter."""
    stop = math.nan
    reason = STOP
    if not math.isnan(sl):
        stop = entry_px * (1.0 - d * sl)
    if not math.isnan(trail):
        tstop = best * (1.0 - d * trail)
        if math.isnan(stop) or (d > 0 and tstop > stop) or (d < 0 and tstop < stop):
            stop = tstop
            reason = TRAIL
    target = math.nan
    if not math.isnan(tp):
        target = entry_px * (1.0 + d * tp)
    return stop, reason, target


def _contract_size(size, contract_value, lot, min_size):
    """A base size rounded down to whole lots of contracts, in base again; 0 below min_size contracts."""
    contracts = _whole_lots(size / contract_value, lot)
    if contracts <= 0.0 or contracts < min_size * (1.0 - 1e-9):
        return 0.0
    return contracts * contract_value


def _liquidation_price(cash, pos, entry_px, req):
    """Price where equity (cash + pos x (p - entry)) meets |pos| x p x req; <= 0 for a long that cannot be."""
    if pos > 0.0:
        return (pos * entry_px - cash) / (pos * (1.0 - req))
    return (cash - pos * entry_px) / (-pos * (1.0 + req))


def _settle_funding(fund_ms, fund_rate, fp, before_ms, pos, mark, entry_px, cash, funded):
    """Pay the settlements before before_ms from pointer fp: (next pointer, cash, funding paid so far);
    a payment is capped at the equity marked at mark."""
    while fp < fund_ms.shape[0] and fund_ms[fp] < before_ms:
        if pos != 0.0:
            amount = pos * mark * fund_rate[fp]
            if amount > 0.0:
                amount = min(amount, max(cash + pos * (mark - entry_px), 0.0))
            cash -= amount
            funded += amount
        fp += 1
    return fp, cash, funded


def _simulate(o, h, lo, c, bar_ms, bar_len_ms, el, xl, es, xs, fund_ms, fund_rate,
              allow_long, allow_short, fraction, lot, sl, tp, trail, max_bars, taker, maker, slip, equity0,
              mmr, liq_fee, ct_from, ct_value, ct_lot, ct_min, buy_px, sell_px, early):
    n = o.shape[0]
    book = np.zeros((n + 1, BOOK_COLUMNS))  # one row per closed trade, see _close
    equity = np.zeros(n)
    position = np.zeros(n)
    req = mmr + liq_fee  # equity / notional at which a position is liquidated
    cash = equity0
    pos = 0.0
    entry_px = 0.0
    entry_fee = 0.0
    entry_i = 0
    funded = 0.0
    best = 0.0
    pending = 0  # 1 go long, -1 go short, 2 go flat
    pending_reason = 0
    nt = 0
    fp = 0
    cp = -1  # the instrument version valid at this bar's open (-1: none yet)
    dead = False
    for i in range(n):
        while cp + 1 < ct_from.shape[0] and ct_from[cp + 1] <= bar_ms[i]:
            cp += 1
        # orders decided at the previous close fill at this open (step 2), or under `early` (the signal
        # bar's close, before this open) ahead of the gap's funding and the open's liquidation (step 0)
        for step in range(3):
            if step == 1:
                # funding settled in a gap before this bar or at this open's instant: the position held then (the
                # open's fills come after it, as on the exchange a fill a few ms after T) pays at this open
                fp, cash, funded = _settle_funding(fund_ms, fund_rate, fp, bar_ms[i] + 1, pos, o[i], entry_px, cash, funded)
                # a position the open finds at or past its liquidation price is liquidated there, before any order
                if pos != 0.0 and (o[i] - _liquidation_price(cash, pos, entry_px, req)) * pos <= 0.0:
                    cash = _close(book, nt, pos, entry_i, i, entry_px, o[i], entry_fee, liq_fee, funded, LIQUIDATION, cash)
                    nt += 1
                    pos = 0.0
                    pending = 0
                    dead = cash <= 0.0
            elif (step == 0) == early and pending != 0:
                d = 1.0 if pos > 0 else -1.0
                if pos != 0.0 and (pending == 2 or pending == -int(d)):
                    fill = sell_px[i] if d > 0 else buy_px[i]  # a long closes with a sell
                    cash = _close(book, nt, pos, entry_i, i, entry_px, fill * (1.0 - slip * d), entry_fee, taker,
                                  funded, pending_reason, cash)
                    nt += 1
                    pos = 0.0
                    dead = cash <= 0.0
                if (pending == 1 or pending == -1) and pos == 0.0 and not dead:
                    d = float(pending)
                    px = (buy_px[i] if d > 0 else sell_px[i]) * (1.0 + slip * d)
                    size = cash * fraction / (px * (1.0 + taker))
                    if lot > 0.0:
                        size = _whole_lots(size, lot)
                    if cp >= 0:
                        size = _contract_size(size, ct_value[cp], ct_lot[cp], ct_min[cp])
                    if size > 0.0:
                        pos = d * size
                        entry_px = px
                        entry_fee = size * px * taker
                        cash -= entry_fee
                        entry_i = i
                        funded = 0.0
                        best = px
                pending = 0
        # the exit of this bar, if any: px (NaN: none) at fee_rate for reason
        px = stop = target = math.nan
        fee_rate = taker
        reason = STOP
        d = 1.0 if pos > 0 else -1.0
        if pos != 0.0:
            stop, reason, target = _levels(d, entry_px, best, sl, tp, trail)
            # a bar that opens through the target or the stop fills there (from the bar after the entry, or
            # the entry bar of an early fill), before the bar's own settlements
            if i > entry_i or early:
                if not math.isnan(target) and (o[i] - target) * d >= 0.0:
                    px, reason, fee_rate = o[i], TARGET, maker
                elif not math.isnan(stop) and (o[i] - stop) * d <= 0.0:
                    px = o[i] * (1.0 - slip * d)
        # funding settled inside this bar (after its open): a position leaving at the open holds none of it; one
        # leaving inside the bar (below) has held the position since its open
        fp, cash, funded = _settle_funding(fund_ms, fund_rate, fp, bar_ms[i] + bar_len_ms,
                                           pos if math.isnan(px) else 0.0, o[i], entry_px, cash, funded)
        # liquidation, stops and targets inside this bar: the adverse path (open -> low for a long) first
        if pos != 0.0 and math.isnan(px):
            liq = _liquidation_price(cash, pos, entry_px, req)
            worst = min(lo[i], c[i]) if d > 0 else max(h[i], c[i])
            if (o[i] - liq) * d <= 0.0:  # the bar's settlements took the equity to the open's liquidation level
                px = o[i]
                reason = LIQUIDATION
                fee_rate = liq_fee
            elif not math.isnan(stop) and (stop - liq) * d > 0.0 and (worst - stop) * d <= 0.0:
                px = stop * (1.0 - slip * d)  # the stop comes first on the way down
            if math.isnan(px) and (worst - liq) * d <= 0.0:
                px = liq
                reason = LIQUIDATION
                fee_rate = liq_fee
            if math.isnan(px) and not math.isnan(target) and ((d > 0 and h[i] >= target) or (d < 0 and lo[i] <= target)):
                px = target
                reason = TARGET
                fee_rate = maker
        if pos != 0.0:
            if not math.isnan(px):
                cash = _close(book, nt, pos, entry_i, i, entry_px, px, entry_fee, fee_rate, funded, reason, cash)
                nt += 1
                pos = 0.0
                pending = 0
                dead = cash <= 0.0
            elif d > 0:
                best = max(best, h[i])
            else:
                best = min(best, lo[i])
        equity[i] = cash + pos * (c[i] - entry_px)
        position[i] = pos
        # signals at this close become orders for the next open
        if i < n - 1 and not dead:
            if pos > 0.0:
                if allow_short and es[i]:
                    pending, pending_reason = -1, REVERSE
                elif xl[i]:
                    pending, pending_reason = 2, SIGNAL
                elif max_bars > 0 and i - entry_i + 1 >= max_bars:
                    pending, pending_reason = 2, MAX_BARS
            elif pos < 0.0:
                if allow_long and el[i]:
                    pending, pending_reason = 1, REVERSE
                elif xs[i]:
                    pending, pending_reason = 2, SIGNAL
                elif max_bars > 0 and i - entry_i + 1 >= max_bars:
                    pending, pending_reason = 2, MAX_BARS
            else:
                go_long = allow_long and el[i]
                go_short = allow_short and es[i]
                if go_long and not go_short:
                    pending = 1
                elif go_short and not go_long:
                    pending = -1
    if pos != 0.0:
        d = 1.0 if pos > 0 else -1.0
        cash = _close(book, nt, pos, entry_i, n - 1, entry_px, c[n - 1] * (1.0 - slip * d), entry_fee, taker,
                      funded, END, cash)
        nt += 1
        equity[n - 1] = cash
        position[n - 1] = 0.0
    return book[:nt], equity, position


@dataclass(frozen=True)
class EngineResult:
    """Trades as parallel arrays (index into the bars) plus equity and signed position per bar close."""

    side: np.ndarray
    entry_index: np.ndarray
    exit_index: np.ndarray
    size: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    entry_fee: np.ndarray
    exit_fee: np.ndarray
    funding: np.ndarray
    reason: np.ndarray
    equity: np.ndarray
    position: np.ndarray

    @property
    def pnl(self) -> np.ndarray:
        """Net pnl per trade: price move x size - both fees - funding paid."""
        return self.side * self.size * (self.exit_price - self.entry_price) - self.entry_fee - self.exit_fee - self.funding

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if len(self.equity) else math.nan


# The compiled loops, callees first, compiled on first use (python_assets/platform/jit.py says why).
KERNELS = ("_close", "_whole_lots", "_levels", "_contract_size", "_liquidation_price", "_settle_funding", "_simulate")


def simulate(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, bar_ms: np.ndarray,
             bar_len_ms: int, signals: dict[str, np.ndarray], rules: Rules, costs: Costs,
             funding_ms: np.ndarray | None = None, funding_rate: np.ndarray | None = None,
             instruments: Instruments | None = None, fill: str = "next_open",
             spread: np.ndarray | None = None, worst: tuple[np.ndarray, np.ndarray] | None = None) -> EngineResult:
    """Run one instance over bars sorted by time; signals are bool arrays aligned with the bars; fill,
    spread and worst choose the price signal orders fill at (see python_assets/backtest/fills.py)."""
    if not (costs.maintenance_margin >= 0 and costs.liquidation_fee >= 0
            and costs.maintenance_margin + costs.liquidation_fee < 1):
        raise ValueError("maintenance_margin and liquidation_fee must be >= 0 and add up to less than 1")
    n = len(open_)
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    flag = lambda k: np.ascontiguousarray(signals.get(k, np.zeros(n, bool)), dtype=np.bool_)  # noqa: E731
    fms = np.ascontiguousarray(funding_ms if funding_ms is not None else np.zeros(0), dtype=np.int64)
    frate = f64(funding_rate if funding_rate is not None else np.zeros(0))
    inst = instruments or Instruments(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    if not (np.all(inst.contract_value > 0) and np.all(inst.lot_size > 0) and np.all(inst.min_size >= 0)):
        raise ValueError("instrument contract_value and lot_size must be > 0 and min_size >= 0")
    if n == 0:
        empty = np.zeros(0)
        return EngineResult(np.zeros(0, np.int8), *(np.zeros(0, np.int64),) * 2, *(empty,) * 6,
                            np.zeros(0, np.int8), empty, empty)
    o, h, lo, c = f64(open_), f64(high), f64(low), f64(close)
    buy_px, sell_px = fill_prices(fill, o, h, lo, c, spread, worst)
    compile_once(globals(), KERNELS)
    out = _simulate(
        o, h, lo, c, np.ascontiguousarray(bar_ms, dtype=np.int64), int(bar_len_ms),
        flag("entry_long"), flag("exit_long"), flag("entry_short"), flag("exit_short"), fms, frate,
        bool(rules.allow_long), bool(rules.allow_short), float(rules.fraction), float(rules.lot_size),
        float(rules.stop_loss), float(rules.take_profit), float(rules.trailing_stop), int(rules.max_bars),
        float(costs.taker_fee), float(costs.maker_fee), float(costs.slippage_bps) / 1e4, float(costs.initial_equity),
        float(costs.maintenance_margin), float(costs.liquidation_fee),
        np.ascontiguousarray(inst.valid_from_ms, dtype=np.int64), f64(inst.contract_value), f64(inst.lot_size),
        f64(inst.min_size), buy_px, sell_px, fill == EARLY_FILL,
    )
    book, equity, position = out
    return EngineResult(book[:, 0].astype(np.int8), book[:, 1].astype(np.int64), book[:, 2].astype(np.int64),
                        book[:, 3].copy(), book[:, 4].copy(), book[:, 5].copy(), book[:, 6].copy(), book[:, 7].copy(),
                        book[:, 8].copy(), book[:, 9].astype(np.int8), equity, position)
