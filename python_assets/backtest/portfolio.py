"""The portfolio backtest: one account over several member strategies (a member = one strategy instance on
one symbol), combined from the members' per-bar equity returns of the single-strategy engine.

Model (each rule pinned by a hand-computed test in tests/backtest/test_portfolio.py):
- Members: return r[t, i] = the member's engine equity at the close of bar t over its equity at the close
  before (python_assets/backtest/engine.py: fills, BloFin taker/maker fees, slippage, funding per position,
  stops, the member's own liquidation all inside); exposure x[t, i] = |position| x close / equity at that
  close (0 when flat; at a time the member has no bar, e.g. an hour without trades, its last bar's: the
  position is still open while its return there is 0). Engine P&L is linear in equity (no lot rounding: members run at a reference equity),
  so a sub-account of any size earns the same returns.
- Account: sub-account allocations A[i] (dollars) plus cash C; between rebalances each A[i] drifts with its
  member's returns (A[i] *= 1 + r[t, i]), C stays (perpetual margin: no interest); equity = C + sum A.
  Allocations above the equity (gross leverage > 1) are shared margin: C goes negative.
- Rebalance at the close of each bar the schedule marks (not the last bar): weights w from returns up to and
  including that bar only (no lookahead), A[i] = w[i] x equity. The resizing is a market order at that close:
  taker fee x |change of A[i]| x x[t, i] (only the open position is traded; a flat member costs nothing).
- Allocation rules: equal (1/N), inverse_vol (1/sigma of the trailing `lookback` returns), risk_parity
  (equal risk contributions w_i (Sigma w)_i on the trailing covariance, cyclical coordinate descent). Members
  not live at the rebalance (no bars yet, or past their last) get 0. Risk rules read each member's own
  returns (the bars from its first to its last, within the lookback; risk parity the bars all its members
  had), skip members with zero variance, and give a member with fewer than `min_history` own returns an
  equal share (1 / live members), the rule dividing the rest. When no live member has both, the rule falls
  back to equal shares (the equal rule's weights); the result counts such rebalances (fallbacks) among all
  (rebalances), so a short window's identical accounts say why. Weights are scaled to sum to gross_leverage,
  then capped at max_weight with the excess handed to uncapped members pro rata (water-filling); what
  cannot be placed stays in cash, so sum w <= gross_leverage and every w <= max_weight.
- A member is live from its first bar to its last (a symbol delisted or no longer traded has no bars after
  it; align). Its engine closed its position at that last close (end_of_data: exit fee and slippage are in
  its return there), so after it the sub-account is idle cash: return 0, exposure 0 (the account's
  liquidation test and a resize do not count it). The weights change only on the schedule: the next
  rebalance gives it 0 (live at the bar after the rebalance decides) and hands its share to the live members
  at no fee (nothing open). The bars after its end are not returns: neither the risk rules' trailing
  volatility / covariance nor the correlations count them (those zeros lowered its variance, and a dead
  member took 0.6 of an inverse-vol account).
- Liquidation (the engine's rule at account level): at each close, after the drift, the account is
  liquidated when equity <= notional x (maintenance_margin + liquidation_fee), notional = sum A[i] x[t, i]:
  as in the engine, the exchange takes every position over at the bankruptcy price, the margin left goes
  to its insurance fund (and a loss past 0 is the fund's): the account ends at 0 and trades no more.
Not modelled: intrabar account liquidation (closes only: members' own liquidations are intrabar), margin
tiers across the summed position of members on one symbol (each member is margined on its own notional),
netting of opposite member positions on one symbol (each pays its own fees and funding), the fee on the
rebalance fee itself (targets use the equity before the fee), slippage and the next-open fill of a resize
(it trades at the close), lot-size rounding of resized positions, and restarting a member its own engine
wiped out (it trades no more: the weight a later rebalance gives it sits idle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from python_assets.backtest.engine import Costs
from python_assets.platform.jit import compile_once
from python_assets.research.dsr import is_flat

_BLOFIN = Costs()  # the account's fee, margin and liquidation defaults are the single-strategy engine's

RULES = ("equal", "inverse_vol", "risk_parity")


@dataclass(frozen=True)
class PortfolioConfig:
    """Allocation rule and its limits; fees and margin as engine.Costs (BloFin defaults)."""

    rule: str = "equal"
    lookback: int = 168  # trailing bars for volatility / covariance (a week of 1h bars)
    min_history: int = 24  # a member with fewer own returns than this gets an equal share under the risk rules
    max_weight: float = 0.5
    gross_leverage: float = 1.0
    taker_fee: float = _BLOFIN.taker_fee
    maintenance_margin: float = _BLOFIN.maintenance_margin
    liquidation_fee: float = _BLOFIN.liquidation_fee
    initial_equity: float = _BLOFIN.initial_equity


@dataclass(frozen=True)
class PortfolioResult:
    """Per bar: account equity, target weights in force after that close, fees paid and gross leverage
    (notional / equity) at that close; liquidated_at = first bar index of an account liquidation or -1."""

    equity: np.ndarray
    weights: np.ndarray
    fees: np.ndarray
    gross_leverage: np.ndarray
    liquidated_at: int
    holdings: np.ndarray | None = None  # each member's allocation / equity at the last close (drifted)
    rebalances: int = 0  # weight decisions from trailing returns: the scheduled ones, and an opening after bar 0
    fallbacks: int = 0  # of them, those where the rule set no weight itself (rule_weights: equal shares)


def cap_weights(raw: np.ndarray, gross: float, cap: float) -> np.ndarray:
    """raw >= 0 scaled to sum to gross, each capped at cap, the excess redistributed pro rata to the rest."""
    w = np.zeros(len(raw))
    free = raw > 0
    left = gross
    while free.any() and left > 1e-15:
        share = raw[free] / raw[free].sum() * left
        over = share > cap - w[free] + 1e-15
        idx = np.flatnonzero(free)
        if not over.any():
            w[idx] += share
            break
        w[idx[over]] = cap
        free[idx[over]] = False
        left = gross - w.sum()
    return w


def _risk_parity(cov, iters, tol):
    """Long-only weights (summing to 1) with equal risk contributions w_i (cov w)_i, by cyclical coordinate
    descent (Griveau-Billon, Richard, Roncalli 2013): w_i = (-a + sqrt(a^2 + 4 cov_ii b)) / (2 cov_ii)."""
    n = cov.shape[0]
    w = 1.0 / np.sqrt(np.diag(cov))
    w = w / w.sum()
    b = 1.0 / n
    for _ in range(iters):
        change = 0.0
        for i in range(n):
            a = cov[i] @ w - cov[i, i] * w[i]
            new = (-a + math.sqrt(a * a + 4.0 * cov[i, i] * b)) / (2.0 * cov[i, i])
            change = max(change, abs(new - w[i]))
            w[i] = new
        if change < tol:
            break
    return w / w.sum()


def _own_variances(h: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Sample variance of each member's own returns among the rows of h (own: it had started); 0 with
    fewer than 2, and exactly 0 where they are all equal (the mean of a constant 0.001 rounds, and its
    variance came out ~4e-37: an inverse-vol weight of ~100 %)."""
    counts = own.sum(axis=0)
    mean = np.divide((h * own).sum(axis=0), counts, out=np.zeros(h.shape[1]), where=counts > 0)
    sq = (np.where(own, h - mean, 0.0) ** 2).sum(axis=0)
    var = np.divide(sq, counts - 1, out=np.zeros(h.shape[1]), where=counts > 1)
    return np.where(_moved(h, own), var, 0.0)


