"""Structured UTC logs, no naive-time calls anywhere, and the CLI's ingest/generate commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from blofin_cli.main import main
from python_assets.config import REPO_ROOT
from python_assets.platform.logs import log_event


def test_log_event_writes_json_lines_with_utc_offsets(data_dir):
    log_event("something_happened", rows=3, symbol="BTC-USDT")
    line = json.loads(data_dir.log_file.read_text().splitlines()[-1])
    assert line["event"] == "something_happened" and line["rows"] == 3 and line["symbol"] == "BTC-USDT"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", line["ts"])


def test_no_code_uses_naive_utc_helpers():
    offenders = []
    for folder in ("python_assets", "dagster_defs", "blofin_cli", "bench"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            text = path.read_text()
            if re.search(r"utcnow\(|utcfromtimestamp\(", text):
                offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


def test_cli_ingest_prints_counts_and_reasons(data_dir, tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("ts,price,size,side\n1741564801000,10,1,buy\n1741564802000,-1,1,buy\n")
    assert main(["ingest", str(path), "--symbol", "BTC-USDT"]) == 0
    out = capsys.readouterr().out
    assert "2 rows read, 1 added to BTC-USDT, 0 duplicates skipped, 1 quarantined" in out
    assert "non_positive_price" in out
    assert main(["ingest", str(path), "--symbol", "BTC-USDT"]) == 0
    assert "0 added to BTC-USDT, 1 duplicates skipped" in capsys.readouterr().out


def test_cli_ingest_missing_column_exits_2_with_the_column_names(data_dir, tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("ts,price\n1741564801000,10\n")
    assert main(["ingest", str(path), "--symbol", "BTC-USDT"]) == 2
    assert "missing required column(s): size" in capsys.readouterr().err
    assert not data_dir.lake.exists()


def test_cli_generate_writes_each_symbol_day(data_dir, capsys):
    assert main(["generate", "--start", "2025-03-10", "--end", "2025-03-11", "--symbols", "SOL-USDT"]) == 0
    files = sorted(Path(p).parent.name for p in data_dir.trades.rglob("trades.parquet"))
    assert files == ["date=2025-03-10", "date=2025-03-11"]
    assert "new ticks" in capsys.readouterr().out
    assert main(["generate", "--start", "2025-03-10", "--end", "2025-03-11", "--symbols", "SOL-USDT"]) == 0
    assert "generated 0 new ticks" in capsys.readouterr().out
    n = len(pd.read_parquet(data_dir.trades / "symbol=SOL-USDT"))
    assert 30_000 < n < 70_000


def test_cli_rejects_bad_dates():
    with pytest.raises(SystemExit):
        main(["generate", "--start", "10/03/2025", "--end", "2025-03-11"])


@pytest.mark.parametrize("args, says", [
    (["generate", "--start", "2023-13-01"], "blofin-stack generate: error: argument --start: not a date (YYYY-MM-DD)"),
    (["generate", "--seed", "-1"], "blofin-stack generate: error: argument --seed: must be >= 0: '-1'"),
    (["fetch-ohlcv", "--symbol", "BTC-USDT", "--since", "1700000000"],
     "blofin-stack fetch-ohlcv: error: argument --since: '1700000000' is before 2009-01-01"),
    (["backfill", "--start", "2024-1-1"], "blofin-stack backfill: error: argument --start: not a date"),
    (["fetch-ohlcv"], "blofin-stack fetch-ohlcv: error: the following arguments are required: --symbol, --since"),
    (["nope"], "blofin-stack: error: argument command: invalid choice: 'nope'"),
    ([], "blofin-stack: error: the following arguments are required: command"),
])
def test_an_argument_error_is_one_line_on_stderr(args, says, capsys):
    """--help promises every failure is one line on stderr; argparse printed its usage (2-4 lines) before the error."""
    with pytest.raises(SystemExit) as stop:
        main(args)
    err = capsys.readouterr().err
    command = " ".join(["blofin-stack", *args[:1]]) if args and args[0] != "nope" else "blofin-stack"
    assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith(says), err
    assert err.endswith(f" (see {command} --help)\n")


def test_generation_never_mixes_synthetic_ticks_into_an_ingested_day(data_dir, tmp_path):
    from datetime import date

    from python_assets.exchange.errors import MarketRefused
    from python_assets.ingest.trades import ingest_file
    from python_assets.ingest.market import generate_market

    path = tmp_path / "real.csv"
    path.write_text("ts,price,size,side\n1741564801000,10,1,buy\n")
    ingest_file(data_dir, path, "BTC-USDT")
    with pytest.raises(MarketRefused, match="BTC-USDT: holds real data"):  # the symbol holds real trades
        generate_market(data_dir, ["BTC-USDT"], [date(2025, 3, 10)])
    assert len(pd.read_parquet(data_dir.trades / "symbol=BTC-USDT")) == 1
    assert not data_dir.funding.exists()


@pytest.mark.parametrize("spelling", ["btc-usdt", "BTC/USDT:USDT", "BTC-USDT-SWAP"])
def test_generate_makes_one_market_whatever_the_symbol_spelling(data_dir, spelling, capsys):
    # the raw spelling seeded another synthetic market (another price scale) filed under BTC-USDT
    from datetime import date

    from python_assets.ingest.synthetic import generate_ticks

    assert main(["generate", "--start", "2025-03-10", "--end", "2025-03-10", "--symbols", f"{spelling},BTC-USDT"]) == 0
    stored = pd.read_parquet(data_dir.trades / "symbol=BTC-USDT" / "date=2025-03-10" / "trades.parquet")
    ticks = generate_ticks("BTC-USDT", date(2025, 3, 10))
    assert stored["trade_id"].tolist() == ticks["trade_id"].tolist() and stored["price"].tolist() == ticks["price"].tolist()
    assert [p.name for p in data_dir.trades.iterdir()] == ["symbol=BTC-USDT"]


@pytest.mark.parametrize("args,says", [
    (["--start", "2025-03-10", "--end", "2025-03-10", "--symbols", "ETH-USDT,../x"], "invalid symbol '../x'"),
    (["--start", "2025-03-10", "--end", "2025-03-10", "--symbols", ","], "no symbol"),
    (["--start", "2001-01-01", "--end", "2001-01-02"], "synthetic market covers 2020-01-01"),
    (["--start", "2019-12-31", "--end", "2020-01-01"], "synthetic market covers 2020-01-01"),
])
def test_generate_checks_every_symbol_and_day_before_writing(data_dir, args, says, capsys):
    # a bad symbol or day failed inside the loop (ValueError, exit 1) after the good ones were written
    try:
        code = main(["generate", *args, "--seed", "1"])
    except SystemExit as stop:
        code = stop.code
    assert code == 2 and says in capsys.readouterr().err
    assert not data_dir.lake.exists()


def test_generate_refuses_a_day_that_has_not_closed(data_dir, capsys):
    # 2030 (or today) was generated; the rest of the CLI refuses times that have not happened
    from datetime import datetime, timedelta, timezone

    today = datetime.now(timezone.utc).date()
    for start, end in ((today - timedelta(days=1), today), (today, today), (today, today + timedelta(days=4000))):
        assert main(["generate", "--start", start.isoformat(), "--end", end.isoformat()]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not a complete UTC day yet" in err
    assert not data_dir.lake.exists()


@pytest.mark.parametrize("name,value,says", [
    ("BLOFIN_SYNTHETIC_MARKET", "walk", "BLOFIN_SYNTHETIC_MARKET must be one of regimes, noise, got 'walk'"),
    ("BLOFIN_SYNTHETIC_EDGE", "abc", "BLOFIN_SYNTHETIC_EDGE must be a number (0: no planted edge), got 'abc'"),
    ("BLOFIN_SYNTHETIC_EDGE", "nan", "BLOFIN_SYNTHETIC_EDGE must be a number"),
])
@pytest.mark.parametrize("command", [["generate", "--start", "2025-03-10", "--end", "2025-03-10"], ["demo", "--days", "1"]])
def test_a_bad_generator_option_is_one_line_even_where_the_days_exist(data_dir, monkeypatch, capsys, name, value, says,
                                                                        command):
    """Over days already in the lake nothing is generated, so nothing would have read the option: it is
    checked before anything runs, and named."""
    assert main(["generate", "--start", "2025-03-10", "--end", "2025-03-10", "--symbols", "BTC-USDT"]) == 0
    files = sorted(p for p in data_dir.lake.rglob("*") if p.is_file())
    capsys.readouterr()
    monkeypatch.setenv(name, value)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert sorted(p for p in data_dir.lake.rglob("*") if p.is_file()) == files


def test_generate_market_checks_every_day_before_writing(data_dir):
    from datetime import date

    from python_assets.ingest.market import generate_market

    with pytest.raises(ValueError, match="synthetic market covers"):
        generate_market(data_dir, ["BTC-USDT"], [date(2025, 3, 10), date(2040, 1, 1)])
    with pytest.raises(ValueError, match="invalid symbol"):
        generate_market(data_dir, ["BTC-USDT", "../x"], [date(2025, 3, 10)])
    assert not data_dir.lake.exists()


@pytest.mark.parametrize("days", ["0", "-3", "1000000", "x"])
def test_demo_days_must_be_a_sensible_count(data_dir, days, capsys):
    # 0 and -3 raised IndexError, 1000000 OverflowError (exit 1)
    with pytest.raises(SystemExit) as stop:
        main(["demo", "--days", days])
    assert stop.value.code == 2 and "argument --days" in capsys.readouterr().err
    assert not data_dir.lake.exists()


def test_demo_days_reaching_before_the_synthetic_market_are_refused(data_dir, capsys):
    assert main(["demo", "--days", "3650"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "synthetic market covers 2020-01-01" in err
    assert not data_dir.lake.exists()


def test_ctrl_c_is_one_line_and_exit_130(data_dir, monkeypatch, capsys):
    # a KeyboardInterrupt escaped main() as a 35-line traceback
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("python_assets.ingest.market.generate_market", interrupted)
    assert main(["generate", "--start", "2025-03-10", "--end", "2025-03-10"]) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert not (data_dir.data_dir / "last_error.log").exists()


@pytest.mark.parametrize("command", ["ingest", "features"])
def test_a_reader_that_closed_the_pipe_is_exit_141_and_no_error_for_every_command(data_dir, tmp_path, command):
    # `blofin-stack ingest ... | head -c1` was `error: BrokenPipeError`, exit 1, a traceback in last_error.log,
    # though the ingest was stored; only query answered 141
    import os
    import subprocess
    import sys

    path = tmp_path / "t.csv"
    path.write_text("ts,price,size,side\n1741564801000,10,1,buy\n")
    args = {"ingest": ["ingest", str(path), "--symbol", "BTC-USDT"], "features": ["features"]}[command]
    proc = subprocess.Popen([sys.executable, "-m", "blofin_cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "BLOFIN_DATA_DIR": str(data_dir.data_dir)})
    proc.stdout.close()  # the reader is gone before the command prints its first line
    err = proc.stderr.read().decode()
    assert (proc.wait(timeout=120), err) == (141, "")
    assert not (data_dir.data_dir / "last_error.log").exists()
    if command == "ingest":  # what the command stored stays stored
        assert len(pd.read_parquet(data_dir.trades / "symbol=BTC-USDT")) == 1


def test_a_broken_pipe_that_is_not_stdouts_stays_a_failure(data_dir, tmp_path, monkeypatch, capsys):
    # a child's pipe that broke is a failure (exit 1, one line); only stdout's closed reader is exit 141
    import os

    def broken(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("python_assets.ingest.trades.ingest_file", broken)
    path = tmp_path / "t.csv"
    path.write_text("ts,price,size,side\n1741564801000,10,1,buy\n")
    read, write = os.pipe()
    with os.fdopen(write, "w") as out:
        monkeypatch.setattr("sys.stdout", out)
        assert main(["ingest", str(path), "--symbol", "BTC-USDT"]) == 1
        os.close(read)
        assert main(["ingest", str(path), "--symbol", "BTC-USDT"]) == 141
    assert capsys.readouterr().err.startswith("error: BrokenPipeError: [Errno 32] Broken pipe")


@pytest.mark.parametrize("command,target", [("ingest", "python_assets.ingest.trades.ingest_file"),
                                            ("import", "python_assets.ingest.importers.import_file")])
def test_a_failed_lake_write_is_a_failure_not_bad_input(data_dir, tmp_path, monkeypatch, capsys, command, target):
    # ingest and import called a full disk 'bad input' (exit 2); generate and the rest say exit 1
    import errno

    from python_assets.lake.atomic import LakeWriteError

    def full(*args, **kwargs):
        raise LakeWriteError(errno.ENOSPC, "cannot write x.parquet: No space left on device; the previous version "
                             "of the file (if any) is unchanged")

    monkeypatch.setattr(target, full)
    path = tmp_path / "t.csv"
    path.write_text("ts,price,size,side\n1741564801000,10,1,buy\n")
    assert main([command, str(path), "--symbol", "BTC-USDT"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err


def test_a_partitions_start_that_is_no_date_is_bad_input_naming_it(data_dir, monkeypatch, capsys):
    # a ValueError ('Invalid isoformat string') with exit 1 and a traceback file
    from python_assets.config import SettingError, partitions_start

    monkeypatch.setenv("BLOFIN_PARTITIONS_START", "garbage")
    with pytest.raises(SettingError, match="BLOFIN_PARTITIONS_START='garbage' is not a date"):
        partitions_start()
    assert main(["materialize", "--date", "2025-03-10"]) == 2
    assert capsys.readouterr().err == "error: BLOFIN_PARTITIONS_START='garbage' is not a date (YYYY-MM-DD)\n"
    assert not (data_dir.data_dir / "last_error.log").exists()
    monkeypatch.setenv("BLOFIN_PARTITIONS_START", "2024-01-01")
    assert partitions_start() == "2024-01-01"


@pytest.mark.parametrize("value", ["20250101", "2025-03-10T00:00", "2025-3-1"])
def test_a_partitions_start_not_written_yyyy_mm_dd_is_bad_input_naming_it(data_dir, monkeypatch, capsys, value):
    """20250101 passed the check (Python 3.11's fromisoformat reads it) and then failed inside Dagster with
    a bare ValueError."""
    monkeypatch.setenv("BLOFIN_PARTITIONS_START", value)
    assert main(["materialize", "--date", "2025-03-10"]) == 2
    assert capsys.readouterr().err == f"error: BLOFIN_PARTITIONS_START={value!r} is not a date (YYYY-MM-DD)\n"


def test_a_partitions_start_after_the_last_complete_day_is_refused_with_one_line(data_dir, monkeypatch):
    """A start in the future gave no daily partition at all: every schedule tick errored."""
    from datetime import datetime, timedelta, timezone

    from python_assets.config import SettingError, partitions_start

    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    monkeypatch.setenv("BLOFIN_PARTITIONS_START", "2099-01-01")
    with pytest.raises(SettingError, match=f"BLOFIN_PARTITIONS_START=2099-01-01 is after the last complete UTC day "
                                           f"\\({yesterday}\\): there would be no daily partition to run"):
        partitions_start()
    monkeypatch.setenv("BLOFIN_PARTITIONS_START", (yesterday + timedelta(days=1)).isoformat())
    with pytest.raises(SettingError):
        partitions_start()
    monkeypatch.setenv("BLOFIN_PARTITIONS_START", yesterday.isoformat())
    assert partitions_start() == yesterday.isoformat()


def test_a_seed_that_is_no_whole_number_is_one_line_naming_it(monkeypatch):
    from python_assets.config import DEFAULT_SEED, SettingError, market_seed

    for bad in ("abc", "-1", "1.5"):
        monkeypatch.setenv("BLOFIN_SEED", bad)
        with pytest.raises(SettingError, match=f"BLOFIN_SEED must be a whole number >= 0 .*got '{bad}'"):
            market_seed()
    monkeypatch.setenv("BLOFIN_SEED", " 8 ")
    assert market_seed() == 8
    monkeypatch.delenv("BLOFIN_SEED")
    assert market_seed() == DEFAULT_SEED


@pytest.mark.parametrize("name,bad,least", [("BLOFIN_FRESHNESS_MINUTES", "abc", 1), ("BLOFIN_FRESHNESS_MINUTES", "-5", 1),
                                             ("BLOFIN_TIMEOUT_MS", "abc", 1), ("BLOFIN_TIMEOUT_MS", "0", 1),
                                             ("BLOFIN_RATE_LIMIT_MS", "1.5", 0), ("BLOFIN_MAX_RETRIES", "-1", 0)])
def test_a_count_setting_that_is_no_whole_number_in_range_is_one_line_naming_it(monkeypatch, name, bad, least):
    """BLOFIN_FRESHNESS_MINUTES=abc raised a bare 'invalid literal for int()' naming no variable (the exchange
    settings too), and a negative was taken (BLOFIN_MAX_RETRIES=-1: no attempt at all)."""
    from python_assets.config import SettingError, exchange_settings, freshness_minutes

    read = freshness_minutes if name == "BLOFIN_FRESHNESS_MINUTES" else exchange_settings
    monkeypatch.setenv(name, bad)
    with pytest.raises(SettingError, match=f"^{name} must be a whole number >= {least}, got {re.escape(repr(bad))}$"):
        read()


def test_count_settings_keep_their_defaults_and_take_zero_retries(monkeypatch):
    from python_assets.config import exchange_settings, freshness_minutes

    for name in ("BLOFIN_FRESHNESS_MINUTES", "BLOFIN_TIMEOUT_MS", "BLOFIN_RATE_LIMIT_MS", "BLOFIN_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    assert freshness_minutes() == 60
    assert {k: exchange_settings()[k] for k in ("rate_limit_ms", "timeout_ms", "max_retries")} == \
        {"rate_limit_ms": None, "timeout_ms": 10_000, "max_retries": 6}
    monkeypatch.setenv("BLOFIN_MAX_RETRIES", "0")  # one attempt, no retry
    monkeypatch.setenv("BLOFIN_TIMEOUT_MS", " 2500 ")
    monkeypatch.setenv("BLOFIN_RATE_LIMIT_MS", "0")  # no gap (a local proxy): taken before 5277c42, refused by it
    assert (exchange_settings()["max_retries"], exchange_settings()["timeout_ms"], exchange_settings()["rate_limit_ms"]) \
        == (0, 2500, 0)


@pytest.mark.parametrize("value", ["", "  ", ",", " , "])
def test_symbols_set_but_naming_none_are_refused_with_one_line_before_any_run(data_dir, monkeypatch, capsys, value):
    """BLOFIN_SYMBOLS= (os.environ.get gives '', not the default) ran the whole graph on nothing, every step
    'OK', and ended 44 s later in research's traceback (cannot convert float NaN to integer)."""
    from python_assets.config import DEFAULT_SYMBOLS, SettingError, market_symbols

    monkeypatch.setenv("BLOFIN_SYMBOLS", value)
    says = f"BLOFIN_SYMBOLS={value!r} names no symbol: set comma-separated symbols (e.g. BTC-USDT,ETH-USDT) or unset it"
    with pytest.raises(SettingError, match=re.escape(says)):
        market_symbols()
    assert main(["materialize", "--date", "2025-03-10"]) == 2
    assert capsys.readouterr().err == f"error: {says} for the default {','.join(DEFAULT_SYMBOLS)}\n"
    assert not (data_dir.data_dir / "last_run.log").exists()  # refused before the run began
    monkeypatch.delenv("BLOFIN_SYMBOLS")
    assert market_symbols() == ",".join(DEFAULT_SYMBOLS)


@pytest.mark.parametrize("value,bad", [("BTC USDT,ETH-USDT", "BTC USDT"), ("ETH-USDT,../x", "../x"), ("btc usdt", "btc usdt")])
def test_a_symbol_the_lake_refuses_is_refused_with_one_line_before_any_run(data_dir, monkeypatch, capsys, value, bad):
    """BLOFIN_SYMBOLS="BTC USDT,ETH-USDT" started a run whose lake step failed (ValueError: invalid symbol), exit 1."""
    from python_assets.config import SettingError, market_symbols

    monkeypatch.setenv("BLOFIN_SYMBOLS", value)
    says = f"BLOFIN_SYMBOLS: invalid symbol {bad!r}: use letters/digits separated by '-', e.g. BTC-USDT"
    with pytest.raises(SettingError, match=re.escape(says)):
        market_symbols()
    assert main(["materialize", "--date", "2025-03-10"]) == 2
    assert capsys.readouterr().err == f"error: {says}\n"
    assert not (data_dir.data_dir / "last_run.log").exists()


def test_symbols_in_any_spelling_the_lake_takes_are_read_in_its_spelling(monkeypatch):
    from python_assets.config import market_symbols

    monkeypatch.setenv("BLOFIN_SYMBOLS", " eth-usdt, btc/usdt:usdt,,ETH-USDT-SWAP ,sol_usdt")
    assert market_symbols() == "ETH-USDT,BTC-USDT,SOL-USDT"


def test_a_bad_seed_is_refused_by_the_cli_before_any_run(data_dir, monkeypatch, capsys):
    """The Definitions refused it at load, inside the run: 'materialization ... stopped: SettingError', exit 1."""
    monkeypatch.setenv("BLOFIN_SEED", "abc")
    assert main(["materialize", "--date", "2025-03-10"]) == 2
    assert capsys.readouterr().err == ("error: BLOFIN_SEED must be a whole number >= 0 (the synthetic market's seed), "
                                       "got 'abc'\n")
    assert not (data_dir.data_dir / "last_run.log").exists()


def test_an_unknown_market_source_is_refused_by_the_cli_before_any_run(data_dir, monkeypatch, capsys):
    """BLOFIN_SOURCE=Lake started a run whose lake step failed (ValueError: unknown BLOFIN_SOURCE), exit 1."""
    monkeypatch.setenv("BLOFIN_SOURCE", "Lake")
    assert main(["materialize", "--date", "2025-03-10"]) == 2
    assert capsys.readouterr().err == "error: BLOFIN_SOURCE='Lake' is not a market source: use synthetic, lake, blofin\n"
    assert not (data_dir.data_dir / "last_run.log").exists()


def test_a_log_write_on_a_full_disk_is_one_short_warning_and_leaves_no_torn_line(data_dir, monkeypatch, capsys):
    """logging.FileHandler printed a 22-line '--- Logging error ---' traceback per failed write and left a
    torn JSON line that the next event was glued onto."""
    import errno
    import os

    log_event("first", n=1)
    real_write = os.write

    def half_then_full(fd, data):  # the disk takes part of the first line, then nothing
        if b'"n": 2' in data:
            return real_write(fd, data[: len(data) // 2])
        if b'"n": 3' in data:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", half_then_full)
        log_event("second", n=2)
        log_event("second", n=3)
    log_event("third", n=4)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err and len(err.splitlines()) == 1, err
    assert "No space left on device" in err
    events = [json.loads(line)["event"] for line in data_dir.log_file.read_text().splitlines() if line]
    assert events == ["first", "third"]
    with data_dir.log_file.open("a") as fh:
        fh.write('{"ts": "2025-03-10T00:00:00.000+00:00", "level": "INF')  # torn by an older writer
    log_event("fourth")
    assert json.loads(data_dir.log_file.read_text().splitlines()[-1])["event"] == "fourth"


def test_a_failed_log_write_never_truncates_another_writers_line(data_dir, monkeypatch):
    """A write that raises wrote nothing; the file's growth since belongs to another process, which the
    take-back truncated away."""
    import errno
    import os

    from python_assets.platform.logs import append_line

    path = data_dir.data_dir / "shared.log"
    path.write_bytes(b'{"a": 1}\n')
    real_write = os.write

    def other_then_full(fd, data):
        with open(path, "ab") as other:  # another process appends between our size check and our write
            other.write(b'{"other": "process line"}\n')
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", other_then_full)
    with pytest.raises(OSError):
        append_line(path, b'{"mine": 1}\n')
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_bytes() == b'{"a": 1}\n{"other": "process line"}\n'


def test_a_log_a_full_disk_kept_from_its_first_line_is_not_left_empty(data_dir, monkeypatch):
    """alerts.log, first written on a full disk: the file the write created is removed again (a review found a
    0-byte alerts.log after a full-disk run); an existing log is kept as it was."""
    import errno
    import os

    from python_assets.platform.logs import append_line

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    fresh, kept = data_dir.data_dir / "alerts.log", data_dir.data_dir / "kept.log"
    kept.write_bytes(b"")
    monkeypatch.setattr(os, "write", full)
    for path in (fresh, kept):
        with pytest.raises(OSError):
            append_line(path, b'{"alert": 1}\n')
    assert not fresh.exists() and kept.read_bytes() == b""


def test_a_field_json_cannot_hold_is_one_warning_not_an_exception(data_dir, capsys):
    """logging.FileHandler turned a formatting error into a logging-error message; the JSON-lines handler let
    the TypeError of a dict with tuple keys fail the caller's step."""
    log_event("odd", d={(1, 2): 3})
    log_event("after")
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "keys must be" in err
    assert json.loads(data_dir.log_file.read_text().splitlines()[-1])["event"] == "after"


@pytest.mark.parametrize("text", ["20261201", "2026-W49-2", "2026-335", "2026-12-01T00:00", "٢٠٢٦-١٢-٠١"])
@pytest.mark.parametrize("command", [["report", "--date"], ["materialize", "--date"], ["backfill", "--end", "2026-12-02", "--start"]])
def test_a_day_argument_takes_only_yyyy_mm_dd(data_dir, capsys, command, text):
    # 3.11's date.fromisoformat took 20261201 and 2026-W49-2 as 2026-12-01
    with pytest.raises(SystemExit) as exit_:
        main([*command, text])
    assert exit_.value.code == 2
    assert f"not a date (YYYY-MM-DD): {text!r}" in capsys.readouterr().err


def test_an_empty_partitions_start_is_unset_everywhere(data_dir, monkeypatch):
    """partitions_start read BLOFIN_PARTITIONS_START= as unset (the lake's first day) while the inbox sensor's
    message and the CLI's extend_partitions_to read it as pinned: the one told the user to move a pin there
    was none of, the other never extended the partitions to an earlier day a run ingests."""
    from python_assets.config import DEFAULT_PARTITIONS_START, partitions_start, partitions_start_is_set

    monkeypatch.setenv("BLOFIN_PARTITIONS_START", "")
    assert not partitions_start_is_set() and partitions_start() == DEFAULT_PARTITIONS_START  # an empty lake
    monkeypatch.setenv("BLOFIN_PARTITIONS_START", "2024-02-01")
    assert partitions_start_is_set() and partitions_start() == "2024-02-01"


def test_generate_and_demo_take_the_runs_seed_and_symbols(tmp_path, monkeypatch):
    """generate and demo used --seed 7 and the three default symbols whatever BLOFIN_SEED and BLOFIN_SYMBOLS
    said (BLOFIN_SEED=abc generated a seed-7 market, exit 0), so `BLOFIN_SEED=3 blofin-stack demo` reported a
    seed-7 market and BLOFIN_SYMBOLS=BTC-USDT generated symbols its run never read."""
    import pyarrow.parquet as pq

    def generated(name: str, *args: str) -> bytes:
        monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / name))
        assert main(["generate", "--start", "2025-03-10", "--end", "2025-03-10", *args]) == 0
        (day,) = (tmp_path / name / "lake" / "trades").glob("symbol=*/date=2025-03-10/trades.parquet")
        assert day.parent.parent.name == "symbol=BTC-USDT"
        return pq.read_table(day).to_pandas().to_json()

    monkeypatch.setenv("BLOFIN_SYMBOLS", "BTC-USDT")
    monkeypatch.setenv("BLOFIN_SEED", "3")
    from_env = generated("env")
    assert from_env == generated("flags", "--seed", "3", "--symbols", "BTC-USDT")
    assert from_env != generated("other", "--seed", "7")
    monkeypatch.setenv("BLOFIN_SEED", "abc")
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / "bad"))
    assert main(["generate", "--start", "2025-03-10", "--end", "2025-03-10"]) == 2
