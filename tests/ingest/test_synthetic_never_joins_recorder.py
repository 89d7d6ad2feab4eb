"""A recorder's first hour is real data too: before its first finished hour merges into trades/, `blofin-stack
record` writes only its own datasets (live hour files, books, mark prices, segments, gaps, day marks, instruments),
none of which the synthetic writers looked at, so `generate` / `demo` wrote synthetic data into the data dir it
records to (a review's repro), and at its next merge the recorder's writes were refused. `generate`, `demo` and
the synthetic source refuse such a lake in one line (exit 2), as they refuse real trades."""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd
import pytest

from blofin_cli.main import main
from dagster_defs.ingest.assets import fill_lake
from dagster_defs.resources import MarketSource
from python_assets.config import Paths
from python_assets.exchange import rec_store as store
from python_assets.exchange.errors import MarketRefused
from python_assets.exchange.rec_symbol import SymbolRecorder
from python_assets.ingest.market import generate_market, synthetic_source_refusal
from python_assets.lake.sources import DATASETS, RECORDER_DATASETS, RECORDER_LAKE_WIDE

DAY = date(2025, 3, 9)
H10 = 1_741_600_800_000  # 2025-03-10 10:00 UTC
H = 3_600_000


def record_minutes(paths: Paths, symbol: str = "SOL-USDT") -> SymbolRecorder:
    """A recorder's first minutes of a symbol: trades, a book, a mark price, flushed; no hour finished yet."""
    clock = lambda: H10 + 5 * 60_000  # noqa: E731
    rec = SymbolRecorder(paths, symbol, symbol, 1.0, 20, "s1", clock)
    rec.resume()
    rec.on_trades([{"tradeId": str(i), "ts": str(H10 + i), "price": "100", "size": "1", "side": "buy"}
                   for i in (1, 2)])
    rec.on_book("snapshot", {"bids": [["99", "1"]], "asks": [["101", "1"]], "ts": str(H10), "seqId": "5",
                             "prevSeqId": "0"})
    rec.sample()
    rec.on_mark((H10 + 1000, 100.0, 100.1))
    rec.flush(merge=True)
    return rec


def test_generate_and_demo_refuse_a_data_dir_a_recorder_writes_to(data_dir: Paths, capsys, monkeypatch) -> None:
    """The review's repro: a recorder's live hour file of SOL-USDT, then `generate` of BTC-USDT was allowed."""
    record_minutes(data_dir)
    assert not data_dir.trades.exists() and not data_dir.funding.exists()  # only the recorder's own datasets
    import blofin_cli.pipeline

    monkeypatch.setattr(blofin_cli.pipeline, "run_window", lambda *a, **k: 99)  # no run, were the demo let through
    for args in (["generate", "--start", DAY.isoformat(), "--end", DAY.isoformat(), "--symbols", "BTC-USDT"],
                 ["demo", "--days", "1"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("error: SOL-USDT: holds real data (written by the recorder"), err
        assert str(data_dir.live_trades / "symbol=SOL-USDT") in err[0]
    with pytest.raises(MarketRefused, match="SOL-USDT: holds real data"):
        fill_lake(data_dir, [DAY], MarketSource(kind="synthetic"), logging.getLogger("test"))
    with pytest.raises(MarketRefused, match="written by the recorder"):  # the same symbol, checked by the generator
        generate_market(data_dir, ["SOL-USDT"], [DAY])
    assert not data_dir.trades.exists() and not data_dir.funding.exists()


@pytest.mark.parametrize("dataset", [*RECORDER_DATASETS, *RECORDER_LAKE_WIDE])
def test_each_of_the_recorders_datasets_alone_is_real_data(data_dir: Paths, dataset: str) -> None:
    folder = data_dir.lake / dataset / ("symbol=ETH-USDT" if dataset in RECORDER_DATASETS else "")
    (folder / "date=2025-03-10").mkdir(parents=True)
    pd.DataFrame({"ts": [H10]}).to_parquet(folder / "date=2025-03-10" / "part.parquet")
    assert synthetic_source_refusal(data_dir) is not None
    assert str(folder).rstrip("/") in synthetic_source_refusal(data_dir)


def test_the_recorders_datasets_are_every_folder_it_writes(data_dir: Paths) -> None:
    """What the refusal looks at covers every lake folder a recorder session writes (a new dataset of the
    recorder must join RECORDER_DATASETS, or generate would write beside it)."""
    rec = record_minutes(data_dir)
    rec.on_funding([{"fundingRate": "0.0001", "fundingTime": str(H10 + 6 * 60_000)}])
    rec.clock = lambda: H10 + 15 * H  # noqa: E731 - its day is over: merged (trades/, books/...), marked
    rec.flush(merge=True, final=True)
    store.write_instruments(data_dir, [("SOL-USDT", H10, 1.0, 0.1, 0.1, 0.01, 50.0, 8, "live")], H10)
    written = {p.name for p in data_dir.lake.iterdir() if p.is_dir()}
    assert {"live_trades", "books", "mark_prices", "recorder_days", "instruments", "funding"} <= written
    bookkeeping = {"trade_index", "quarantine"}  # written with trades/ (its id index, refused rows)
    assert written <= {*DATASETS, *RECORDER_DATASETS, *RECORDER_LAKE_WIDE, *bookkeeping}
