"""Real data never joins synthetic data: a symbol the synthetic generator wrote (`make run`, `demo`, `generate`)
is refused by every real writer (ingest, import, the inbox, the store itself) in one line that names its
folders and what to do, told by <data>/.lake-synthetic/<SYMBOL> or, in an older lake, the generator's market
record; the real-data record is written before a real write's rows, so a write failing midway still keeps the
generator off the symbol; and a refusal names the folders still holding data after a partial delete."""

from __future__ import annotations

import errno
import json
import shutil
from datetime import date, timedelta

import pandas as pd
import pytest

from blofin_cli.main import main
from python_assets.exchange.errors import MarketRefused
from python_assets.ingest.inbox import process_inbox
from python_assets.ingest.market import SYNTHETIC_BY, generate_market
from python_assets.lake import store as lake
from python_assets.lake.sources import MARKETS_DIR, REAL_DIR, market_file
from python_assets.lake.store import trades_partition, write_trades

SYNTH = [date(2025, 3, 8), date(2025, 3, 9)]
REAL_DAY = date(2023, 1, 1)
REAL_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
SYNTHETIC_DIR = ".lake-synthetic"  # the generator's record (python_assets/lake/sources.py)


def real_csv(folder, name: str = "real.csv", days: int = 1):
    """Real trades of 2023-01-01 (and the days after): two a day."""
    path = folder / name
    path.write_text("trade_id,ts,price,size,side\n" + "".join(
        f"{i},{REAL_MS + i * 43_200_000 + 1},16500.{i},0.5,buy\n" for i in range(2 * days)))
    return path


