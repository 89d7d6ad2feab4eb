"""Rolling sums on DuckDB (the lag folds of `rolling_fold`: every feature's rolling sum, mean and
variance, WMA, the linear-regression slope) give the same bits wherever the partition starts, as an
incremental run that reads only a lookback must, and stay within a few ulp of the exact sum or,
where terms cancel, of the largest term times n (a fold of doubles, not an exact sum) on awkward
magnitudes: a pair priced 1e-8, volumes of 1e13, terms that cancel, tiny log terms, NULLs."""

from __future__ import annotations

from fractions import Fraction

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import run_dbt
from python_assets.config import Paths

N = 20
ROWS = 700
SKIP = 237  # the incremental-like run starts here: not a multiple of any tree fan-out


def _series() -> pd.DataFrame:
    """One column x per symbol, ROWS rows each, of the magnitudes the features meet."""
    rng = np.random.default_rng(7)
    walk = np.exp(np.cumsum(rng.normal(0, 0.01, ROWS)))
    values = {
        "LOWP": 1e-8 * walk,                                   # a pair priced 1e-8
        "BIG": 1e13 * rng.lognormal(0, 1, ROWS),               # meme-coin volumes
        "CANCEL": np.where(np.arange(ROWS) % 2 == 0, 1, -1) * (1e6 + rng.normal(0, 1e-3, ROWS)),
        "TINY": rng.normal(0, 1e-6, ROWS) ** 2,                # squared log ranges
        "FLAT": np.full(ROWS, 30.01),
        "NULLS": np.where(rng.random(ROWS) < 0.2, np.nan, 100 * walk),
        # log returns, with runs of 25 zeros and of 25 equal nonzero returns (0.0017: sums of x and x^2
        # leave ~1e-21 of rounding there, which must come out as exactly 0)
        "RET": np.select([np.arange(ROWS) % 100 < 50, np.arange(ROWS) % 100 < 75], [rng.normal(0, 1e-3, ROWS), 0.0], 0.0017),
    }
    frame = pd.concat([pd.DataFrame({"symbol": s, "timeframe": "1m", "bar_at_ms": np.arange(ROWS, dtype=np.int64) * 60_000, "x": x})
                       for s, x in values.items()], ignore_index=True)
    return frame.astype({"x": "Float64"})  # NaN -> <NA>: SQL NULL, not a floating-point NaN


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> str:
    """The DuckDB sums, WMA numerator and slope numerator over `series`, compiled by dbt."""
    template = (
        "select symbol, bar_at_ms, series_row, "
        f"{{{{ rolling_fold('x', 'sum', {N}) }}}} as total, "
        f"{{{{ rolling_weighted_sum('x', {N}) }}}} as weighted, "
        f"{{{{ rolling_linreg_slope('x', {N}) }}}} as slope, "
        f"{{{{ rolling_fold('x', 'avg', {N}) }}}} as mean, "
        f"{{{{ rolling_variance_of_returns(\"case when symbol in ('RET', 'TINY', 'FLAT') then x end\", {N}) }}}} as variance, "
        f"{{{{ rolling_fold('x', 'stddev_pop', {N}) }}}} as sd "
        "from series")
    return run_dbt(Paths(tmp_path_factory.mktemp("exact") / "data"), "compile", "--quiet", "--inline", template).stdout


def _run(sql: str, frame: pd.DataFrame) -> pd.DataFrame:
    with duckdb.connect() as con:
        con.execute("set threads = 2")
        con.register("raw", frame)
        con.execute("create table series as select *, row_number() over (partition by symbol order by bar_at_ms) "
                    "as series_row from raw")
        return con.execute(sql).df().sort_values(["symbol", "bar_at_ms"], ignore_index=True)


def test_a_run_that_starts_later_gives_the_same_bits(compiled):
    """Rows whose window lies inside both runs: identical bits, as incremental == full rebuild needs."""
    series = _series()
    full = _run(compiled, series)
    late = _run(compiled, series[series["bar_at_ms"] >= SKIP * 60_000])
    both = full.merge(late, on=["symbol", "bar_at_ms"], suffixes=("_full", "_late"))
    both = both[both["bar_at_ms"] >= (SKIP + N) * 60_000]
    assert len(both) == 7 * (ROWS - SKIP - N)
    for col in ("total", "weighted", "slope", "mean", "variance", "sd"):
        a, b = both[f"{col}_full"].to_numpy(float), both[f"{col}_late"].to_numpy(float)
        assert np.array_equal(a, b, equal_nan=True), (col, np.nanmax(np.abs(a - b)))


def _exact(xs: list[float], weights: list[int]) -> Fraction:
    return sum((Fraction(w) * Fraction(x) for w, x in zip(weights, xs) if not np.isnan(x)), Fraction(0))