def _moved(h: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per column, whether its values among the marked rows (a mask of h's shape, or of its rows as a column)
    differ at all (exactly, not by a variance)."""
    hi = np.where(rows, h, -np.inf).max(axis=0, initial=-np.inf)
    lo = np.where(rows, h, np.inf).min(axis=0, initial=np.inf)
    return hi > lo


def rule_weights(history: np.ndarray, live: np.ndarray, cfg: PortfolioConfig,
                 started: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Unscaled weights from the trailing returns (rows = bars up to the rebalance, columns = members;
    started[t, i]: member i had begun by bar t and not ended before it (align's live mask), so row t holds
    its return; default: every row), and whether a risk rule fell back: no live member had min_history own
    returns that moved, so the rule set no weight itself and gave equal shares (a short window's rules were
    then one account three times, and nothing said so). A member's volatility comes from its own returns only
    (the zeros before it started or after it ended are not returns); one with fewer than min_history of them
    gets an equal share (1 / live members) and the risk rule divides the rest among the others, on the
    covariance of the bars they all had."""
    n = history.shape[1]
    raw = np.where(live, 1.0, 0.0)
    if cfg.rule == "equal" or not live.any():
        return raw, False
    began = np.ones(history.shape, bool) if started is None else np.asarray(started, bool)
    h, own = history[-cfg.lookback:], began[len(history) - min(len(history), cfg.lookback):]
    var = _own_variances(h, own)
    short = live & (began.sum(axis=0) < max(cfg.min_history, 2))
    use = live & ~short & (var > 0)
    if not use.any():  # only short members (equal shares), or every other one never moved
        return _equal_shares(short, raw), True
    out = np.zeros(n)
    if cfg.rule == "inverse_vol":
        out[use] = 1.0 / np.sqrt(var[use])
    elif cfg.rule == "risk_parity":
        common = own[:, use].all(axis=1)  # bars every member of the rule had: at least min_history of them
        # a member idle over those bars has no risk there to balance (its diagonal would be the ridge alone,
        # and it took ~100 %): left out like one that never moved, the shared bars taken again without it
        idle = np.flatnonzero(use)[~_moved(h[:, use], common[:, None])]
        if len(idle):
            use[idle] = False
            if not use.any():
                return _equal_shares(short, raw), True
            common = own[:, use].all(axis=1)
        cov = np.atleast_2d(np.cov(h[common][:, use], rowvar=False, ddof=1))
        compile_once(globals(), ("_risk_parity",))  # numba, on first use (python_assets/platform/jit.py)
        out[use] = _risk_parity(cov + np.eye(len(cov)) * 1e-12 * np.trace(cov), 10_000, 1e-12)
    else:
        raise ValueError(f"unknown allocation rule {cfg.rule!r}: one of {', '.join(RULES)}")
    equal_share = 1.0 / live.sum()
    out[use] *= (1.0 - short.sum() * equal_share) / out[use].sum()
    out[short] = equal_share
    return out, False


def _equal_shares(short: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """A risk rule's weights when it can weigh no member: the short members equally, else every live one."""
    return np.where(short, 1.0, 0.0) if short.any() else raw


def rebalance_weights(history: np.ndarray, live: np.ndarray, cfg: PortfolioConfig,
                      started: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Weights of the account equity per member for one rebalance (trailing returns only), and whether the
    rule fell back to equal shares there (rule_weights)."""
    raw, fell_back = rule_weights(history, live, cfg, started)
    return cap_weights(raw, cfg.gross_leverage, cfg.max_weight), fell_back


def target_weights(history: np.ndarray, live: np.ndarray, cfg: PortfolioConfig,
                   started: np.ndarray | None = None) -> np.ndarray:
    """Weights of the account equity per member for one rebalance (trailing returns only)."""
    return rebalance_weights(history, live, cfg, started)[0]


def check_config(cfg: PortfolioConfig) -> None:
    """One clear error for an unusable configuration."""
    if cfg.rule not in RULES:
        raise ValueError(f"unknown allocation rule {cfg.rule!r}: one of {', '.join(RULES)}")
    if not (cfg.max_weight > 0 and cfg.gross_leverage > 0 and cfg.lookback >= 2 and cfg.initial_equity > 0):
        raise ValueError("max_weight, gross_leverage and initial_equity must be > 0 and lookback >= 2")
    if not (cfg.maintenance_margin >= 0 and cfg.liquidation_fee >= 0 and cfg.taker_fee >= 0):
        raise ValueError("fees and maintenance_margin must be >= 0")


def run_portfolio(returns: np.ndarray, exposure: np.ndarray, rebalance: np.ndarray, cfg: PortfolioConfig,
                  live: np.ndarray | None = None, start: int = 0, held: np.ndarray | None = None,
                  closing: float = 0.0) -> PortfolioResult:
    """The account over bars (rows) and members (columns); rebalance[t] marks a rebalance at the close of t.
    The account opens before bar `start` with weights from the returns before it (none at 0); there it trades
    to them from what it already holds (held[i]: allocation / equity carried in member i, default none) at the
    previous close, paying the taker fee on |w - held| x that close's exposure, and on `closing` (notional /
    equity of carried positions it no longer holds); before `start` its equity is the initial equity.
    live[t, i] = member i has bars (from its first to its last: align); a member past its last bar gets
    weight 0 at the next rebalance."""
    check_config(cfg)
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64))
    x = np.nan_to_num(np.abs(np.asarray(exposure, dtype=np.float64)))
    t_n, m = r.shape
    live = np.ones((t_n, m), bool) if live is None else np.asarray(live, bool)
    equity, fees, gross = np.full(t_n, float(cfg.initial_equity)), np.zeros(t_n), np.zeros(t_n)
    weights = np.zeros((t_n, m))
    w, fell_back = rebalance_weights(r[:start], live[start] if start < t_n else np.zeros(m, bool), cfg,
                                     live[:start] if start else None)
    rebalances, fallbacks = (1, int(fell_back)) if 0 < start < t_n else (0, 0)  # bar 0's opening reads no returns
    alloc = w * cfg.initial_equity
    carried = np.zeros(m) if held is None else np.asarray(held, dtype=np.float64)
    turnover = float(np.abs(w - carried) @ x[start - 1]) if 0 < start <= t_n else 0.0
    opening_fee = cfg.taker_fee * cfg.initial_equity * (turnover + closing)
    cash = cfg.initial_equity - alloc.sum() - opening_fee
    if start < t_n:
        fees[start] = opening_fee
    liquidated_at, dead = -1, False
    for t in range(start, t_n):
        if dead:
            equity[t], weights[t] = 0.0, 0.0
            continue
        alloc = alloc * (1.0 + r[t])
        eq = cash + alloc.sum()
        notional = float(alloc @ x[t])
        if eq <= 0 or (notional > 0 and eq <= notional * (cfg.maintenance_margin + cfg.liquidation_fee)):
            eq = 0.0  # taken over at the bankruptcy price: the margin left goes to the insurance fund
            alloc, cash, w = np.zeros(m), 0.0, np.zeros(m)
            liquidated_at = t
            dead = True
            notional = 0.0
        elif t < t_n - 1 and rebalance[t]:
            w, fell_back = rebalance_weights(r[: t + 1], live[t + 1], cfg, live[: t + 1])
            rebalances, fallbacks = rebalances + 1, fallbacks + int(fell_back)
            target = w * eq
            fee = cfg.taker_fee * float(np.abs(target - alloc) @ x[t])
            fees[t] += fee
            notional = float(target @ x[t])
            alloc, cash = target, eq - target.sum() - fee
            eq -= fee
        equity[t] = eq
        weights[t] = w
        gross[t] = notional / eq if eq > 0 else 0.0
    last = equity[-1] if t_n else 0.0
    return PortfolioResult(equity, weights, fees, gross, liquidated_at,
                           alloc / last if last > 0 else np.zeros(m), rebalances, fallbacks)


def member_stream(equity: np.ndarray, position: np.ndarray, close: np.ndarray, initial: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(returns, exposure) of one member from its engine equity and signed position per close."""
    prev = np.r_[initial, equity[:-1]]
    ret = np.divide(equity - prev, prev, out=np.zeros(len(equity)), where=prev > 0)
    exp = np.divide(np.abs(position) * close, equity, out=np.zeros(len(equity)), where=equity > 0)
    return ret, exp


def align(bar_ms: list[np.ndarray], values: list[np.ndarray], hold: bool = False
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(union of bar times, values on it, live mask: from the member's first bar to its last). Where a member
    has no bar the value is 0 (returns: nothing moved), or with hold its value at its last bar (exposure: a
    position held through a bar-less hour is still open; 0 before its first bar and after its last)."""
    times = np.unique(np.concatenate(bar_ms)) if bar_ms else np.zeros(0, np.int64)
    out = np.zeros((len(times), len(values)))
    live = np.zeros((len(times), len(values)), bool)
    for i, (ms, v) in enumerate(zip(bar_ms, values)):
        idx = np.searchsorted(times, ms)
        if hold and len(ms):
            span = slice(idx[0], idx[-1] + 1)  # no position is open past its last bar (the engine closed it there)
            last = np.searchsorted(ms, times[span], side="right") - 1  # the member's bar at or before each time
            out[span, i] = np.asarray(v)[last]
        else:
            out[idx, i] = v
        if len(ms):
            live[idx[0]:idx[-1] + 1, i] = True
    return times, out, live


def daily_schedule(bar_ms: np.ndarray, period_ms: int) -> np.ndarray:
    """Rebalance at the close of the last bar of each period (e.g. the UTC day)."""
    period = np.asarray(bar_ms, dtype=np.int64) // period_ms
    return np.r_[period[1:] != period[:-1], True] if len(period) else np.zeros(0, bool)


def curve_stats(equity: np.ndarray, initial: float, periods_per_year: float) -> dict[str, float]:
    """Total return, annualised Sharpe of the bar returns (zero risk-free rate) and max drawdown (a fraction
    <= 0, as bt_equity_stats and backtesting.py's "Max. Drawdown" give it) of a curve. A bar after equity reached 0 has no return (bt_equity_stats' NULL): counted as 0, it moved the Sharpe.
    A Sharpe needs two bar returns (NaN below), the minimum strategy_backtest_results has (stddev_samp)."""
    if not len(equity):
        return {"total_return": 0.0, "sharpe": math.nan, "max_drawdown": 0.0}
    prev = np.r_[initial, equity[:-1]]
    ret = (equity - prev)[prev > 0] / prev[prev > 0]
    sd = ret.std(ddof=1) if len(ret) > 1 else 0.0  # a series flat up to rounding has no Sharpe (dsr.is_flat)
    peak = np.maximum.accumulate(np.r_[initial, equity])[1:]
    return {"total_return": float(equity[-1] / initial - 1),
            "sharpe": float(ret.mean() / sd * math.sqrt(periods_per_year)) if not is_flat(ret) else math.nan,
            "max_drawdown": float(np.min(equity / peak - 1))}


def summary(result: PortfolioResult, initial: float, periods_per_year: float) -> dict[str, float]:
    """curve_stats plus mean and max gross leverage and the fees the account paid."""
    lev = result.gross_leverage
    return {**curve_stats(result.equity, initial, periods_per_year),
            "gross_leverage_mean": float(lev.mean()) if len(lev) else 0.0,
            "gross_leverage_max": float(lev.max()) if len(lev) else 0.0, "fees_paid": float(result.fees.sum())}


def correlation(returns: np.ndarray, started: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation of the members' returns, each pair over the bars both had (started[t, i]:
    member i had begun by bar t and not yet ended; the zeros outside its bars are not returns); NaN where a member
    never moves there (all its values equal) or they share fewer than 2 bars."""
    r = np.asarray(returns, dtype=float)
    own = np.ones(r.shape, bool) if started is None else np.asarray(started, bool)
    m = r.shape[1]
    out = np.full((m, m), np.nan)
    for i in range(m):
        for j in range(i, m):
            both = own[:, i] & own[:, j]
            a, b = r[both, i], r[both, j]
            if len(a) >= 2 and np.ptp(a) > 0 and np.ptp(b) > 0:  # exactly: a constant's std rounds above 0
                out[i, j] = out[j, i] = float(((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std()))
    return out
