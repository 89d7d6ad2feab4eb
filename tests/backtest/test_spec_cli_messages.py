"""What the backtest CLI says about a spec: a missing or unreadable file by name, exit 2 in one line for a
malformed one, the OHLCV hint only for a missing column, and notes for what of the spec a run left out."""

from __future__ import annotations

import pytest
import yaml

from blofin_cli.main import main as cli_main
from python_assets.backtest.engine import Costs
from python_assets.backtest.service import find_spec, store_backtest
from python_assets.backtest.spec import SpecError

from test_metrics_and_specs import write_csv
from test_spec_validation import BASE


def test_a_directory_or_a_missing_file_is_named_as_such(tmp_path):
    (tmp_path / "x.yaml").mkdir()
    with pytest.raises(SpecError, match=r"x\.yaml: cannot read: Is a directory"):  # was IsADirectoryError
        find_spec(str(tmp_path / "x.yaml"), frozenset())
    with pytest.raises(SpecError, match=r"nope\.yml: no such file$"):  # was "unknown strategy ...; shipped: ..."
        find_spec(str(tmp_path / "nope.yml"), frozenset())


def test_the_cli_exits_2_with_one_line_for_a_malformed_spec(data_dir, tmp_path, capsys):
    csv = write_csv(tmp_path, n=100)
    for i, raw in enumerate([{**BASE, "params": [1, 2]}, {**BASE, "max_bars": float("nan")}]):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(yaml.safe_dump(raw))
        assert cli_main(["backtest", "--strategy", str(path), "--data", str(csv), "--no-html"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: bad{i}.yaml: ") and "\n" not in err, err
    assert cli_main(["backtest", "--strategy", "sma_cross", "--param", "fast=inf", "--data", str(csv), "--no-html"]) == 2
    assert "parameter fast='inf' is not a finite number" in capsys.readouterr().err


def test_the_ohlcv_hint_is_given_for_a_missing_column_only(data_dir, tmp_path):
    """Every compile error on --data got "(a --data file has OHLCV columns only ...)", a lag length too."""
    csv = write_csv(tmp_path, n=100)
    for condition, hinted in (("rsi_14 < 30", True), ("close > lag(close, n - 9)", False)):
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump({**BASE, "entry_long": condition, "exit_long": None}))
        with pytest.raises(SpecError) as err:
            store_backtest(data_dir, str(path), {"n": 5}, Costs(), data=csv)
        assert ("OHLCV columns only" in str(err.value)) is hinted, str(err.value)
    with pytest.raises(SpecError, match=r"unknown name 'macd_hist'.* \(a --data file has OHLCV columns only"):
        store_backtest(data_dir, "macd_momentum", {}, Costs(), data=csv)


def test_a_run_says_what_of_the_spec_it_left_out(data_dir, tmp_path):
    """A 4h spec on a 5m file runs on the file's bars, and a long spec's exit_short is never used: neither
    was said."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "timeframe": "4h", "exit_short": "close > open"}))
    stored = store_backtest(data_dir, str(path), {}, Costs(), data=write_csv(tmp_path, n=300))
    assert stored.notes == ("t is written for 4h bars; the file's bars are 5m: run on 5m",
                            "t is side long: its exit_short is not used")