def test_sums_are_within_a_few_ulp_of_the_exact_sum(compiled):
    """Against exact rational arithmetic: total, WMA numerator (weights 1..n) and the centred slope
    numerator (weights 2i - n - 1) within 4 ulp of the exact value, or of the largest term's ulp
    where terms cancel; the mean of a flat window is the flat value itself."""
    series = _series()
    got = _run(compiled, series)
    for symbol, g in got.groupby("symbol"):
        x = series.loc[series["symbol"] == symbol, "x"].to_numpy(float, na_value=np.nan)
        for i in range(N - 1, ROWS, 7):
            window = list(x[i - N + 1:i + 1])
            row = g.iloc[i]
            scale = max((abs(v) for v in window if not np.isnan(v)), default=0.0) * N * N
            for col, weights, div in (("total", [1] * N, 1), ("weighted", list(range(1, N + 1)), 1),
                                      ("slope", [2 * k - N - 1 for k in range(1, N + 1)], N * (N * N - 1) / 6)):
                want = float(_exact(window, weights)) / div
                bound = 4 * np.spacing(abs(want)) + 4 * np.spacing(scale) / div
                assert abs(row[col] - want) <= bound, (symbol, i, col, row[col], want)
    ret = got[got["symbol"] == "RET"].reset_index(drop=True)
    x = series.loc[series["symbol"] == "RET", "x"].to_numpy(float)
    for i in range(N - 1, ROWS):
        w = [Fraction(v) for v in x[i - N + 1:i + 1]]
        mean = sum(w, Fraction(0)) / N
        want = float(sum(((v - mean) ** 2 for v in w), Fraction(0)) / (N - 1))
        assert abs(ret["variance"][i] - want) <= 1e-12 * want or (want == 0 and ret["variance"][i] == 0), (i, want)
    assert (ret["variance"][N - 1:] == 0).sum() >= 2 * 6 * (ROWS // 100)  # zero and constant runs: exactly 0
    for symbol in ("LOWP", "BIG", "NULLS", "CANCEL"):  # price-level spreads far below the level
        g = got[got["symbol"] == symbol].reset_index(drop=True)
        x = series.loc[series["symbol"] == symbol, "x"].to_numpy(float, na_value=np.nan)
        for i in range(N - 1, ROWS, 3):
            w = [Fraction(v) for v in x[i - N + 1:i + 1] if not np.isnan(v)]
            mean = sum(w, Fraction(0)) / len(w)
            want = float(sum(((v - mean) ** 2 for v in w), Fraction(0)) / len(w)) ** 0.5
            assert abs(g["sd"][i] - want) <= 1e-12 * want, (symbol, i, g["sd"][i], want)
    flat = got[(got["symbol"] == "FLAT") & (got["series_row"] >= N)]
    assert (flat["mean"] == 30.01).all() and (flat["slope"] == 0).all() and (flat["sd"] == 0).all()
    assert got.loc[got["symbol"] == "NULLS", "total"].notna().all()  # NULLs skipped, not propagated
    first = got[got["series_row"] == 1].set_index("symbol")
    assert first.loc[["RET", "TINY", "FLAT"], "variance"].isna().all()  # one value: no sample variance
    assert (first.loc[["LOWP", "BIG", "FLAT"], "sd"] == 0).all() and (first.loc[["LOWP", "BIG"], "mean"] == first.loc[["LOWP", "BIG"], "total"]).all()


def test_no_fold_scans_back_without_bound(compiled):
    """The newest value a mean or variance deviates from is found in a bounded frame: IGNORE NULLS
    over an unbounded one scans back over a run of NULLs once per row (quadratic in the run)."""
    assert "ignore nulls" in compiled.lower() and "unbounded" not in compiled.lower()


def test_a_non_finite_value_spoils_only_the_windows_that_hold_it(compiled):
    """A fold, unlike a running or cumulative sum, forgets an infinity once it leaves the frame:
    every window that holds it is infinite (or NaN where it cancels), the rest are untouched.
    (Ingest quarantines non-finite prices, so none reach a feature.)"""
    series = _series()
    clean = _run(compiled, series)
    at = 300
    series.loc[series["symbol"] == "BIG", "x"] = series.loc[series["symbol"] == "BIG", "x"].where(
        series["bar_at_ms"] != at * 60_000, np.inf)
    got = _run(compiled, series)
    big, was = got[got["symbol"] == "BIG"].reset_index(drop=True), clean[clean["symbol"] == "BIG"].reset_index(drop=True)
    holds = (big["bar_at_ms"] >= at * 60_000) & (big["bar_at_ms"] < (at + N) * 60_000)
    assert holds.sum() == N and not np.isfinite(big.loc[holds, ["total", "mean", "sd"]].to_numpy(float)).any()
    for col in ("total", "weighted", "slope", "mean", "sd"):
        assert big.loc[~holds, col].equals(was.loc[~holds, col]), col
    others = got["symbol"] != "BIG"
    assert got.loc[others].reset_index(drop=True).equals(clean.loc[clean["symbol"] != "BIG"].reset_index(drop=True))


def test_percent_rank_counts_the_bar_itself_and_its_ties_whatever_their_sign(tmp_path):
    """The tie tolerance lies above the current value for a negative one too, so the bar and its equals
    count: a constant negative series ranks 1, and a negative series ranks as a positive one of the same shape."""
    sql = run_dbt(Paths(tmp_path / "data"), "compile", "--quiet", "--inline",
                  "select symbol, bar_at_ms, {{ rolling_percent_rank('x', 3) }} as pr from series").stdout
    values = {"POS": [1.0, 2.0, 3.0, 3.0, 2.0, 1.0], "NEG": [-3.0, -2.0, -1.0, -1.0, -2.0, -3.0], "CONST": [-0.5] * 6}
    frame = pd.concat([pd.DataFrame({"symbol": s, "timeframe": "1m", "bar_at_ms": np.arange(6, dtype=np.int64) * 60_000, "x": x})
                       for s, x in values.items()], ignore_index=True)
    got = _run(sql, frame).groupby("symbol")["pr"].apply(list).to_dict()
    want = [None, None, 1.0, 1.0, 1 / 3, 1 / 3]
    assert {s: [None if pd.isna(v) else v for v in r] for s, r in got.items()} == {
        "CONST": [None, None, 1.0, 1.0, 1.0, 1.0], "NEG": want, "POS": want}