def futures_candles(folder):
    """freqtrade's 5m futures candles of BTC-USDT on the real day."""
    path = folder / "BTC_USDT_USDT-5m-futures.feather"
    pd.DataFrame({"date": pd.to_datetime([REAL_MS, REAL_MS + 300_000], unit="ms", utc=True), "open": 1.0,
                  "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}).to_feather(path)
    return path


def held_real(data_dir) -> list[str]:
    """The real day folders of BTC-USDT (trades or candles of 2023-01-01)."""
    return [str(p) for p in data_dir.lake.rglob(f"date={REAL_DAY}")]


def test_ingest_and_import_refuse_a_symbol_holding_synthetic_data(data_dir, tmp_path, capsys):
    """The review's repro: `generate` of BTC-USDT, then `ingest` of real 2023 trades into it said '50 added' and
    exit 0, and materializing built bars over a series half synthetic, half real (README's own path: `make run`,
    then import / ingest into the same data dir)."""
    assert main(["generate", "--start", str(SYNTH[0]), "--end", str(SYNTH[1]), "--symbols", "BTC-USDT"]) == 0
    capsys.readouterr()
    folders = f"{data_dir.trades / 'symbol=BTC-USDT'}, {data_dir.funding / 'symbol=BTC-USDT'}"
    for args in (["ingest", "--symbol", "BTC-USDT", str(real_csv(tmp_path))],
                 ["import", "--kind", "trades", "--symbol", "btc/usdt", str(real_csv(tmp_path))],
                 ["import", str(futures_candles(tmp_path))]):
        assert main(args) == 2, args
        out, err = capsys.readouterr()
        assert err.splitlines() == [
            f"error: {args[-1]}: not read: BTC-USDT: holds synthetic data (from `generate`, `demo` or a run with "
            f"BLOFIN_SOURCE=synthetic) under {folders}; real data never joins synthetic data: write it into another "
            "BLOFIN_DATA_DIR, or delete those folders first"], args
        assert "BLOFIN_SOURCE=lake" not in out
    assert held_real(data_dir) == [] and not (data_dir.data_dir / REAL_DIR).exists()
    # any writer but the generator ends in the store, which refuses it again under the symbol's lock
    with pytest.raises(ValueError, match="BTC-USDT: holds synthetic data"):  # SyntheticDataHeld
        write_trades(data_dir, "BTC-USDT", pd.read_csv(real_csv(tmp_path), dtype={"trade_id": str}))
    assert held_real(data_dir) == []


def test_the_inbox_files_a_real_file_for_a_synthetic_symbol_under_failed_with_the_reason(data_dir, tmp_path):
    generate_market(data_dir, ["BTC-USDT"], SYNTH[:1])
    inbox = data_dir.data_dir / "inbox" / "BTC-USDT"
    inbox.mkdir(parents=True)
    shutil.copy(real_csv(tmp_path), inbox / "real.csv")
    (outcome,) = process_inbox(data_dir)
    assert outcome.result is None and "BTC-USDT: holds synthetic data" in outcome.error
    failed = data_dir.data_dir / "inbox" / "failed" / "BTC-USDT"
    assert "delete those folders first" in (failed / "real.csv.error").read_text()
    assert held_real(data_dir) == []


def test_a_lake_generated_before_the_synthetic_record_is_told_by_the_generators_market_record(data_dir, tmp_path):
    generate_market(data_dir, ["BTC-USDT"], SYNTH[:1])
    shutil.rmtree(data_dir.data_dir / SYNTHETIC_DIR)
    assert json.loads(market_file(data_dir, "BTC-USDT").read_text())["by"] == SYNTHETIC_BY
    assert main(["ingest", "--symbol", "BTC-USDT", str(real_csv(tmp_path))]) == 2
    assert held_real(data_dir) == []


def test_deleting_the_synthetic_folders_lets_real_data_in_and_a_partial_delete_says_what_still_holds(data_dir,
                                                                                                     tmp_path, capsys):
    """What the refusal says to do works, and records of the deleted folders do not refuse the real data after
    it has landed; with only the trades deleted, the line names the funding folder that still holds data."""
    generate_market(data_dir, ["BTC-USDT"], SYNTH[:1])
    shutil.rmtree(data_dir.trades / "symbol=BTC-USDT")
    assert main(["ingest", "--symbol", "BTC-USDT", str(real_csv(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert f"holds synthetic data (from `generate`, `demo` or a run with BLOFIN_SOURCE=synthetic) under " \
           f"{data_dir.funding / 'symbol=BTC-USDT'}; real" in err, err
    shutil.rmtree(data_dir.funding / "symbol=BTC-USDT")
    assert main(["ingest", "--symbol", "BTC-USDT", str(real_csv(tmp_path))]) == 0
    assert main(["ingest", "--symbol", "BTC-USDT", str(real_csv(tmp_path, "more.csv", days=2))]) == 0
    assert not (data_dir.data_dir / SYNTHETIC_DIR / "BTC-USDT").exists()
    assert not market_file(data_dir, "BTC-USDT").exists()  # the generator's market record spoke for deleted data
    with pytest.raises(MarketRefused, match="BTC-USDT: holds real data"):
        generate_market(data_dir, ["BTC-USDT"], SYNTH)


def test_a_real_write_failing_midway_still_keeps_the_generator_off_its_symbol(data_dir, tmp_path, monkeypatch,
                                                                             capsys):
    """The review: a two-day ingest whose second day met a full disk stored day 1 without the real-data record
    (it was written after the merge), and `generate` then added 58,468 ticks to the symbol's other days."""
    real_write = lake.pq.write_table

    def second_day_full(table, where, *args, **kwargs):
        if f"date={REAL_DAY + timedelta(days=1)}" in str(where):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(lake.pq, "write_table", second_day_full)
    assert main(["ingest", "--symbol", "BTC-USDT", str(real_csv(tmp_path, days=2))]) == 1
    assert "No space left on device" in capsys.readouterr().err
    monkeypatch.setattr(lake.pq, "write_table", real_write)
    assert trades_partition(data_dir, "BTC-USDT", REAL_DAY).exists()
    with pytest.raises(MarketRefused, match=r"BTC-USDT: holds real data \(trades written by an import"):
        generate_market(data_dir, ["BTC-USDT"], SYNTH)
    assert not trades_partition(data_dir, "BTC-USDT", SYNTH[0]).exists()


def test_the_generators_refusal_names_the_folders_still_holding_real_data(data_dir, tmp_path, capsys):
    """A user who deleted only the real trades days saw the refusal go on without saying why: funding imported
    beside them still holds the symbol."""
    assert main(["ingest", "--symbol", "BTC-USDT", str(real_csv(tmp_path))]) == 0
    funding = tmp_path / "funding.csv"
    funding.write_text(f"timestamp,funding_rate\n{REAL_MS},0.0001\n")
    assert main(["import", "--kind", "funding", "--symbol", "BTC-USDT", str(funding)]) == 0
    shutil.rmtree(data_dir.trades / "symbol=BTC-USDT")
    capsys.readouterr()
    assert main(["generate", "--start", str(SYNTH[0]), "--end", str(SYNTH[0]), "--symbols", "BTC-USDT"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"BTC-USDT: holds perpetual-swap data (funding rates) under " \
           f"{data_dir.funding / 'symbol=BTC-USDT'}; synthetic data never joins real data" in line, line
    assert (data_dir.data_dir / REAL_DIR / "BTC-USDT").exists() and (data_dir.data_dir / MARKETS_DIR).exists()


def test_real_data_of_another_symbol_is_refused_in_a_lake_holding_synthetic_data(data_dir, tmp_path, capsys):
    """The review: in a `make run` demo data dir, `ingest t.csv --symbol XYZ` exited 0 and suggested
    `BLOFIN_SOURCE=lake blofin-stack materialize`, which built the demo's synthetic BTC/ETH with the real XYZ (a
    build reads every symbol's folders). Every real writer now refuses it in one line naming the synthetic
    symbols and another BLOFIN_DATA_DIR; nothing of XYZ is written, and the note is not printed."""
    generate_market(data_dir, ["BTC-USDT", "ETH-USDT"], SYNTH[:1])
    said = (f"XYZ-USDT: the lake {data_dir.lake} holds synthetic data (from `generate`, `demo` or a run with "
            "BLOFIN_SOURCE=synthetic) of BTC-USDT, ETH-USDT, and a build reads every symbol of its lake; real data "
            "never joins synthetic data: write it into another BLOFIN_DATA_DIR")
    for args in (["ingest", "--symbol", "XYZ-USDT", str(real_csv(tmp_path))],
                 ["import", "--kind", "trades", "--symbol", "XYZ-USDT", str(real_csv(tmp_path))],
                 ["import", str(futures_candles(tmp_path).rename(tmp_path / "XYZ_USDT_USDT-5m-futures.feather"))]):
        assert main(args) == 2, args
        out, err = capsys.readouterr()
        assert len(err.splitlines()) == 1 and err.startswith(f"error: {args[-1]}: not read: {said}"), err
        assert out == "", out  # no note suggesting BLOFIN_SOURCE=lake
    with pytest.raises(ValueError, match="XYZ-USDT: the lake .* holds synthetic data"):  # the store, under the lock
        write_trades(data_dir, "XYZ-USDT", pd.read_csv(real_csv(tmp_path), dtype={"trade_id": str}))
    inbox = data_dir.data_dir / "inbox" / "XYZ-USDT"
    inbox.mkdir(parents=True)
    shutil.copy(real_csv(tmp_path), inbox / "real.csv")
    (outcome,) = process_inbox(data_dir)
    assert outcome.result is None and said in outcome.error
    assert held_real(data_dir) == [] and not (data_dir.data_dir / REAL_DIR).exists()
    assert not any(data_dir.lake.rglob("symbol=XYZ-USDT/*"))


def test_a_missing_file_is_said_missing_before_the_symbols_synthetic_data(data_dir, capsys):
    """`ingest /nonexistent.csv --symbol BTC-USDT` in the demo data dir said 'BTC-USDT holds synthetic data'."""
    generate_market(data_dir, ["BTC-USDT"], SYNTH[:1])
    for args in (["ingest", "/nonexistent.csv", "--symbol", "BTC-USDT"],
                 ["import", "--kind", "trades", "--symbol", "BTC-USDT", "/nonexistent.csv"]):
        assert main(args) == 2
        assert capsys.readouterr().err == "error: /nonexistent.csv: no such file\n", args


@pytest.mark.parametrize("source", ["lake", "blofin", "synthetic"])
def test_a_lake_holding_synthetic_and_real_data_is_built_by_no_run_whatever_the_source(data_dir, tmp_path, capsys,
                                                                                      monkeypatch, source):
    """A lake holding both (real XYZ trades, then the generator's BTC-USDT: a lake from before the lake-wide
    refusal) was built with BLOFIN_SOURCE=lake or blofin, the synthetic market backtested and reported beside
    the real one; `materialize` and the lake step now refuse it, one line naming both sides, nothing fetched."""
    import logging

    from dagster_defs.ingest.assets import fill_lake
    from dagster_defs.resources import MarketSource

    assert main(["ingest", "--symbol", "XYZ-USDT", str(real_csv(tmp_path))]) == 0
    generate_market(data_dir, ["BTC-USDT"], SYNTH[:1])  # the generator checks only its own symbols
    capsys.readouterr()
    said = (f"the lake {data_dir.lake} holds synthetic data (BTC-USDT: from `generate`, `demo` or a run with "
            "BLOFIN_SOURCE=synthetic) and real data (XYZ-USDT), and a build reads every symbol, so synthetic data "
            "would join real data: move one side into another BLOFIN_DATA_DIR")
    from blofin_cli import pipeline

    monkeypatch.setattr(pipeline, "as_writer", lambda *args: pytest.fail("a run started"))  # refused before it
    monkeypatch.setenv("BLOFIN_SOURCE", source)
    monkeypatch.setenv("BLOFIN_API_URL", "http://127.0.0.1:9")  # nothing answers: a fetch would fail otherwise
    assert main(["materialize", "--date", SYNTH[0].isoformat()]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {said}"), err
    with pytest.raises(MarketRefused, match="holds synthetic data .* and real data"):
        fill_lake(data_dir, SYNTH[:1], MarketSource(kind=source, symbols="XYZ-USDT"), logging.getLogger("test"))
    assert not trades_partition(data_dir, "XYZ-USDT", SYNTH[0]).exists()
