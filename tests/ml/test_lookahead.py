"""The lookahead check: a feature that peeks one bar ahead, straddles t with a centred window, or is a
noisy or shorter copy of a forward return is caught (the label check catches only near-copies of the
12-bar label); honest features, momentum on a trending series included, are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_assets.ml.dataset import HORIZON_BARS, Dataset
from python_assets.ml.lookahead import (check_lookahead, lookahead_strengths, rank_correlations, series_returns,
                                         value_runs)
from python_assets.ml.validation import LOOKAHEAD, leakage_report

BAR_MS = 300_000


def garch_closes(n: int, rng: np.random.Generator) -> np.ndarray:
    """A GARCH(1,1) close path with Student-t shocks (volatility clusters, no drift)."""
    r, v = np.empty(n), 0.002
    for t in range(n):
        v = np.sqrt(1e-7 + 0.05 * (r[t - 1] if t else 0.0) ** 2 + 0.93 * v * v)
        r[t] = v * rng.standard_t(5) / np.sqrt(5 / 3)
    return 100 * np.exp(np.cumsum(r))


def ar_closes(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """A trending close path: one-bar log returns follow an AR(1) with coefficient phi."""
    r = np.empty(n)
    r[0] = 0.0
    for t in range(1, n):
        r[t] = phi * r[t - 1] + 0.002 * rng.normal()
    return 100 * np.exp(np.cumsum(r))


def lead(a: np.ndarray, k: int) -> np.ndarray:
    return np.r_[a[k:], np.full(k, np.nan)]


def lag(a: np.ndarray, k: int) -> np.ndarray:
    return np.r_[np.full(k, np.nan), a[:-k]]


def honest(close: np.ndarray) -> dict[str, np.ndarray]:
    """Features known at t, computed from closes up to t: returns, volatility, RSI-like, z-score, EMA gap."""
    s = pd.Series(close)
    lr = np.log(s).diff()
    up, down = lr.clip(lower=0).rolling(14).mean(), (-lr.clip(upper=0)).rolling(14).mean()
    return {"ret_1": (s / s.shift(1) - 1).to_numpy(), "ret_12": (s / s.shift(12) - 1).to_numpy(),
            "ret_60": (s / s.shift(60) - 1).to_numpy(), "vol_12": np.sqrt((lr ** 2).rolling(12).mean()).to_numpy(),
            "rsi_14": (100 - 100 / (1 + up / down)).to_numpy(),
            "zscore_20": ((s - s.rolling(20).mean()) / s.rolling(20).std()).to_numpy(),
            "ema_gap_26": (s / s.ewm(span=26, adjust=False).mean() - 1).to_numpy()}


def leaks(close: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The review's planted leaks: each reads bars after t."""
    fwd = lead(close, HORIZON_BARS) / close - 1
    return {"next_bar_ret": lead(close, 1) / close - 1, "centred_ret_6": lead(close, 6) / lag(close, 6) - 1,
            "fwd_plus_noise": fwd + np.nanstd(fwd) * rng.normal(size=len(close)),
            "fwd_ret_6": lead(close, 6) / close - 1}


def market(paths: list[np.ndarray], columns) -> Dataset:
    """Symbols S0.. with the given close paths and feature columns, rows in (bar, symbol) order, labels
    from the closes."""
    frames = []
    for k, close in enumerate(paths):
        fwd = lead(close, HORIZON_BARS) / close - 1
        frames.append(pd.DataFrame({"symbol": f"S{k}", "ts": np.arange(len(close), dtype=np.int64) * BAR_MS,
                                    "close": close, "fwd_return_12": fwd, **columns(close)}))
    df = pd.concat(frames).sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    names = [c for c in df.columns if c not in ("symbol", "ts", "close", "fwd_return_12")]
    fwd = df["fwd_return_12"].to_numpy()
    labels = {"fwd_return_12": fwd, "fwd_direction_12": np.where(np.isnan(fwd), np.nan, (fwd > 0) * 1.0)}
    return Dataset(df[names].to_numpy(np.float32), names, labels, df["ts"].to_numpy(), df["symbol"].to_numpy(object),
                   "5m", BAR_MS, np.full(len(df), 0.003), close=df["close"].to_numpy())


def test_one_bar_centred_noisy_and_shorter_lookahead_is_caught_and_honest_features_are_not():
    rng = np.random.default_rng(1)
    data = market([garch_closes(2500, rng) for _ in range(3)], lambda c: {**honest(c), **leaks(c, rng)})
    found = leakage_report(data, HORIZON_BARS)
    flagged = sorted({f for names in found.values() for f in names})
    assert flagged == sorted(leaks(np.ones(20), rng))  # every planted leak, no honest feature
    clean = [j for j, f in enumerate(data.features) if f in honest(np.ones(20))]
    for leak in ("next_bar_ret", "centred_ret_6"):  # under the label check's 0.9 against fwd_return_12
        cols = [*clean, data.features.index(leak)]
        one = Dataset(data.X[:, cols], [data.features[j] for j in cols], data.labels, data.ts, data.symbol,
                      "5m", BAR_MS, data.baseline_vol, close=data.close)
        assert leakage_report(one, HORIZON_BARS) == {LOOKAHEAD: [leak]}  # what blocks the models' training


