"""`blofin-stack backtest` checks its arguments and output paths before it runs: a bad one is one line and
exit 2 with no run stored in the ledger (they were checked after the run was stored, or never)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from blofin_cli.main import main as cli_main
from python_assets.config import Paths

from test_vs_backtesting_py import synthetic_ohlc


def stored_runs(paths: Paths) -> int:
    """Runs in backtest_runs (0 without a warehouse or the table)."""
    if not paths.warehouse.exists():
        return 0
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        tables = {r[0] for r in con.execute("show tables").fetchall()}
        return con.execute("select count(distinct run_id) from backtest_runs").fetchone()[0] if "backtest_runs" in tables else 0


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "SYNTH.csv"
    synthetic_ohlc(600, 3).rename_axis("Date").reset_index().to_csv(path, index=False)
    return path


def _outputs(tmp_path: Path) -> dict[str, list[str]]:
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    return {
        "html is a folder": ["--html", str(tmp_path / "a_folder")],
        "html under a file": ["--html", str(tmp_path / "a_file" / "x.html")],
        "html in /proc": ["--html", "/proc/nope/x.html"],
        "export dir is a file": ["--export", "csv", "--export-dir", str(tmp_path / "a_file")],
        "walk-forward inf": ["--walk-forward", "inf:4"],
        "walk-forward 1e300": ["--walk-forward", "1e300:4"],
        "walk-forward nan": ["--walk-forward", "nan:4"],
        "walk-forward longer than the data": ["--walk-forward", "100:4"],
        "walk-forward bad mode": ["--walk-forward", "2:1:sideways"],
    }


@pytest.mark.parametrize("case", [
    "html is a folder", "html under a file", "html in /proc", "export dir is a file", "walk-forward inf",
    "walk-forward 1e300", "walk-forward nan", "walk-forward longer than the data", "walk-forward bad mode"])
def test_bad_outputs_and_folds_are_refused_before_the_run_is_stored(data_dir, csv, tmp_path, case, capsys):
    # each failed after the run was stored (IsADirectoryError, FileNotFoundError, FileExistsError: exit 1),
    # overflowed (inf) or ran with no fold and exited 0 (1e300)
    args = _outputs(tmp_path)[case]
    assert cli_main(["backtest", "--strategy", "sma_cross", "--data", str(csv), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert stored_runs(data_dir) == 0
    assert not Path("/proc/nope").exists()


@pytest.mark.parametrize("args,says", [
    (["--days", "0"], "argument --days"), (["--days", "-5"], "argument --days"),
    (["--trades", "-1"], "argument --trades"), (["--periods-per-year", "inf"], "argument --periods-per-year"),
])
def test_meaningless_counts_are_refused_by_the_parser(args, says, capsys):
    # --days 0 silently meant 'all bars', --days -5 failed later with exit 1
    with pytest.raises(SystemExit) as stop:
        cli_main(["backtest", "--strategy", "sma_cross", *args])
    assert stop.value.code == 2 and says in capsys.readouterr().err


def test_a_warehouse_without_bars_is_exit_2_with_a_hint(data_dir, capsys):
    # a CatalogException (int_bars_unioned does not exist), exit 1 with a traceback saved
    data_dir.warehouse.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(data_dir.warehouse)).close()
    assert cli_main(["backtest", "--strategy", "sma_cross", "--no-html"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no bars yet" in err and "blofin-stack materialize" in err
    assert not (data_dir.data_dir / "last_error.log").exists()


def test_a_new_chart_folder_is_made_after_the_check(data_dir, csv, tmp_path, capsys):
    chart = tmp_path / "new" / "sub" / "x.html"
    assert cli_main(["backtest", "--strategy", "sma_cross", "--data", str(csv), "--html", str(chart),
                     "--walk-forward", "1:0.5:anchored", "--export", "csv"]) == 0
    assert chart.exists() and len(list(chart.parent.glob("*_trades.csv"))) == 1 and stored_runs(data_dir) == 1


def test_symbols_are_read_in_any_spelling_as_generate_and_record_read_them(data_dir, tmp_path, capsys):
    # backtest split --symbols itself: btc-usdt was "unknown symbols btc-usdt, eth/usdt" beside BTC-USDT bars
    path = tmp_path / "BTC-USDT.csv"
    synthetic_ohlc(600, 3).rename_axis("Date").reset_index().to_csv(path, index=False)
    assert cli_main(["backtest", "--strategy", "sma_cross", "--data", str(path), "--symbols", "btc-usdt",
                     "eth/usdt,BTC-USDT-SWAP"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unknown symbol ETH-USDT: ") and err.endswith(" have BTC-USDT\n")
    assert stored_runs(data_dir) == 0


@pytest.mark.parametrize("bad,says", [("../x", "invalid symbol '../x'"), (",", "no symbol")])
def test_a_malformed_symbol_is_refused_by_the_parser(bad, says, capsys):
    # '../x' and ',' passed the parser (',' as no symbol at all: every symbol with bars) and reached the run
    with pytest.raises(SystemExit) as stop:
        cli_main(["backtest", "--strategy", "sma_cross", "--symbols", "BTC-USDT", bad])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert stop.value.code == 2 and len(errors) == 1
    assert errors[0].startswith(f"blofin-stack backtest: error: argument --symbols: {says}")


def test_the_help_names_every_data_format_and_the_symbol_default(tmp_path: Path, capsys):
    """`backtest --help` says what --data reads (README: CSV, Parquet, Feather or freqtrade JSON) and that
    --symbol defaults to a freqtrade file's pair; each is what read_ohlcv does."""
    from python_assets.backtest.files import read_ohlcv

    ohlc = synthetic_ohlc(40, 1)
    frame = ohlc.rename(columns=str.lower).reset_index(drop=True)
    frame.insert(0, "date", ohlc.index.as_unit("ms").asi8)  # freqtrade's columns, epoch ms
    frame.to_feather(tmp_path / "XRP_USDT_USDT-1h-futures.feather")
    (tmp_path / "XRP_USDT_USDT-1h-futures.json").write_text(frame.to_json(orient="values"))  # rows as arrays
    for name in ("XRP_USDT_USDT-1h-futures.feather", "XRP_USDT_USDT-1h-futures.json"):
        bars, _ = read_ohlcv(tmp_path / name)
        assert len(bars) == 40 and set(bars["symbol"]) == {"XRP-USDT"}, name
    with pytest.raises(SystemExit):
        cli_main(["backtest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for named in ("CSV, Parquet, Feather or freqtrade JSON", "XRP_USDT_USDT-5m-futures.feather -> XRP-USDT"):
        assert named in text, named


@pytest.mark.parametrize("bad,says", [("X\x1b[2JY\nZ", "invalid symbol"), ("../x", "invalid symbol"),
                                      ("A-B,C-D", "one symbol, not 2")])
def test_a_malformed_data_symbol_is_refused_by_the_parser_as_symbols_is(bad, says, capsys):
    # --symbol took anything: $'X\e[2JY\nZ' was stored as the run's symbol (and printed, clearing the screen)
    with pytest.raises(SystemExit) as stop:
        cli_main(["backtest", "--strategy", "sma_cross", "--data", "x.csv", "--symbol", bad])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert stop.value.code == 2 and len(errors) == 1
    assert errors[0].startswith(f"blofin-stack backtest: error: argument --symbol: {says}")


def test_a_data_symbol_is_read_in_any_spelling():
    from blofin_cli.main import build_parser

    args = build_parser().parse_args(["backtest", "--strategy", "sma_cross", "--data", "x.csv", "--symbol", "xrp/usdt:usdt"])
    assert args.symbol == "XRP-USDT"


def test_the_cli_defaults_to_the_daily_runs_costs():
    # `backtest` charged 0 bps of slippage where the daily run charges 1 bp: the same strategy read differently
    from blofin_cli.main import build_parser
    from dagster_defs.backtests.assets import BacktestConfig

    args = build_parser().parse_args(["backtest", "--strategy", "sma_cross"])
    daily = BacktestConfig()
    assert (args.fees, args.slippage_bps) == (daily.taker_fee, daily.slippage_bps) == (0.0006, 1.0)
    assert args.maker_fee is None and min(args.fees, daily.maker_fee) == daily.maker_fee  # the CLI's maker default
    from python_assets.backtest.defaults import MAKER_FEE

    assert MAKER_FEE == daily.maker_fee


def test_backtest_symbol_labels_a_joined_name_as_symbols_does():
    """`backtest --symbol BTCUSDT` (a --data file's label) read BTCUSDT while `--symbols BTCUSDT` reads BTC-USDT
    (lake/sources.user_symbol): one market, one label."""
    from blofin_cli.common import lake_symbol

    assert lake_symbol("BTCUSDT") == lake_symbol("btc/usdt:usdt") == "BTC-USDT"
    assert lake_symbol("WBTC") == "WBTC"  # a coin name ending in a quote's letters is kept
