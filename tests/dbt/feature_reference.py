"""Independent references for every registered feature: TA-Lib where it has the function, else pandas.

Each reference takes one (symbol, timeframe) series as a DataFrame (open, high, low, close, volume,
vwap, buy_volume, sell_volume; time order) and returns a float array aligned with it (NaN = no value).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib


def _cols(g: pd.DataFrame):
    return (g[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close", "volume"))


def _ratio(num, den):
    num, den = np.asarray(num, float), np.asarray(den, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den != 0, num / den, np.nan)


def _keltner(close, ema20, atr10):
    """(close - EMA20) / (2 ATR10), NaN where the channel is narrower than KELTNER_MIN_WIDTH of the close."""
    from python_assets.features.recursive import KELTNER_MIN_WIDTH

    with np.errstate(invalid="ignore"):
        wide = atr10 > KELTNER_MIN_WIDTH * np.abs(close)
    return np.where(wide, _ratio(close - ema20, 2 * atr10), np.nan)


def _rolling(x, n):
    return pd.Series(x).rolling(n, min_periods=n)


def price(g):
    o, h, lo, c, v = _cols(g)
    prev = pd.Series(c).shift(1).to_numpy()
    return {
        "ret_1": talib.ROCP(c, 1), "ret_5": talib.ROCP(c, 5), "ret_20": talib.ROCP(c, 20),
        "log_ret_1": np.log(talib.ROCR(c, 1)), "log_ret_5": np.log(talib.ROCR(c, 5)),
        "log_ret_20": np.log(talib.ROCR(c, 20)), "log_ret_60": np.log(talib.ROCR(c, 60)),
        "gap_pct": o / prev - 1,
        "body_ratio": _ratio(c - o, h - lo),
        "upper_wick_ratio": _ratio(h - np.maximum(o, c), h - lo),
        "lower_wick_ratio": _ratio(np.minimum(o, c) - lo, h - lo),
        "hl_range_pct": (h - lo) / c,
        "dist_high_20": c / talib.MAX(h, 20) - 1, "dist_low_20": c / talib.MIN(lo, 20) - 1,
        "close_zscore_20": _ratio(c - talib.SMA(c, 20), talib.STDDEV(c, 20, 1)),
    }


def volume(g):
    o, h, lo, c, v = _cols(g)
    buy, sell = g["buy_volume"].to_numpy(float), g["sell_volume"].to_numpy(float)
    mfv = np.nan_to_num(_ratio((c - lo) - (h - c), h - lo)) * v
    return {
        "vwap_dev": c / g["vwap"].to_numpy(float) - 1,
        "volume_ratio_20": v / talib.SMA(v, 20),
        "volume_zscore_20": _ratio(v - talib.SMA(v, 20), talib.STDDEV(v, 20, 1)),
        "buy_sell_imbalance": _ratio(buy - sell, buy + sell),
        "buy_sell_imbalance_20": _ratio(_rolling(buy - sell, 20).sum(), _rolling(buy + sell, 20).sum()),
        "mfi_14": talib.MFI(h, lo, c, v, 14),
        "cmf_20": _ratio(_rolling(mfv, 20).sum(), _rolling(v, 20).sum()),
    }


def volatility(g):
    o, h, lo, c, v = _cols(g)
    prev = pd.Series(c).shift(1).to_numpy()
    r = np.log(c / prev)
    hl2 = np.log(h / lo) ** 2
    rs = np.log(h / c) * np.log(h / o) + np.log(lo / c) * np.log(lo / o)
    k = 0.34 / (1.34 + 21 / 19)
    yz = np.sqrt(_rolling(np.log(o / prev), 20).var(ddof=1) + k * _rolling(np.log(c / o), 20).var(ddof=1)
                 + (1 - k) * _rolling(rs, 20).mean()).to_numpy()
    upper, middle, lower = talib.BBANDS(c, 20, 2, 2, 0)
    return {
        "true_range": talib.TRANGE(h, lo, c),
        "realized_vol_20": _rolling(r, 20).std(ddof=1).to_numpy(),
        "parkinson_vol_20": np.sqrt(_rolling(hl2, 20).mean() / (4 * np.log(2))).to_numpy(),
        "garman_klass_vol_20": np.sqrt(_rolling(0.5 * hl2 - (2 * np.log(2) - 1) * np.log(c / o) ** 2, 20).mean()).to_numpy(),
        "rogers_satchell_vol_20": np.sqrt(_rolling(rs, 20).mean()).to_numpy(),
        "yang_zhang_vol_20": yz,
        "bb_upper_20": upper, "bb_lower_20": lower,
        "bb_width_20": _ratio(upper - lower, middle), "bb_pctb_20": _ratio(c - lower, upper - lower),
    }


def technical(g):
    o, h, lo, c, v = _cols(g)
    slowk, slowd = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    down, up = talib.AROON(h, lo, 25)
    hh, ll = talib.MAX(h, 20), talib.MIN(lo, 20)
    return {
        "sma_10": talib.SMA(c, 10), "sma_20": talib.SMA(c, 20), "sma_50": talib.SMA(c, 50),
        "wma_20": talib.WMA(c, 20), "ppo_12_26": talib.PPO(c, 12, 26, 0),
        "linreg_slope_20": talib.LINEARREG_SLOPE(c, 20),
        "stoch_k_14": slowk, "stoch_d_3": slowd, "willr_14": talib.WILLR(h, lo, c, 14),
        "cci_20": talib.CCI(h, lo, c, 20), "aroon_up_25": up, "aroon_down_25": down,
        "aroon_osc_25": talib.AROONOSC(h, lo, 25), "roc_10": talib.ROC(c, 10), "mom_10": talib.MOM(c, 10),
        "ultosc_7_14_28": talib.ULTOSC(h, lo, c, 7, 14, 28),
        "donchian_high_20": hh, "donchian_low_20": ll, "donchian_mid_20": (hh + ll) / 2,
    }


def recursive(g):
    o, h, lo, c, v = _cols(g)
    line, sig, hist = talib.MACD(c, 12, 26, 9)
    return {
        "ema_12": talib.EMA(c, 12), "ema_26": talib.EMA(c, 26), "ema_50": talib.EMA(c, 50),
        "dema_20": talib.DEMA(c, 20), "tema_20": talib.TEMA(c, 20),
        "macd_12_26": line, "macd_signal_9": sig, "macd_hist": hist,
        "rsi_14": talib.RSI(c, 14), "atr_14": talib.ATR(h, lo, c, 14), "natr_14": talib.NATR(h, lo, c, 14),
        "adx_14": talib.ADX(h, lo, c, 14), "plus_di_14": talib.PLUS_DI(h, lo, c, 14),
        "minus_di_14": talib.MINUS_DI(h, lo, c, 14), "trix_15": talib.TRIX(c, 15),
        "keltner_pos_20": _keltner(c, talib.EMA(c, 20), talib.ATR(h, lo, c, 10)),
        "obv": talib.OBV(c, v), "ad_line": talib.AD(h, lo, c, v),
    }


def regime(g):
    o, h, lo, c, v = _cols(g)
    rv = _rolling(np.log(c / pd.Series(c).shift(1).to_numpy()), 20).std(ddof=1)
    pct = rv.rolling(100, min_periods=100).apply(lambda w: np.mean(w <= w[-1] * (1 + 1e-9)), raw=True).to_numpy()
    r1 = np.log(c / pd.Series(c).shift(1).to_numpy())
    r5 = np.log(c / pd.Series(c).shift(5).to_numpy())
    vr = _ratio(_rolling(r5, 20).var(ddof=1), 5 * _rolling(r1, 20).var(ddof=1))
    change = np.abs(np.diff(c, prepend=np.nan))
    er = _ratio(np.abs(c - pd.Series(c).shift(20).to_numpy()), _rolling(change, 20).sum())
    adx, pdi, mdi = talib.ADX(h, lo, c, 14), talib.PLUS_DI(h, lo, c, 14), talib.MINUS_DI(h, lo, c, 14)
    label = np.where(np.isnan(pct) | np.isnan(adx), None,
             np.where((pct >= 0.9) & (rv > 0), "high_vol",
             np.where((adx >= 25) & (pdi > mdi), "trend_up",
             np.where((adx >= 25) & (mdi > pdi), "trend_down", "range"))))
    return {"vol_percentile_100": pct, "variance_ratio_20": vr, "efficiency_ratio_20": er, "regime": label}


def all_references(g: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {}
    for family in (price, volume, volatility, technical, recursive, regime):
        out.update(family(g))
    return out