def test_momentum_on_a_trending_series_is_not_a_leak_but_the_next_bar_still_is():
    """Returns with AR(1) 0.6: the last bar's return rank-correlates ~0.6 with the next one, above the 0.5
    bar, yet it is known at t; the past return predicts as much, so it is not flagged. The next bar's own
    return (1.0) is."""
    rng = np.random.default_rng(2)
    data = market([ar_closes(3000, 0.6, rng) for _ in range(2)],
                  lambda c: {"ret_1": honest(c)["ret_1"], "next_bar_ret": lead(c, 1) / c - 1})
    ahead = np.abs(rank_correlations(data.X, series_returns(data.close, data.ts, data.symbol)[0]))
    assert ahead[0, 0] > 0.55  # the honest feature is over the bare threshold
    assert check_lookahead(data.X, data.features, data.close, data.ts, data.symbol) == ["next_bar_ret"]


def test_forward_and_backward_returns_follow_each_symbols_rows_in_time_order():
    """Against pandas' groupby shift on rows in no particular order, a symbol with missing bars (its
    returns span its rows, as the labels do) and one with a single row."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"symbol": ["A"] * 40 + ["B"] * 30 + ["C"],
                          "ts": np.r_[np.arange(40), np.sort(rng.choice(60, 30, replace=False)), 5] * BAR_MS,
                          "close": rng.uniform(50, 150, 71)}).sample(frac=1, random_state=4)
    fwd, bwd = series_returns(frame["close"].to_numpy(), frame["ts"].to_numpy(), frame["symbol"].to_numpy(object))
    by = frame.sort_values("ts").groupby("symbol")["close"]
    for h in range(1, HORIZON_BARS + 1):
        ahead = np.log(by.shift(-h) / frame.sort_values("ts")["close"]).reindex(frame.index)
        behind = np.log(frame.sort_values("ts")["close"] / by.shift(h)).reindex(frame.index)
        np.testing.assert_allclose(fwd[:, h - 1], ahead.to_numpy(), rtol=1e-12, atol=1e-14, equal_nan=True)
        np.testing.assert_allclose(bwd[:, h - 1], behind.to_numpy(), rtol=1e-12, atol=1e-14, equal_nan=True)
    dup = series_returns(np.ones(4), np.array([0, 0, 1, 2]), np.array(["A"] * 4, dtype=object))[0]
    assert np.isnan(dup).all()  # two rows at one time: no series order to follow


def test_rank_correlations_equal_scipys_spearman():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(5)
    X = np.round(rng.normal(size=(300, 3)), 1)  # ties
    T = np.column_stack([X[:, 0] + rng.normal(size=300), rng.normal(size=300)])
    got = rank_correlations(X, T)
    for j in range(3):
        for k in range(2):
            assert got[j, k] == pytest.approx(stats.spearmanr(X[:, j], T[:, k])[0], abs=1e-12)
    assert np.isnan(rank_correlations(np.ones((300, 1)), T)).all()  # a constant has no correlation


def test_without_close_prices_the_lookahead_check_has_nothing_to_compare():
    X = np.zeros((50, 1), np.float32)
    assert check_lookahead(X, ["x"], None, np.arange(50), np.array(["A"] * 50, dtype=object)) == []


def hour_held_return(rng: np.random.Generator, n: int = 110, hours: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(close, feature) for one symbol's day of 5m bars drifting in a slow swing, and the trailing `hours`-hour
    return sampled at each hour and held over its 12 bars (known at t, like a 1h feature joined to 5m rows):
    ~9 values, smooth, so over a few hours it can rank-correlate with the next hour's return by chance."""
    warm, t = 12 * hours, np.arange(n)
    r = np.r_[0.002 * rng.normal(size=warm),
              0.002 * rng.normal(size=n) + 0.001 * np.sin(2 * np.pi * t / 150 + rng.uniform(0, 6))]
    close = pd.Series(100 * np.exp(np.cumsum(r)))
    every = np.arange(len(close))
    held = (close / close.shift(warm) - 1).where(every % 12 == 0).ffill().to_numpy()
    return close.to_numpy()[warm:], held[warm:]


def test_a_held_hourly_feature_on_a_short_series_is_not_called_a_leak_but_a_next_bar_peek_still_is():
    """A day of one symbol (110 rows, a 1h feature: ~9 values) is ~9 independent observations, not 110:
    the first-day run of a one-symbol warehouse failed the blocking check on htf_1h_rsi_14 (0.71 with the
    12-bar forward return). A correlation counts only over MIN_ROWS effective rows (n/h, at most the
    feature's runs of one value); a one-bar-ahead peek on the same rows (110 runs, h=1) is still caught."""
    flagged_before = 0
    for seed in range(40):
        close, held = hour_held_return(np.random.default_rng(seed))
        n = len(close)
        ts, symbol = np.arange(n) * BAR_MS, np.array(["A"] * n, dtype=object)
        peek = lead(close, 1) / close - 1
        X = np.column_stack([held, peek]).astype(np.float32)
        assert check_lookahead(X, ["held_1h", "next_bar_ret"], close, ts, symbol) == ["next_bar_ret"], seed
        ahead, explained = lookahead_strengths(X[:, :1], close, ts, symbol)
        assert np.isnan(ahead).all()  # ~9 runs: never enough to judge
        raw = np.abs(rank_correlations(X[:, :1], series_returns(close, ts, symbol)[0]))
        flagged_before += bool((np.nan_to_num(raw) >= np.maximum(0.5, explained + 0.2)).any())
    assert flagged_before >= 3  # what the check said before it counted effective rows


def test_value_runs_count_each_series_new_values():
    X = np.array([[1, np.nan], [1, 2], [2, 2], [2, np.nan], [5, 3], [5, 3]], np.float32)
    got = value_runs(X, np.array([0, 1, 2, 0, 1, 2]), np.array(list("AAABBB"), dtype=object))
    assert got.tolist() == [4.0, 2.0]  # A: 1, 2; B: 2, 5 (a new series starts over) | A: 2; B: 3
