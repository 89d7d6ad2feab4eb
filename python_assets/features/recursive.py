"""Recursive indicators (EMA family, Wilder smoothing, cumulative lines) exactly as TA-Lib seeds them.

SQL window frames cannot carry state from one row to the next, so these ~25% of the features are
computed here with first-order recursions (compiled loops: C speed, TA-Lib's update statements and
in-order seed sums) and run as the dbt Python model feat_recursive. DI/ADX, TRIX, OBV and AD match
TA-Lib 0.8 bit for bit; the EMA family and the MACD line to the last bit or one ulp (TA-Lib's compiled
EMA update (x - y) * k + y may be one fused multiply-add, which NumPy and numba round twice: on a
trend ~1e-16 relative, ~4e-12 on the MACD histogram's small differences); its Wilder average (ATR,
RSI) to ~1e-14 relative. Returns are NaN during the warm-up.

Every recursion is a stream that can stop after any bar and resume from a carried state vector
(STATE_FIELDS: warm-up counters, in-order seed sums, last values, the previous bar): a series run
in daily pieces performs the same floating-point operations in the same order as one full pass,
so an incremental day is bit-identical to a full rebuild.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from python_assets.platform.jit import compile_once
from python_assets.platform.timeframes import DAY_MS

if TYPE_CHECKING:
    import pandas as pd

FEATURE_COLUMNS = (
    "ema_12", "ema_26", "ema_50", "dema_20", "tema_20", "macd_12_26", "macd_signal_9", "macd_hist",
    "rsi_14", "atr_14", "natr_14", "adx_14", "plus_di_14", "minus_di_14", "trix_15", "keltner_pos_20",
    "obv", "ad_line",
)

# Stream kinds: how a recursion is seeded (its update statement follows from the kind).
EMA, EMA_AT, WILDER_AVERAGE, WILDER_SUM, ADX = 0, 1, 2, 3, 4
MACD_SEED_INDEX = 25  # TA-Lib starts both MACD EMAs at index slow-1
# A Keltner channel narrower than this fraction of the close has no position in it: on a flat run ATR10
# decays by 0.9 a bar while EMA20 stalls a few ulp off the close, so (close - EMA20) / (2 ATR10) was
# rounding noise over a vanishing width (1e46 after a long flat run; exactly, it grows too). At 1e-9 of the
# price the ulp noise (a few 1e-16 of the price) is < 1e-6 of a channel width (the parity tests'
# tolerance), and a channel one tick wide still has a position: 1e-7 (the old bound) NULLed every bar of
# a quiet pair at 1.5e6 on a 0.01 tick (6.7e-9 of its price; BTC at 1e5 on 0.001 is 1e-8). NULL below it.
KELTNER_MIN_WIDTH = 1e-9

# name -> (kind, n): each carries (count, sum, value) in the state vector, in this order.
STREAMS = {
    "ema_12": (EMA, 12), "ema_26": (EMA, 26), "ema_50": (EMA, 50),
    "ema_20": (EMA, 20), "ema_20_of_ema": (EMA, 20), "ema_20_of_ema_of_ema": (EMA, 20),
    "macd_fast": (EMA_AT, 12), "macd_slow": (EMA_AT, 26), "macd_signal": (EMA, 9),
    "trix_ema": (EMA, 15), "trix_ema_of_ema": (EMA, 15), "trix_ema_of_ema_of_ema": (EMA, 15),
    "rsi_gain": (WILDER_AVERAGE, 14), "rsi_loss": (WILDER_AVERAGE, 14),
    "atr_14": (WILDER_AVERAGE, 14), "atr_10": (WILDER_AVERAGE, 10),
    "dm_true_range": (WILDER_SUM, 14), "dm_plus": (WILDER_SUM, 14), "dm_minus": (WILDER_SUM, 14),
    "adx": (ADX, 14),
}
# Values of the last bar itself: the bar count, the previous bar's prices, the lines' last values.
LAST_BAR_FIELDS = ("bars", "prev_high", "prev_low", "prev_close", "prev_trix_ema3", "obv", "ad_line")
STATE_FIELDS = LAST_BAR_FIELDS + tuple(f"{s}_{part}" for s in STREAMS for part in ("count", "sum", "value"))
_AT = {name: i for i, name in enumerate(STATE_FIELDS)}


def initial_state() -> np.ndarray:
    """State of a series before its first bar: no bars, no previous prices, empty seed sums."""
    state = np.zeros(len(STATE_FIELDS))
    for name in ("prev_high", "prev_low", "prev_close", "prev_trix_ema3"):
        state[_AT[name]] = np.nan
    for name in STREAMS:
        state[_AT[f"{name}_value"]] = np.nan
    return state


# TA-Lib's own update statements in one compiled loop. The arithmetic is theirs, not an equivalent
# form: k * x + (1 - k) * y rounds differently from (x - y) * k + y, and ratios of quantities that
# decay together (Keltner position in a run of flat bars) amplify that last-bit difference past 1e-6.
# Compiled by numba on first use (compile_once in series_features): importing this module loads no numba.
def _stream(kind: int, n: int, x: np.ndarray, out: np.ndarray, st: np.ndarray, snaps: np.ndarray, snap_st: np.ndarray) -> None:
    """Run one recursion over x from state st = (count, sum, value), in place; record the state after
    each row in snaps into the columns of snap_st. Seeds are sums from 0.0 in input order (numpy's
    sum is pairwise), as TA-Lib seeds its averages.
    EMA: SMA of the first n values from the first non-NaN one, then y = (x - y) * k + y (ta_EMA.c).
    EMA_AT: seeded at bar MACD_SEED_INDEX with the SMA of the n bars ending there (ta_MACD.c).
    WILDER_AVERAGE: SMA of bars 1..n, then y = (y * (n - 1) + x) / n (ta_ATR.c, ta_RSI.c).
    WILDER_SUM: sum of bars 1..n-1 (not shown), then y = y - y / n + x (DM and TR sums of ta_ADX.c).
    ADX: mean of the defined DX of bars n..2n-1, then as WILDER_AVERAGE, keeping y where DX is NaN."""
    count, total, y = int(st[0]), st[1], st[2]
    k = 2.0 / (n + 1.0)
    j = 0
    for t in range(len(x)):
        v = x[t]
        r = np.nan
        if kind == EMA:
            if count >= n:
                y = (v - y) * k + y
                r = y
            elif count > 0 or not np.isnan(v):
                total += v
                count += 1
                if count == n:
                    y = total / n
                    r = y
        else:
            i = count  # bars of the series before this one
            count += 1
            if kind == EMA_AT:
                if i > MACD_SEED_INDEX:
                    y = (v - y) * k + y
                    r = y
                elif i > MACD_SEED_INDEX - n:
                    total += v
                    if i == MACD_SEED_INDEX:
                        y = total / n
                        r = y
            elif kind == WILDER_AVERAGE:
                if i > n:
                    y = (y * (n - 1) + v) / n
                    r = y
                elif i >= 1:
                    total += v
                    if i == n:
                        y = total / n
                        r = y
            elif kind == WILDER_SUM:
                if i >= n:
                    y = y - y / n + v
                    r = y
                elif i >= 1:
                    total += v
                    if i == n - 1:
                        y = total
            else:  # ADX
                if i > 2 * n - 1:
                    if not np.isnan(v):
                        y = (y * (n - 1) + v) / n
                    r = y
                elif i >= n:
                    if not np.isnan(v):
                        total += v
                    if i == 2 * n - 1:
                        y = total / n
                        r = y
        out[t] = r
        while j < len(snaps) and snaps[j] == t:
            snap_st[0, j], snap_st[1, j], snap_st[2, j] = count, total, y
            j += 1
    st[0], st[1], st[2] = count, total, y


def _lagged(first: float, x: np.ndarray) -> np.ndarray:
    """x shifted one bar later, with the carried previous bar's value (NaN for a new series) first."""
    return np.concatenate(([first], x[:-1]))


