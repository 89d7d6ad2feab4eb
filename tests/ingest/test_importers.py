"""Importers: freqtrade candles / trades / funding in feather, parquet and json, generic CSV candles;
names parsed, files validated with clear errors, re-imports idempotent."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from blofin_cli.main import main as cli_main
from python_assets.backtest.files import FileGuess, guess_from_name, market_from_name
from python_assets.ingest.importers import ImportFileError, import_candles, import_file, import_funding

T0 = 1_700_000_000_000 // 86_400_000 * 86_400_000  # 00:00 UTC: on every timeframe's grid


def candles_frame(n: int = 12, step: int = 300_000) -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime([T0 + i * step for i in range(n)], unit="ms", utc=True),
        "open": [10.0 + i for i in range(n)], "high": [11.5 + i for i in range(n)],
        "low": [9.5 + i for i in range(n)], "close": [11.0 + i for i in range(n)],
        "volume": [float(i % 3) for i in range(n)],
    })


def lake_candles(paths) -> pd.DataFrame:
    return duckdb.sql(f"select * from read_parquet('{paths.candles}/*/*/*/candles.parquet', hive_partitioning = true) "
                      "order by timeframe, bar_at_ms").df()


@pytest.mark.parametrize("name, guess", [
    ("XRP_USDT_USDT-5m-futures.feather", FileGuess("XRP-USDT", "5m", "candles")),
    ("ETH_BTC-1h.json", FileGuess("ETH-BTC", "1h", "candles")),
    ("BTC_USDT_USDT-8h-funding_rate.parquet", FileGuess("BTC-USDT", "8h", "funding")),
    ("BTC_USDT-trades.json.gz", FileGuess("BTC-USDT", None, "trades")),
    ("XRP_USDT_USDT-8h-mark.feather", FileGuess("XRP-USDT", "8h", "mark")),
    ("my candles.csv", FileGuess(None, None, None)),
])
def test_freqtrade_file_names(name, guess):
    assert guess_from_name(Path(name)) == guess


def test_candles_from_feather_json_and_csv_land_once(data_dir, tmp_path):
    frame = candles_frame()
    frame.to_feather(tmp_path / "SOL_USDT_USDT-5m-futures.feather")
    rows = [[int(t.value // 10**6), o, h, lo, c, v] for t, o, h, lo, c, v in frame.itertuples(index=False)]
    (tmp_path / "SOL_USDT_USDT-5m-futures.json").write_text(json.dumps(rows))
    quarter = candles_frame(step=900_000)
    csv = quarter.assign(date=quarter["date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).rename(columns=str.capitalize)
    csv.to_csv(tmp_path / "sol_15m.csv", index=False)

    first = import_file(data_dir, tmp_path / "SOL_USDT_USDT-5m-futures.feather")
    assert (first.symbol, first.timeframe, first.rows_added) == ("SOL-USDT", "5m", 12)
    same = import_file(data_dir, tmp_path / "SOL_USDT_USDT-5m-futures.json")
    assert same.rows_added == 0 and same.duplicates == 12  # the json holds the same bars
    other = import_file(data_dir, tmp_path / "sol_15m.csv", symbol="SOL-USDT", timeframe="15m")
    assert other.rows_added == 12
    with pytest.raises(ImportFileError, match="5m apart but the timeframe is 1h"):
        import_file(data_dir, tmp_path / "SOL_USDT_USDT-5m-futures.json", timeframe="1h")
    stored = lake_candles(data_dir)
    five = stored[stored["timeframe"] == "5m"]
    assert five["bar_at_ms"].tolist() == [T0 + i * 300_000 for i in range(12)]
    assert five["close"].tolist() == frame["close"].tolist()
    assert set(five["source"]) == {"import:SOL_USDT_USDT-5m-futures.feather"}


def test_bad_candle_files_fail_clearly_before_writing(data_dir, tmp_path):
    off = candles_frame().assign(date=lambda f: f["date"] + pd.Timedelta(seconds=30))
    off.to_feather(tmp_path / "ADA_USDT-5m.feather")
    with pytest.raises(ImportFileError, match="not on the 5m grid"):
        import_file(data_dir, tmp_path / "ADA_USDT-5m.feather")
    broken = candles_frame()
    broken.loc[3, "high"] = 1.0
    broken.to_parquet(tmp_path / "ADA_USDT-5m.parquet")
    with pytest.raises(ImportFileError, match="row 4 has high below"):
        import_file(data_dir, tmp_path / "ADA_USDT-5m.parquet")
    with pytest.raises(ImportFileError, match="pass --symbol"):
        candles_frame().to_csv(tmp_path / "unnamed.csv", index=False)
        import_file(data_dir, tmp_path / "unnamed.csv")
    # a missing or negative volume: refused with the row named (it landed before and failed every later
    # build at stg_candles' volume test, and a re-import could not replace it: a stored bar wins)
    for bad in (np.nan, -3.0):
        broken = candles_frame()
        broken.loc[5, "volume"] = bad
        broken.to_feather(tmp_path / "ADA_USDT-5m.feather")
        with pytest.raises(ImportFileError, match="row 6 has a missing or negative volume"):
            import_file(data_dir, tmp_path / "ADA_USDT-5m.feather")
    # 30m candles (a stock freqtrade timeframe) make no bars here: refused, not stored and silently unused
    candles_frame(step=1_800_000).to_feather(tmp_path / "ADA_USDT-30m.feather")
    with pytest.raises(ImportFileError, match="30m candles make no bars here"):
        import_file(data_dir, tmp_path / "ADA_USDT-30m.feather")
    assert not data_dir.candles.exists()


def test_funding_files_and_their_errors(data_dir, tmp_path):
    times = pd.to_datetime([T0 + i * 8 * 3_600_000 for i in range(4)], unit="ms", utc=True)
    pd.DataFrame({"date": times, "open": [0.0001, -0.0002, 0.0003, 0.0], "high": 0.0, "low": 0.0, "close": 0.0,
                  "volume": 0.0}).to_feather(tmp_path / "BTC_USDT_USDT-8h-funding_rate.feather")
    r = import_file(data_dir, tmp_path / "BTC_USDT_USDT-8h-funding_rate.feather")
    assert (r.kind, r.symbol, r.rows_added) == ("funding", "BTC-USDT", 4)
    rates = duckdb.sql(f"select funding_rate from read_parquet('{data_dir.funding}/*/*/funding.parquet') order by funding_ts")
    assert [x[0] for x in rates.fetchall()] == [0.0001, -0.0002, 0.0003, 0.0]
    # one settlement stamped twice a few ms apart with two rates: one was stored and the other dropped as a duplicate
    pd.DataFrame({"timestamp": [T0 + 32 * 3_600_000, T0 + 32 * 3_600_000 + 7], "funding_rate": [1e-4, 9e-4]}).to_csv(
        tmp_path / "twice.csv", index=False)
    with pytest.raises(ImportFileError, match="two funding rates for the settlement at"):
        import_file(data_dir, tmp_path / "twice.csv", symbol="BTC-USDT")
    pd.DataFrame({"timestamp": [T0], "funding_rate": [3.0]}).to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(ImportFileError, match="beyond ±0.05"):
        import_file(data_dir, tmp_path / "f.csv", symbol="BTC-USDT")
    with pytest.raises(ImportFileError, match="not traded prices"):
        candles_frame().to_feather(tmp_path / "BTC_USDT_USDT-8h-mark.feather")
        import_file(data_dir, tmp_path / "BTC_USDT_USDT-8h-mark.feather")


def test_freqtrade_trades_in_json_and_feather_go_through_ingestion(data_dir, tmp_path):
    rows = [[T0 + i * 1000, str(500 + i), None, "buy" if i % 2 else "sell", 100.0 + i, 0.5, 50.0 + i / 2] for i in range(6)]
    rows.append([T0 + 9000, "600", None, "buy", -1.0, 0.5, -0.5])  # a negative price: quarantined
    (tmp_path / "ETH_USDT-trades.json").write_text(json.dumps(rows))
    r = import_file(data_dir, tmp_path / "ETH_USDT-trades.json")
    assert (r.kind, r.symbol, r.rows_read, r.rows_added) == ("trades", "ETH-USDT", 7, 6)
    frame = pd.DataFrame(rows[:6], columns=["timestamp", "id", "type", "side", "price", "amount", "cost"])
    frame.to_feather(tmp_path / "ETH_USDT-trades.feather")
    again = import_file(data_dir, tmp_path / "ETH_USDT-trades.feather")
    assert again.rows_added == 0 and again.duplicates == 6
    stored = duckdb.sql(f"select trade_id, price, size, side from read_parquet('{data_dir.trades}/*/*/trades.parquet') order by ts")
    assert stored.fetchall()[0] == ("500", 100.0, 0.5, "sell")
    assert len(list(data_dir.quarantine.rglob("*.parquet"))) == 1


def test_cli_import_of_the_shared_freqtrade_futures_files(data_dir, capsys):
    files = [shared_file("freqtrade/futures/XRP_USDT_USDT-5m-futures.feather"),
             shared_file("freqtrade/futures/XRP_USDT_USDT-8h-funding_rate.feather"),
             shared_file("freqtrade/futures/XRP_USDT_USDT-8h-mark.feather")]
    assert cli_main(["import", *map(str, files)]) == 2  # the mark file is refused, the others land
    out = capsys.readouterr()
    assert "1999 candles 5m rows for XRP-USDT, 1999 new" in out.out and "91 funding rows" in out.out
    assert "mark price candles are not traded prices" in out.err
    assert len(lake_candles(data_dir)) == 1999



def test_cli_import_of_trades_counts_the_quarantined_rows_with_their_reasons(data_dir, tmp_path, capsys):
    rows = [[T0, "1", None, "buy", 100.0, 1.0, 100.0], [T0 + 1, "2", None, "sell", -5.0, 1.0, -5.0],
            [T0 + 2, "3", None, "buy", 101.0, 2.0, 202.0], [T0 + 2, "3", None, "buy", 101.0, 2.0, 202.0]]
    (tmp_path / "ETH_USDT-trades.json").write_text(json.dumps(rows))
    assert cli_main(["import", str(tmp_path / "ETH_USDT-trades.json")]) == 0
    out = capsys.readouterr().out
    assert "4 trades rows for ETH-USDT, 2 new, 1 duplicates skipped, 1 quarantined" in out  # 4 = 2 + 1 + 1
    assert "quarantined      1  non_positive_price" in out and "quarantine file: " in out
    r = import_file(data_dir, tmp_path / "ETH_USDT-trades.json")
    assert (r.rows_read, r.rows_added, r.duplicates, r.quarantined, r.reasons) == (4, 0, 3, 1, {"non_positive_price": 1})


def test_freqtrade_gzipped_trades_json_is_imported(data_dir, tmp_path):
    rows = [[T0 + i, str(i), None, "buy", 100.0, 1.0, 100.0] for i in range(3)]
    (tmp_path / "SOL_USDT_USDT-trades.json.gz").write_bytes(gzip.compress(json.dumps(rows).encode()))
    r = import_file(data_dir, tmp_path / "SOL_USDT_USDT-trades.json.gz")
    assert (r.kind, r.symbol, r.rows_read, r.rows_added) == ("trades", "SOL-USDT", 3, 3)


@pytest.mark.parametrize("start, now, message", [
    (915_148_800_000, None, "opens before 2009"),  # 1999
    (4_102_444_800_000, None, "has not opened yet"),  # 2100
    (T0, T0 + 11 * 300_000 - 1, "the 5m bar at .* has not opened yet"),  # the last bar opens at T0 + 11 * 5m
])
def test_candles_before_2009_or_not_yet_opened_are_refused(data_dir, tmp_path, start, now, message):
    frame = candles_frame()
    frame["date"] = pd.to_datetime([start + i * 300_000 for i in range(len(frame))], unit="ms", utc=True)
    frame.to_feather(tmp_path / "c.feather")
    with pytest.raises(ImportFileError, match=message):
        import_candles(data_dir, tmp_path / "c.feather", "BTC-USDT", "5m", "import:c.feather", now=now)
    assert not data_dir.candles.exists() or not any(data_dir.candles.rglob("*.parquet"))


def test_candles_that_closed_by_now_are_imported(data_dir, tmp_path):
    candles_frame().to_feather(tmp_path / "c.feather")
    r = import_candles(data_dir, tmp_path / "c.feather", "BTC-USDT", "5m", "import:c.feather", now=T0 + 12 * 300_000)
    assert r.rows_added == 12


@pytest.mark.parametrize("tf, step", [("1m", 60_000), ("5m", 300_000), ("1h", 3_600_000)])
@pytest.mark.parametrize("into_last", [0, 1, "almost"])
def test_a_candle_still_open_at_now_is_left_out_and_counted(data_dir, tmp_path, tf, step, into_last):
    """The last bar opened at (or just before) now: it was stored when it closed within now + 60 s (a 1m bar 1 ms
    old, a 1h bar at 59 min), a partial bar kept for good since a stored bar wins over the finished one."""
    candles_frame(step=step).to_feather(tmp_path / "c.feather")
    last_open = T0 + 11 * step
    now = last_open + (step - 1 if into_last == "almost" else into_last)
    r = import_candles(data_dir, tmp_path / "c.feather", "BTC-USDT", tf, "import:c.feather", now=now)
    assert (r.rows_read, r.rows_added) == (12, 11)
    assert (r.duplicates, r.still_open) == (0, 1)
    assert r.last_ms == last_open - step and lake_candles(data_dir)["bar_at_ms"].max() == last_open - step
    r = import_candles(data_dir, tmp_path / "c.feather", "BTC-USDT", tf, "import:c.feather", now=last_open + step)
    assert (r.rows_added, r.duplicates, r.still_open, r.conflicts) == (1, 11, 0, 0)  # closed now: it lands whole


def test_import_says_how_many_candles_were_still_open(data_dir, tmp_path, capsys):
    from python_assets.lake.store import now_ms

    hour = 3_600_000
    frame = candles_frame(6, step=hour)
    frame["date"] = pd.to_datetime([(now_ms() // hour - 5 + i) * hour for i in range(6)], unit="ms", utc=True)
    frame.to_csv(tmp_path / "c.csv", index=False)  # the last bar opens at this hour: still open, whatever the clock
    assert cli_main(["import", str(tmp_path / "c.csv"), "--symbol", "BTC-USDT", "--timeframe", "1h"]) == 0
    out = capsys.readouterr().out
    assert "6 candles 1h rows for BTC-USDT, 5 new, 0 already stored, 1 still open at import, left out" in out


@pytest.mark.parametrize("times", [[0, 28_800], [-28_800_000, T0], [T0, 4_102_444_800_000], [T0, T0 + 86_400_001]],
                         ids=["1970", "negative", "2100", "1 ms after now"])  # no clock allowance: not settled yet
def test_funding_times_before_2009_or_in_the_future_are_refused(data_dir, tmp_path, times):
    pd.DataFrame({"funding_time": times, "funding_rate": [0.0001] * len(times)}).to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(ImportFileError, match=r"row \d has a time before 2009 or in the future"):
        import_funding(data_dir, tmp_path / "f.csv", "BTC-USDT", "import:f.csv", now=T0 + 86_400_000)
    assert not data_dir.funding.exists() or not any(data_dir.funding.rglob("*.parquet"))


def test_candles_of_a_wider_timeframe_than_the_one_given_are_refused(data_dir, tmp_path):
    candles_frame(step=3_600_000).to_feather(tmp_path / "c.feather")  # 1h candles
    with pytest.raises(ImportFileError, match="every gap between bars is a multiple of 1h, so these are not 5m candles"):
        import_file(data_dir, tmp_path / "c.feather", kind="candles", symbol="BTC-USDT", timeframe="5m")
    gappy = candles_frame(24, step=60_000)
    gappy = gappy[[i % 4 != 1 and i % 7 != 3 for i in range(24)]]  # a thin 1m market: a third of its minutes missing
    gappy.reset_index(drop=True).to_feather(tmp_path / "g.feather")
    assert import_file(data_dir, tmp_path / "g.feather", kind="candles", symbol="BTC-USDT", timeframe="1m").rows_added == len(gappy)


def test_columns_differing_only_in_case_are_refused_not_one_picked(data_dir, tmp_path):
    """Close and close (or a funding file's Date and date) in one file: a dict of lower-cased names kept
    the last one, so a file could be read from the wrong column without a word."""
    candles = tmp_path / "c.csv"
    candles.write_text("date,open,high,low,close,Close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,99,10\n"
                       "2024-01-01T01:00:00Z,1.5,2,1,1.8,99,10\n")
    with pytest.raises(ImportFileError, match="ambiguous columns 'close' and 'Close'"):
        import_file(data_dir, candles, "candles", "BTC-USDT", timeframe="1h")
    funding = tmp_path / "f.csv"
    funding.write_text("Date,date,funding_rate\n2024-01-01T00:00:00Z,1999-01-01T00:00:00Z,0.0001\n")
    with pytest.raises(ImportFileError, match="ambiguous columns 'Date' and 'date'"):
        import_funding(data_dir, funding, "BTC-USDT", "import:f.csv")
    assert not data_dir.lake.exists() or not any(data_dir.lake.rglob("*.parquet"))


def test_a_candle_or_rate_differing_from_the_stored_one_is_a_conflict_not_a_duplicate(data_dir, tmp_path, capsys):
    """Re-importing candles with one bar changed (another source, a corrected file): the stored bar stays
    and the changed one is counted as a conflict with its time, not as 'already stored'."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    head = "date,open,high,low,close,volume\n"
    first.write_text(head + "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-01-01T01:00:00Z,1.5,2,1,1.8,10\n")
    second.write_text(head + "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-01-01T01:00:00Z,1.5,2,1,1.9,10\n"
                      "2024-01-01T02:00:00Z,1.9,2,1,1.8,10\n")
    import_file(data_dir, first, "candles", "BTC-USDT", timeframe="1h")
    r = import_file(data_dir, second, "candles", "BTC-USDT", timeframe="1h")
    assert (r.rows_read, r.rows_added, r.duplicates, r.conflicts) == (3, 1, 1, 1)
    assert r.first_conflict_ms == 1_704_070_800_000
    stored = pd.read_parquet(data_dir.lake / "candles").sort_values("bar_at_ms")
    assert stored["close"].tolist() == [1.5, 1.8, 1.8]  # the stored 01:00 bar kept
    funding = tmp_path / "f.csv"
    funding.write_text("date,funding_rate\n2024-01-01T00:00:00Z,0.0001\n")
    import_funding(data_dir, funding, "BTC-USDT", "import:f.csv")
    funding.write_text("date,funding_rate\n2024-01-01T00:00:00Z,0.0002\n")
    assert import_funding(data_dir, funding, "BTC-USDT", "import:f.csv").conflicts == 1
    assert cli_main(["import", str(second), "--kind", "candles", "--symbol", "BTC-USDT", "--timeframe", "1h"]) == 0
    assert "1 differ from the stored row (the stored one kept; first at 2024-01-01T01:00:00+00:00)" in capsys.readouterr().out


def test_an_imported_rate_replaces_the_unknown_rate_an_older_lake_holds(data_dir, tmp_path, capsys):
    """An older recorder stored the stream's NaN for a settlement: importing the settled rate was counted a conflict
    ('differ from the stored row (the stored one kept)') and the NaN stayed, so the backtests saw no rate there."""
    from python_assets.lake.store import write_funding

    write_funding(data_dir, "BTC-USDT", pd.DataFrame({"funding_ts": [T0 + 8 * 3_600_000 + 3, T0 + 16 * 3_600_000],
                                                      "funding_rate": [float("nan"), 1e-4]}))
    funding = tmp_path / "f.csv"
    rows = [T0 + i * 8 * 3_600_000 for i in range(3)]
    pd.DataFrame({"timestamp": rows, "funding_rate": [5e-4, 2e-4, 9e-4]}).to_csv(funding, index=False)
    assert cli_main(["import", str(funding), "--kind", "funding", "--symbol", "BTC-USDT"]) == 0
    out = capsys.readouterr().out
    assert "3 funding rows for BTC-USDT, 1 new, 0 already stored, 1 differ from the stored row" in out
    assert "1 replace an unknown (NaN) rate stored for their settlement" in out
    rates = duckdb.sql(f"select funding_ts, funding_rate from read_parquet('{data_dir.funding}/*/*/funding.parquet') "
                       "order by funding_ts").fetchall()
    assert rates == [(T0, 5e-4), (T0 + 8 * 3_600_000 + 3, 2e-4), (T0 + 16 * 3_600_000, 1e-4)]  # the stored stamp kept
    again = import_funding(data_dir, funding, "BTC-USDT", "import:f.csv")
    assert (again.rows_added, again.duplicates, again.conflicts, again.replaced) == (0, 2, 1, 0)


def test_candles_priced_beyond_the_trades_bound_are_refused(data_dir, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("date,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
                    "2024-01-01T01:00:00Z,1.5,1e30,1,1.8,10\n")
    with pytest.raises(ImportFileError, match="the bar at 2024-01-01 01:00:00.*price above 1e\\+12"):
        import_file(data_dir, path, "candles", "BTC-USDT", timeframe="1h")
    assert not data_dir.lake.exists() or not any(data_dir.lake.rglob("*.parquet"))


@pytest.mark.parametrize("missing", ["nan", "None"])
def test_freqtrade_trades_with_missing_ids_and_sides_written_as_text_are_all_kept(data_dir, tmp_path, missing):
    """freqtrade casts its trade columns with astype(str) before storing, which writes a missing id or side as
    the text 'nan' or 'None' (pandas < 3; an exchange may give no trade ids): those texts are missing values. Read
    as an id, every row shared one id (quarantined as conflicting_trade_id_in_file); read as a
    side, every row was quarantined as invalid_side."""
    rows = [[T0 + i // 2 * 1000, missing, missing, missing, 100.0 + i, 0.5, 50.0] for i in range(6)]
    rows.append(rows[0])  # a row repeated, as in kraken's own CSV: without ids, each occurrence is a trade
    pd.DataFrame(rows, columns=["timestamp", "id", "type", "side", "price", "amount", "cost"]).to_feather(
        tmp_path / "BCH_EUR-trades.feather")
    r = import_file(data_dir, tmp_path / "BCH_EUR-trades.feather")
    assert (r.rows_read, r.rows_added, r.duplicates, r.quarantined) == (7, 7, 0, 0), r.reasons
    stored = duckdb.sql(f"select price, side from read_parquet('{data_dir.trades}/*/*/trades.parquet') order by price")
    assert stored.fetchall() == [(100.0, None)] * 2 + [(100.0 + i, None) for i in range(1, 6)]
    again = import_file(data_dir, tmp_path / "BCH_EUR-trades.feather")
    assert (again.rows_added, again.duplicates, again.quarantined) == (0, 7, 0)


def test_a_sparse_candle_file_without_a_timeframe_in_its_name_imports_on_its_own_timeframe(data_dir, tmp_path):
    """freqtrade's XRP/ETH 1m candles lack a quarter of their minutes; a thinner market's lacking over half of
    them had a median gap of 2m or 3m and the import refused the file as 2m or 3m candles (no bars are)."""
    real = pd.read_feather(shared_file("freqtrade/XRP_ETH-1m.feather"))
    thin = real[np.random.default_rng(1).random(len(real)) < 0.3]
    assert thin["date"].diff().median() >= pd.Timedelta("2min")
    thin.to_csv(tmp_path / "xrp_eth.csv", index=False)
    r = import_file(data_dir, tmp_path / "xrp_eth.csv", symbol="XRP-ETH")
    assert (r.timeframe, r.rows_added) == ("1m", len(thin))


def test_a_file_whose_kind_cannot_be_told_is_named_in_its_error(data_dir, tmp_path, capsys):
    """`import *.csv` prints one error line per refused file; the line for a file of unknown kind (kraken's
    headerless trades CSV, which needs --kind trades) did not say which file it was."""
    (tmp_path / "BCHEUR.csv").write_text("1672531436,90.54,1.1044842\n1672531471,90.45,1.0\n")
    pd.DataFrame({"date": [T0], "rate": [0.0001]}).to_csv(tmp_path / "rates.csv", index=False)
    assert cli_main(["import", "--symbol", "BCH-EUR", str(tmp_path / "BCHEUR.csv"), str(tmp_path / "rates.csv")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": cannot tell")[0] for line in err] == [f"error: {tmp_path / n}" for n in ("BCHEUR.csv", "rates.csv")]
    assert "no header row" in err[0] and "--kind trades --symbol" in err[0]  # what to do, not the data as columns
    assert "no header row" not in err[1]
    assert cli_main(["import", "--symbol", "BCH-EUR", "--kind", "trades", str(tmp_path / "BCHEUR.csv")]) == 0


@pytest.mark.parametrize("name, market", [
    ("XRP_USDT_USDT-5m-futures.feather", "perp"), ("BTC_USDT_USDT-8h-funding_rate.parquet", "perp"),
    ("SOL_USDT_USDT-trades.json.gz", "perp"), ("XRP_USDT_USDT-8h-mark.feather", "perp"),
    ("XRP_USDT-5m.feather", "spot"), ("ETH_BTC-1h.json", "spot"), ("XRP_USDT-5m-spot.feather", "spot"),
    ("BCH_EUR-trades.feather", "spot"), ("my candles.csv", None), ("sol_15m.csv", None),
])
def test_a_freqtrade_name_says_whether_the_file_is_spot_or_a_perpetual_swap(name, market):
    assert market_from_name(Path(name)) == market


def test_spot_and_perp_files_of_one_pair_are_not_mixed_into_one_symbol(data_dir, tmp_path, capsys):
    """freqtrade's XRP_USDT-5m (spot) and XRP_USDT_USDT-5m-futures (the swap) both name XRP-USDT: the second
    market's file is refused with one line naming what the symbol holds, whichever comes first; under a symbol
    of its own it lands. A file whose name says no market (a plain CSV) is not judged."""
    perp, spot = candles_frame(), candles_frame().assign(close=lambda f: f["close"] * 1.001)  # spot trades at a basis
    perp.to_feather(tmp_path / "XRP_USDT_USDT-5m-futures.feather")
    spot.to_feather(tmp_path / "XRP_USDT-5m.feather")
    assert import_file(data_dir, tmp_path / "XRP_USDT_USDT-5m-futures.feather").rows_added == 12
    before = lake_candles(data_dir)
    with pytest.raises(ImportFileError, match=r"XRP_USDT-5m.feather: spot candles of XRP-USDT, but XRP-USDT already "
                       r"holds perpetual-swap data \(candles from XRP_USDT_USDT-5m-futures.feather\).*--symbol XRP-USDT-SPOT"):
        import_file(data_dir, tmp_path / "XRP_USDT-5m.feather")
    assert lake_candles(data_dir).equals(before)  # nothing written, no conflict rows
    moved = import_file(data_dir, tmp_path / "XRP_USDT-5m.feather", symbol="XRP-USDT-SPOT")
    assert (moved.symbol, moved.rows_added, moved.conflicts) == ("XRP-USDT-SPOT", 12, 0)
    stored = lake_candles(data_dir)
    assert sorted(set(stored["symbol"])) == ["XRP-USDT", "XRP-USDT-SPOT"]
    assert stored[stored["symbol"] == "XRP-USDT"]["close"].tolist() == perp["close"].tolist()

    # the other order: spot first, then the swap's candles and funding are refused
    (tmp_path / "other").mkdir()
    spot.to_feather(tmp_path / "other" / "ADA_USDT-5m.feather")
    perp.to_feather(tmp_path / "other" / "ADA_USDT_USDT-5m-futures.feather")
    pd.DataFrame({"date": pd.to_datetime([T0], unit="ms", utc=True), "open": [0.0001]}).to_feather(
        tmp_path / "other" / "ADA_USDT_USDT-8h-funding_rate.feather")
    assert import_file(data_dir, tmp_path / "other" / "ADA_USDT-5m.feather").rows_added == 12
    for name in ("ADA_USDT_USDT-5m-futures.feather", "ADA_USDT_USDT-8h-funding_rate.feather"):
        with pytest.raises(ImportFileError, match=r"perpetual-swap .* of ADA-USDT, but ADA-USDT already holds spot data "
                           r"\(candles from ADA_USDT-5m.feather\).*--symbol ADA-USDT-PERP"):
            import_file(data_dir, tmp_path / "other" / name)
    assert not (data_dir.funding / "symbol=ADA-USDT").exists()

    # funding says perp too; a spot trades file is refused there, a CSV with --symbol is not judged
    funded = tmp_path / "other" / "BTC_USDT_USDT-8h-funding_rate.feather"
    pd.DataFrame({"date": pd.to_datetime([T0], unit="ms", utc=True), "open": [0.0001]}).to_feather(funded)
    assert import_file(data_dir, funded).rows_added == 1
    (tmp_path / "BTC_USDT-trades.json").write_text(json.dumps([[T0, "1", None, "buy", 100.0, 1.0, 100.0]]))
    with pytest.raises(ImportFileError, match=r"spot trades of BTC-USDT, but BTC-USDT already holds perpetual-swap "
                       r"data \(funding rates\)"):
        import_file(data_dir, tmp_path / "BTC_USDT-trades.json")
    spot.rename(columns=str.capitalize).to_csv(tmp_path / "btc.csv", index=False)
    assert import_file(data_dir, tmp_path / "btc.csv", "candles", "BTC-USDT", timeframe="5m").rows_added == 12

    # the CLI: one line for the refused file, the others land, exit 2
    assert cli_main(["import", str(tmp_path / "XRP_USDT-5m.feather"), str(tmp_path / "XRP_USDT_USDT-5m-futures.feather")]) == 2
    out = capsys.readouterr()
    assert out.err.count("spot candles of XRP-USDT") == 1 and "Traceback" not in out.err


def test_the_market_check_reads_candle_footers_and_passes_over_an_unreadable_partition(data_dir, tmp_path, monkeypatch):
    """The check runs on every imported file over every stored candle day: a day of one source is told by its
    footer (no column read), a day of two by its column; a damaged partition of another day (which the import
    never reads, and the lake health check names) neither stops the import nor hides the other days' market."""
    import pyarrow.parquet as pq

    from python_assets.lake.sources import stored_candle_sources
    from python_assets.lake.store import write_candles

    spot = candles_frame(n=24 * 12 * 3)  # three days of 5m bars: three partitions
    spot.to_feather(tmp_path / "ADA_USDT-5m.feather")
    assert import_file(data_dir, tmp_path / "ADA_USDT-5m.feather").rows_added == len(spot)
    later = T0 + 3 * 86_400_000
    write_candles(data_dir, "ADA-USDT", "5m", pd.DataFrame({"bar_at_ms": [later, later + 300_000], "open": 1.0, "high": 1.0,
                                                            "low": 1.0, "close": 1.0, "volume": 1.0, "source": ["blofin", None]}))
    bad = data_dir.candles / "symbol=ADA-USDT" / "timeframe=1h" / "date=2020-01-01" / "candles.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"")
    columns_read = []
    read_table = pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda f, *a, **k: columns_read.append(Path(f).parent.name) or read_table(f, *a, **k))
    assert stored_candle_sources(data_dir, "ADA-USDT") == {"import:ADA_USDT-5m.feather", "blofin"}
    assert columns_read == [f"date={pd.Timestamp(later, unit='ms').date()}"]  # only the day of two sources (one null)

    perp = tmp_path / "ADA_USDT_USDT-5m-futures.feather"
    candles_frame().to_feather(perp)
    with pytest.raises(ImportFileError, match=r"already holds spot data \(candles from ADA_USDT-5m.feather\)"):
        import_file(data_dir, perp)
    (tmp_path / "ETH_BTC-5m.feather").write_bytes((tmp_path / "ADA_USDT-5m.feather").read_bytes())
    eth_bad = data_dir.candles / "symbol=ETH-BTC" / "timeframe=5m" / "date=2020-01-01" / "candles.parquet"
    eth_bad.parent.mkdir(parents=True)
    eth_bad.write_bytes(b"PAR1 not parquet")
    assert import_file(data_dir, tmp_path / "ETH_BTC-5m.feather").rows_added == len(spot)
    assert eth_bad.read_bytes() == b"PAR1 not parquet"


def test_two_imports_of_opposite_markets_into_one_symbol_at_once_cannot_both_land(data_dir, tmp_path, monkeypatch):
    """The market check runs again under the symbol's lake lock, in the same hold as the write: two imports of
    opposite markets that both passed the early check (before their files are read) while the symbol was empty
    cannot both land: the second to take the lock finds the first one's candles and is refused. (Checked only
    before the lock, both landed, their bars mixed.)"""
    import threading
    import time

    from python_assets.ingest import importers

    candles_frame().to_feather(tmp_path / "DOT_USDT-5m.feather")
    candles_frame().assign(close=lambda f: f["close"] * 1.001).to_feather(tmp_path / "DOT_USDT_USDT-5m-futures.feather")
    real, checking = importers.market_clash, threading.Event()

    def slow_first_check(*args):
        found = real(*args)
        if not checking.is_set():  # the first import's check passed: the other import runs before it writes
            checking.set()
            time.sleep(0.5)
        return found

    monkeypatch.setattr(importers, "market_clash", slow_first_check)
    outcome: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            outcome[name] = import_file(data_dir, tmp_path / name).rows_added
        except ImportFileError as exc:
            outcome[name] = str(exc)

    first = threading.Thread(target=run, args=("DOT_USDT-5m.feather",))
    first.start()
    assert checking.wait(10)
    run("DOT_USDT_USDT-5m-futures.feather")
    first.join()
    landed = [name for name, result in outcome.items() if result == 12]
    assert len(landed) == 1, outcome  # one of them, whichever reached the lock first
    (refused,) = set(outcome) - set(landed)
    held = "spot data (candles from DOT_USDT-5m.feather)" if "futures" in refused else \
        "perpetual-swap data (candles from DOT_USDT_USDT-5m-futures.feather)"
    assert f"already holds {held}" in outcome[refused]
    closes = candles_frame()["close"] * (1.001 if "futures" in landed[0] else 1.0)
    assert sorted(lake_candles(data_dir)["close"]) == sorted(closes)  # the bars of the one that landed only


def test_a_funding_file_of_any_name_means_a_swap_and_a_refused_file_is_not_read(data_dir, tmp_path, monkeypatch):
    """Funding rates exist for perpetual swaps only, so a funding file without a freqtrade name is refused for a
    symbol holding spot candles; the market check comes before the file is read (a refused file of millions of
    rows costs no read and prints only its one line)."""
    from python_assets.ingest import importers

    candles_frame().to_feather(tmp_path / "LINK_USDT-5m.feather")
    assert import_file(data_dir, tmp_path / "LINK_USDT-5m.feather").rows_added == 12
    pd.DataFrame({"funding_time": [T0], "funding_rate": [0.0001]}).to_csv(tmp_path / "rates.csv", index=False)
    with pytest.raises(ImportFileError, match=r"rates.csv: perpetual-swap funding of LINK-USDT, but LINK-USDT already "
                                              r"holds spot data \(candles from LINK_USDT-5m.feather\)"):
        import_file(data_dir, tmp_path / "rates.csv", "funding", "LINK-USDT")
    assert not (data_dir.funding / "symbol=LINK-USDT").exists()
    candles_frame().to_feather(tmp_path / "LINK_USDT_USDT-5m-futures.feather")
    monkeypatch.setattr(importers, "read_ohlcv", lambda *a: pytest.fail("a refused file was read"))
    with pytest.raises(ImportFileError, match="already holds spot data"):
        import_file(data_dir, tmp_path / "LINK_USDT_USDT-5m-futures.feather")


def test_a_file_of_one_candle_imports_with_its_timeframe_and_is_refused_without(data_dir, tmp_path):
    """One 1d candle: its length cannot be read from gaps between bars, so `--timeframe 1d` is needed (a
    review: it was refused either way)."""
    candles_frame(1, step=86_400_000).to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(ImportFileError, match="needs at least 2 bars \\(or its timeframe given\\)"):
        import_file(data_dir, tmp_path / "one.csv", kind="candles", symbol="BTC-USDT")
    r = import_file(data_dir, tmp_path / "one.csv", kind="candles", symbol="BTC-USDT", timeframe="1d")
    assert (r.rows_added, r.timeframe) == (1, "1d")
    with pytest.raises(ImportFileError, match="opens at .* not on"):  # the grid is still checked
        candles_frame(1, step=0).assign(date=lambda f: f["date"] + pd.Timedelta(hours=1)).to_csv(tmp_path / "off.csv", index=False)
        import_file(data_dir, tmp_path / "off.csv", kind="candles", symbol="BTC-USDT", timeframe="1d")


def test_candles_of_a_day_that_has_finer_candles_are_said_to_be_unused_there(data_dir, tmp_path, capsys):
    """A 1h file imported beside a 5m file of the same days was reported '100 new' though every one of its
    days is served from the 5m candles (the finest source of a day wins): the import now says how many days
    its candles stand behind finer data (the 5m file, imported first, stands behind nothing)."""
    five = pd.concat([candles_frame(288), candles_frame(288).assign(date=lambda f: f["date"] + pd.Timedelta(days=2))])
    hourly = candles_frame(72, step=3_600_000)  # days 0, 1, 2: 5m candles on days 0 and 2
    five.to_csv(tmp_path / "five.csv", index=False)
    hourly.to_csv(tmp_path / "hourly.csv", index=False)
    assert import_file(data_dir, tmp_path / "five.csv", symbol="AB-USDT").shadowed_days == 0
    assert import_file(data_dir, tmp_path / "hourly.csv", symbol="AB-USDT").shadowed_days == 2
    assert cli_main(["import", "--symbol", "AB-USDT", str(tmp_path / "hourly.csv")]) == 0
    assert "2 day(s) already have ticks or finer candles, which their bars use" in capsys.readouterr().out
