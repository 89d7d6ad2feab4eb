"""The five models on planted data: a real signal is learned out of sample, shuffled labels stay at
chance, a leaking feature is caught, the embargo holds, a reloaded model predicts identically; the
metrics match scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from python_assets.ml.dataset import HORIZON_BARS, Dataset
from python_assets.ml.learners import load_learner
from python_assets.ml.metrics import classification, regression
from python_assets.ml.models import MODELS
from python_assets.ml.train import TrainConfig, train_model
from python_assets.ml.validation import (LeakageError, check_leakage, embargo_respected, label_known_at, leakage_report,
                                         purged_walk_forward)

BAR_MS = 300_000
HORIZON_MS = 12 * BAR_MS


def planted(n_times=2500, n_features=12, seed=0, shuffle=False) -> Dataset:
    """Three symbols; the forward return depends on feature 0 (and volatility on feature 1)."""
    rng = np.random.default_rng(seed)
    ts = np.repeat(np.arange(n_times, dtype=np.int64) * BAR_MS, 3)
    n = len(ts)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    latent = 0.6 * X[:, 0] + rng.normal(size=n)
    ret = 0.01 * latent
    vol = 0.002 * (1 + np.abs(X[:, 1])) + 0.0005 * rng.random(n)
    labels = {"fwd_return_12": ret, "fwd_direction_12": (ret > 0).astype(float),
              "fwd_momentum_class_12": np.digitize(latent, [-0.5, 0.5]).astype(float),
              "fwd_realized_vol_12": vol, "fwd_mae_12": -np.abs(ret), "fwd_adverse_12": (latent < -1).astype(float)}
    if shuffle:
        perm = rng.permutation(n)
        labels = {k: v[perm] for k, v in labels.items()}
    symbols = np.tile(np.array(["A", "B", "C"], dtype=object), n_times)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, (n_times, 3)), axis=0)).ravel()  # a walk per symbol
    return Dataset(X, [f"x{i}" for i in range(n_features)], labels, ts, symbols, "5m", BAR_MS, vol * 0 + 0.003,
                   close=close)


def overall(result, scorer):
    return next(s for s in result.scores if s["fold"] == "overall" and s["scorer"] == scorer)


@pytest.mark.parametrize("name", list(MODELS))
def test_planted_signal_is_learned_and_shuffled_labels_stay_at_chance(name, tmp_path):
    spec = MODELS[name]
    real = train_model(spec, planted(), tmp_path, TrainConfig(n_folds=3))
    control = train_model(spec, planted(shuffle=True), tmp_path, TrainConfig(n_folds=3))
    model, base = overall(real, "model"), overall(real, "baseline")
    noise = overall(control, "model")
    if spec.task == "regression":
        assert model["rmse"] < base["rmse"] and model["rank_ic"] > 0.3
        assert abs(noise["rank_ic"]) < 0.05
    else:
        assert model["log_loss"] < base["log_loss"] and model["auc"] > 0.6
        assert abs(noise["auc"] - 0.5) < 0.04 and noise["log_loss"] > overall(control, "baseline")["log_loss"] - 0.01


@pytest.mark.parametrize("name", ["direction_predictor", "price_predictor", "momentum_classifier"])
def test_a_reloaded_model_reproduces_its_predictions_exactly(name, tmp_path):
    data = planted(n_times=800)
    result = train_model(MODELS[name], data, tmp_path, TrainConfig(n_folds=2, fast=True))
    learner = load_learner(result.directory)
    rows = np.flatnonzero(np.isin(data.ts, result.latest["bar_at_ms"].to_numpy()))
    again = learner.predict(data.X[rows])
    cols = ["p_down", "p_flat", "p_up"] if MODELS[name].task == "multiclass" else ["prediction"]
    expected = result.latest[cols].to_numpy()
    assert np.array_equal(again.reshape(expected.shape), expected)
    meta = json.loads((result.directory / "metadata.json").read_text())
    assert meta["features"] == data.features and meta["label"] == MODELS[name].label
    assert meta["data_hash"] == data.data_hash and meta["training_rows"] == len(data.ts)
    # same data, seed and code -> the same version and the same bytes
    second = train_model(MODELS[name], data, tmp_path / "again", TrainConfig(n_folds=2, fast=True))
    assert second.version == result.version
    np.testing.assert_array_equal(second.oos.filter(like="p").to_numpy(), result.oos.filter(like="p").to_numpy())


def test_a_label_shifted_into_the_features_is_caught(tmp_path):
    data = planted(n_times=600)
    leak = data.labels["fwd_return_12"].astype(np.float32)[:, None]
    leaky = Dataset(np.hstack([data.X, leak]), [*data.features, "future_return"], data.labels, data.ts,
                    data.symbol, data.timeframe, data.bar_ms, data.baseline_vol)
    assert leakage_report(data, HORIZON_BARS) == {}
    report = leakage_report(leaky, HORIZON_BARS)
    assert report["fwd_return_12"] == ["future_return"] and "fwd_direction_12" in report
    with pytest.raises(LeakageError, match="future_return"):
        train_model(MODELS["direction_predictor"], leaky, tmp_path, TrainConfig(n_folds=2, fast=True))


def test_purged_walk_forward_keeps_every_training_row_beyond_the_horizon_of_every_test_row():
    ts = np.repeat(np.arange(3000, dtype=np.int64) * BAR_MS, 2)
    folds = purged_walk_forward(ts, 4, HORIZON_MS, HORIZON_MS)
    assert len(folds) == 4
    for train, test in folds:
        assert embargo_respected(ts, train, test, HORIZON_MS)
        assert ts[test].min() - ts[train].max() > HORIZON_MS
        assert set(train).isdisjoint(test)
    tests = np.concatenate([t for _, t in folds])
    assert len(np.unique(tests)) == len(tests)  # test blocks do not overlap
    assert not embargo_respected(ts, np.arange(0, 100), np.arange(104, 200), HORIZON_MS)  # a 2-bar gap is too short
    with pytest.raises(ValueError, match="shorter than the label horizon"):
        purged_walk_forward(ts, 4, HORIZON_MS, HORIZON_MS - 1)



def _label_ends(ts: np.ndarray, symbol: np.ndarray) -> np.ndarray:
    """label_known_at_ms as labels_h12 computes it: the 12th row ahead of the same symbol, plus one bar
    (0 where there is none), so a label spans more than 12 bars across missing bars."""
    out = np.zeros(len(ts), np.int64)
    for s in np.unique(symbol):
        rows = np.flatnonzero(symbol == s)
        out[rows[:-HORIZON_BARS]] = ts[rows[HORIZON_BARS:]] + BAR_MS
    return out


def test_the_purge_follows_each_labels_own_window_across_missing_bars():
    # B has no bars 285..319 (an illiquid hour): its rows just before label 12 rows ahead, closing at
    # 320 and after, inside the test block that starts at bar 304; a purge by bar time (ts + 12 bars) kept them
    bars = np.arange(620, dtype=np.int64)
    b_bars = bars[(bars < 285) | (bars >= 320)]
    ts = np.r_[bars, b_bars] * BAR_MS
    symbol = np.array(["A"] * len(bars) + ["B"] * len(b_bars), dtype=object)
    order = np.lexsort((symbol, ts))
    ts, symbol = ts[order], symbol[order]
    ends = _label_ends(ts, symbol)
    labelled = ends > 0
    ts, symbol, ends = ts[labelled], symbol[labelled], ends[labelled]
    by_time = purged_walk_forward(ts, 3, HORIZON_MS, HORIZON_MS)
    assert any(ends[train].max() > ts[test].min() for train, test in by_time)  # the leak the purge must close
    assert not all(embargo_respected(ts, train, test, HORIZON_MS, ends) for train, test in by_time)
    folds = purged_walk_forward(ts, 3, HORIZON_MS, HORIZON_MS, label_end=ends)
    assert len(folds) == 3 and ts[folds[0][1]].min() == 304 * BAR_MS
    for train, test in folds:
        assert ends[train].max() <= ts[test].min() and embargo_respected(ts, train, test, HORIZON_MS, ends)
    # gapless data: the same folds either way
    whole = np.repeat(np.arange(600, dtype=np.int64) * BAR_MS, 2)
    sym2 = np.tile(np.array(["A", "B"], dtype=object), 600)
    e2 = _label_ends(whole, sym2)
    keep = e2 > 0
    plain = purged_walk_forward(whole[keep], 3, HORIZON_MS, HORIZON_MS)
    purged = purged_walk_forward(whole[keep], 3, HORIZON_MS, HORIZON_MS, label_end=e2[keep])
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(plain, purged))


def test_the_leak_checks_past_label_has_closed_by_the_bar_across_missing_bars():
    """The label the leak check compares against must be known at t: a label 12 bars of time earlier still
    looked past t where bars were missing (its window is 12 rows); the one 12 rows earlier closes with t."""
    bars = np.arange(400, dtype=np.int64)
    b_bars = bars[(bars % 5 != 0) & ((bars < 150) | (bars >= 230))]  # B misses a bar in five and an 80-bar hole
    ts = np.r_[bars, b_bars] * BAR_MS
    symbol = np.array(["A"] * len(bars) + ["B"] * len(b_bars), dtype=object)
    order = np.lexsort((symbol, ts))
    ts, symbol = ts[order], symbol[order]
    ends = _label_ends(ts, symbol).astype(float)
    ends[ends == 0] = np.nan
    past = label_known_at(ends, ts, symbol, HORIZON_BARS)  # when the past label's window closes
    for s in ("A", "B"):
        rows = np.flatnonzero(symbol == s)
        assert np.isnan(past[rows[:HORIZON_BARS]]).all()
        np.testing.assert_array_equal(past[rows[HORIZON_BARS:]], ts[rows[HORIZON_BARS:]] + BAR_MS)


def test_a_feature_that_orders_a_skewed_three_class_label_is_a_leak():
    # 20 / 60 / 20 classes: a rank correlation with the label caps at sqrt(1 - sum p^3) = 0.876 even for a
    # feature that orders the classes perfectly, under the 0.9 threshold; over the class cuts it is 1
    rng = np.random.default_rng(5)
    label = rng.choice([0.0, 1.0, 2.0], size=2000, p=[0.2, 0.6, 0.2])
    oracle = (label + rng.uniform(0, 0.5, len(label))).astype(np.float32)[:, None]
    noise = rng.normal(size=(len(label), 1)).astype(np.float32)
    assert check_leakage(np.hstack([oracle, noise]), ["oracle", "noise"], label) == ["oracle"]


def test_the_version_covers_every_row_its_folder_depends_on(tmp_path):
    # the newest, unlabelled rows give latest.parquet and baseline_vol the baseline's scores: data that
    # differs there is another version (the same version id was overwritten with other contents)
    data = planted(n_times=400)
    unlabelled = data.ts >= data.ts.max() - 11 * BAR_MS
    for labels in data.labels.values():
        labels[unlabelled] = np.nan
    spec, cfg = MODELS["volatility_regressor"], TrainConfig(n_folds=2, fast=True)
    first = train_model(spec, data, tmp_path, cfg)
    newest = Dataset(data.X.copy(), data.features, data.labels, data.ts, data.symbol, data.timeframe, data.bar_ms,
                     data.baseline_vol)
    newest.X[unlabelled] += 1.0
    baseline = Dataset(data.X, data.features, data.labels, data.ts, data.symbol, data.timeframe, data.bar_ms,
                       data.baseline_vol * 2)
    folds = TrainConfig(n_folds=3, fast=True)
    versions = {first.version, train_model(spec, newest, tmp_path, cfg).version,
                train_model(spec, baseline, tmp_path, cfg).version, train_model(spec, data, tmp_path, folds).version}
    assert len(versions) == 4
    assert train_model(spec, data, tmp_path / "again", cfg).version == first.version

def test_metrics_match_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.4).astype(int)
    p = np.clip(0.4 + 0.3 * (y - 0.4) + rng.normal(0, 0.2, 500), 0.01, 0.99)
    p[:50] = 0.5  # ties
    m = classification(y, p)
    assert m["auc"] == pytest.approx(sk.roc_auc_score(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(sk.log_loss(y, p), rel=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, (p > 0.5).astype(int)), abs=1e-12)
    y3 = rng.integers(0, 3, 400)
    P = rng.dirichlet([1, 1, 1], 400)
    m3 = classification(y3, P)
    assert m3["auc"] == pytest.approx(sk.roc_auc_score(y3, P, multi_class="ovr", average="macro"), abs=1e-12)
    assert m3["log_loss"] == pytest.approx(sk.log_loss(y3, P), rel=1e-12)
    t, f = rng.normal(size=300), rng.normal(size=300)
    r = regression(t, f)
    assert r["r2"] == pytest.approx(sk.r2_score(t, f), rel=1e-12)
    assert r["mae"] == pytest.approx(sk.mean_absolute_error(t, f), rel=1e-12)


def test_a_persistent_label_does_not_flag_honest_features_but_still_catches_its_own_leak():
    """Volatility clusters: trailing volatility rank-correlates ~0.95 with the next 12 bars' volatility,
    above the 0.9 threshold. It correlates even more with the volatility of the 12 bars just closed,
    so it is not a leak; the forward label copied into the features still is."""
    rng = np.random.default_rng(3)
    n, h = 6000, HORIZON_BARS
    regime = np.exp(3 * np.cumsum(rng.normal(0, 1, n)) / np.sqrt(n))  # log volatility: a random walk
    r = rng.normal(0, 0.001, n) * regime
    sq = pd.Series(r ** 2)
    fwd_vol = np.sqrt(sq[::-1].rolling(h).sum()[::-1].shift(-1)).to_numpy()
    trailing = np.sqrt(sq.rolling(20).mean()).to_numpy()
    ts = np.arange(n, dtype=np.int64) * BAR_MS
    X = np.column_stack([trailing, fwd_vol]).astype(np.float32)
    data = Dataset(X, ["trailing_vol_20", "future_vol"], {"fwd_realized_vol_12": fwd_vol}, ts,
                   np.array(["S"] * n), "5m", BAR_MS, np.ones(n))
    y, past = fwd_vol, label_known_at(fwd_vol, ts, data.symbol, h)
    assert check_leakage(X[:, :1], ["trailing_vol_20"], y) == ["trailing_vol_20"]  # the bare threshold would flag it
    assert leakage_report(data, h) == {"fwd_realized_vol_12": ["future_vol"]}


def test_masked_ranks_match_scipy_rankdata_on_any_subset_with_ties():
    from scipy.stats import rankdata

    from python_assets.ml.validation import masked_ranks

    rng = np.random.default_rng(5)
    values = np.round(rng.normal(size=500), 1)  # many ties
    values[rng.integers(0, 500, 40)] = np.nan
    order = np.argsort(values, kind="stable")
    for _ in range(5):
        m = np.isfinite(values) & (rng.random(500) < 0.7)
        np.testing.assert_array_equal(masked_ranks(order, values, m), rankdata(values[m]))


@pytest.mark.parametrize("value", [0.1, 0.003, -0.7])
def test_a_constant_prediction_or_label_has_no_correlation_or_r2(value):
    y = np.random.default_rng(2).normal(size=50)
    flat = np.full(50, value)
    assert np.isnan(regression(y, flat)["ic"]) and np.isnan(regression(y, flat)["rank_ic"])
    assert np.isnan(regression(flat, y)["r2"])


def test_a_version_that_cannot_be_saved_leaves_no_staging_folder(tmp_path, monkeypatch):
    """A full disk while saving (here: the out-of-sample predictions) left models/<m>/.tmp-<ver>-<pid> behind."""
    import errno

    def enospc(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", enospc)
    with pytest.raises(OSError, match="No space left on device"):
        train_model(MODELS["direction_predictor"], planted(n_times=600), tmp_path, TrainConfig(n_folds=2, fast=True))
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_the_thread_count_is_part_of_the_version(tmp_path):
    """torch with 2 threads saves other bits than with 1 (the learners are deterministic for a seed and a
    thread count): under one version id, the folder saved first stood for both."""
    data, spec = planted(n_times=400), MODELS["price_predictor"]
    one = train_model(spec, data, tmp_path, TrainConfig(n_folds=2, fast=True, threads=1))
    two = train_model(spec, data, tmp_path, TrainConfig(n_folds=2, fast=True, threads=2))
    assert one.version != two.version and one.directory != two.directory
    assert [json.loads((r.directory / "metadata.json").read_text())["threads"] for r in (one, two)] == [1, 2]
    assert load_learner(two.directory).threads == 2