def _accumulate(start: float, bars_before: float, x: np.ndarray) -> np.ndarray:
    """Running sum continued from start (np.cumsum adds in order: same bits in one piece or many)."""
    return np.cumsum(x) if bars_before == 0 else np.cumsum(np.concatenate(([start], x)))[1:]


def _ratio_pct(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """100 * part / whole, 0 where whole is 0 and NaN where whole is NaN (TA-Lib's RSI and DI)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, 100.0 * (part / whole), np.where(np.isnan(whole), np.nan, 0.0))


def series_features(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                    state: np.ndarray | None = None, snaps: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All recursive features of the next bars of one series, continued from state (updated in place;
    a new series when None), and the state after each row in snaps, one column per snap."""
    compile_once(globals(), ("_stream",))  # numba, on first use (python_assets/platform/jit.py)
    state = initial_state() if state is None else state
    snaps = np.zeros(0, dtype=np.int64) if snaps is None else np.asarray(snaps, dtype=np.int64)
    snap = np.empty((len(STATE_FIELDS), len(snaps)))

    def run(name: str, x: np.ndarray) -> np.ndarray:
        kind, n = STREAMS[name]
        at, out = _AT[f"{name}_count"], np.empty(len(x))
        _stream(kind, n, np.ascontiguousarray(x, dtype=np.float64), out, state[at : at + 3], snaps, snap[at : at + 3])
        return out

    prev_h, prev_l, prev_c = (_lagged(state[_AT[f"prev_{p}"]], x) for p, x in (("high", high), ("low", low), ("close", close)))
    e20 = run("ema_20", close)
    e20_2 = run("ema_20_of_ema", e20)
    line = run("macd_fast", close) - run("macd_slow", close)
    sig = run("macd_signal", line)
    line = np.where(np.isnan(sig), np.nan, line)
    change = close - prev_c
    rsi = _rsi(run("rsi_gain", np.where(change > 0, change, 0.0)), run("rsi_loss", np.where(change < 0, -change, 0.0)))
    tr = np.maximum.reduce([high - low, np.abs(high - prev_c), np.abs(low - prev_c)])  # NaN on a series' first bar
    atr14, atr10 = run("atr_14", tr), run("atr_10", tr)
    plus_di, minus_di, adx = _directional(run, high - prev_h, -(low - prev_l), tr)
    e3 = run("trix_ema_of_ema_of_ema", run("trix_ema_of_ema", run("trix_ema", close)))
    with np.errstate(invalid="ignore", divide="ignore"):
        keltner = np.where(atr10 > KELTNER_MIN_WIDTH * np.abs(close), (close - e20) / (2.0 * atr10), np.nan)
        trix = ((e3 / _lagged(state[_AT["prev_trix_ema3"]], e3)) - 1.0) * 100.0
        mfv = np.where(high - low > 0, ((close - low) - (high - close)) / (high - low) * volume, 0.0)
    bars = state[_AT["bars"]]
    step = np.sign(change) * volume
    if bars == 0:
        step[0] = volume[0]  # OBV starts at the first volume
    obv, ad = _accumulate(state[_AT["obv"]], bars, step), _accumulate(state[_AT["ad_line"]], bars, mfv)
    out = {
        "ema_12": run("ema_12", close), "ema_26": run("ema_26", close), "ema_50": run("ema_50", close),
        "dema_20": 2 * e20 - e20_2, "tema_20": 3 * e20 - 3 * e20_2 + run("ema_20_of_ema_of_ema", e20_2),
        "macd_12_26": line, "macd_signal_9": sig, "macd_hist": line - sig,
        "rsi_14": rsi, "atr_14": atr14, "natr_14": atr14 / close * 100.0,
        "adx_14": adx, "plus_di_14": plus_di, "minus_di_14": minus_di, "trix_15": trix,
        "keltner_pos_20": np.where(np.isnan(e20), np.nan, keltner), "obv": obv, "ad_line": ad,
    }
    last = {"bars": bars + 1 + np.arange(len(close)), "prev_high": high, "prev_low": low, "prev_close": close,
            "prev_trix_ema3": e3, "obv": obv, "ad_line": ad}
    for name, values in last.items():
        snap[_AT[name]] = values[snaps]
        state[_AT[name]] = values[-1]
    return {k: out[k] for k in FEATURE_COLUMNS}, snap


def _rsi(gain: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """TA-Lib RSI from Wilder-averaged gains and losses: 100 gain / (gain + loss), 0 when both are 0."""
    return _ratio_pct(gain, gain + loss)


def _directional(run, up: np.ndarray, down: np.ndarray, tr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib PLUS_DI, MINUS_DI and ADX from the bar-to-bar moves and true range (first DI at bar n,
    first ADX at 2n-1; ADX keeps its previous value where DX is undefined: no range, no movement)."""
    s_tr = run("dm_true_range", tr)
    plus_di = _ratio_pct(run("dm_plus", np.where((up > 0) & (up > down), up, 0.0)), s_tr)
    minus_di = _ratio_pct(run("dm_minus", np.where((down > 0) & (down > up), down, 0.0)), s_tr)
    with np.errstate(invalid="ignore", divide="ignore"):
        di_sum = minus_di + plus_di
        dx = np.where(di_sum > 0, 100.0 * (np.abs(minus_di - plus_di) / di_sum), np.nan)
    return plus_di, minus_di, run("adx", dx)


def recursive_columns(columns: dict[str, np.ndarray], carried: dict[tuple[str, str], np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Keys (bar_date too when given), every recursive feature and the resume state, from column arrays sorted by (symbol,
    timeframe, bar_at_ms): each series is the run of rows with one (symbol, timeframe), continued
    from carried[(symbol, timeframe)] when given (the state after the bar just before these rows).
    resume_rows are the last row of each series on each UTC day; resume_state holds their states,
    one row each, in STATE_FIELDS order: what the next day's run resumes from."""
    symbol, timeframe = np.asarray(columns["symbol"]), np.asarray(columns["timeframe"])
    bar_at_ms = np.asarray(columns["bar_at_ms"])
    n = len(symbol)
    cut = np.flatnonzero((symbol[1:] != symbol[:-1]) | (timeframe[1:] != timeframe[:-1])) + 1
    bounds = np.r_[0, cut, n] if n else np.zeros(1, dtype=np.int64)
    day = bar_at_ms // DAY_MS
    day_end = np.ones(n, dtype=bool)
    day_end[:-1] = day[1:] != day[:-1]
    day_end[cut - 1] = True
    out = {name: np.full(n, np.nan) for name in FEATURE_COLUMNS}
    resume_rows = np.flatnonzero(day_end)
    resume_state = np.empty((len(resume_rows), len(STATE_FIELDS)))
    series = [np.asarray(columns[c], dtype=np.float64) for c in ("high", "low", "close", "volume")]
    carried = carried or {}
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        start = carried.get((symbol[lo], timeframe[lo]))
        state = None if start is None else np.array(start, dtype=np.float64)
        rows = slice(*np.searchsorted(resume_rows, [lo, hi]))
        values, snap = series_features(*(x[lo:hi] for x in series), state=state, snaps=resume_rows[rows] - lo)
        for name, v in values.items():
            out[name][lo:hi] = v
        resume_state[rows] = snap.T
    dates = {"bar_date": np.asarray(columns["bar_date"])} if "bar_date" in columns else {}  # passed through
    return {"symbol": symbol, "timeframe": timeframe, "bar_at_ms": bar_at_ms, **dates, **out,
            "resume_rows": resume_rows, "resume_state": resume_state}


def recursive_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Per (symbol, timeframe) series in bar_at_ms order: keys, every recursive feature and
    resume_state (a list on the last bar of each series and day, None elsewhere). A full pass."""
    import pandas as pd  # imported here: the dbt model (recursive_columns) runs without pandas, ~0.8 s

    ordered = bars.sort_values(["symbol", "timeframe", "bar_at_ms"], kind="stable")
    cols = recursive_columns({c: ordered[c].to_numpy() for c in ordered.columns})
    resume = [None] * len(cols["symbol"])
    for row, state in zip(cols.pop("resume_rows"), cols.pop("resume_state")):
        resume[row] = state.tolist()
    return pd.DataFrame({**cols, "resume_state": resume})
