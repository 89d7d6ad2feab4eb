"""The strategies folder is read file by file: a file that does not validate, or that clashes with another
one, is left out with one line naming it (both files for a clash), and everything else runs: the daily
publish step (with a failed non-blocking check saying so), the CLI's `--strategy NAME` and research's
catalog designs. Every test reads a copy of the folder in a temp dir, never the shipped one."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from python_assets.backtest import catalog, service
from python_assets.backtest.catalog import feature_columns, publish_specs
from python_assets.backtest.spec import SpecError, spec_from_dict
from python_assets.backtest.spec_files import STRATEGY_DIR, catalog_spec, load_spec, load_specs, read_folder

SHIPPED = sorted(p.stem for p in STRATEGY_DIR.glob("*.yaml"))
TYPO = "name: zz_user_typo\nentry_long: rsi_15 < 30\nexit_long: close > open\n"  # rsi_15 is no feature


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped strategies folder."""
    return Path(shutil.copytree(STRATEGY_DIR, tmp_path / "strategies"))


def test_a_bad_file_is_left_out_with_a_line_naming_it_and_the_others_load(folder):
    # one bad user file raised for the whole folder: the daily run built nothing, the CLI ran no shipped name
    (folder / "zz_user_typo.yaml").write_text(TYPO)
    (folder / "zz_list_params.yaml").write_text("name: zz_list\nparams: [1, 2]\nentry_long: close > open\n")
    (folder / "zz_not_yaml.yaml").write_text("name: [unclosed\n")
    (folder / "zz_latin1.yaml").write_bytes(b"name: caf\xe9\n")
    assert sorted(load_specs(folder, feature_columns())) == SHIPPED
    read = read_folder(folder, feature_columns())
    assert sorted(read.left_out) == ["zz_latin1.yaml", "zz_list_params.yaml", "zz_not_yaml.yaml", "zz_user_typo.yaml"]
    for name, line in read.left_out.items():
        assert line.startswith(f"{name}: ") and "\n" not in line and str(folder) not in line, line
    assert "'rsi_15'" in read.left_out["zz_user_typo.yaml"]
    # without the feature registry (the CLI's lookup by name) the typo is only a name: it loads
    assert "zz_user_typo" in read_folder(folder).specs


def test_two_files_defining_one_strategy_are_both_left_out_naming_both(folder):
    # an edited copy of sma_cross.yaml with its name unchanged was blamed on the shipped file; a spec named
    # like sma_cross's default instance failed the publish with a bare duplicate-key error naming no file
    (folder / "my_rsi.yaml").write_text((folder / "rsi_reversion.yaml").read_text().replace("default: 24", "default: 12"))
    (folder / "zz_alias.yaml").write_text("name: 'sma_cross(fast=10,slow=30)'\n"
                                          "entry_long: close > open\nexit_long: close < open\n")
    read = read_folder(folder, feature_columns())
    assert read.left_out == {
        "my_rsi.yaml": "my_rsi.yaml and rsi_reversion.yaml: both define strategy 'rsi_reversion' (a name or the default "
                       "parameters' instance id): both left out, rename one",
        "rsi_reversion.yaml": read.left_out["my_rsi.yaml"],
        "sma_cross.yaml": read.left_out["zz_alias.yaml"],
        "zz_alias.yaml": "sma_cross.yaml and zz_alias.yaml: both define strategy 'sma_cross(fast=10,slow=30)' (a name "
                         "or the default parameters' instance id): both left out, rename one"}
    assert len(read.lines) == 2
    assert sorted(read.active) == sorted(set(SHIPPED) - {"sma_cross", "rsi_reversion"})


def test_publish_refuses_two_specs_with_one_instance_id_naming_both():
    shipped = load_spec(STRATEGY_DIR / "sma_cross.yaml")
    alias = spec_from_dict({"name": "sma_cross(fast=10,slow=30)", "entry_long": "close > open", "exit_long": "close < open"})
    with duckdb.connect() as con, pytest.raises(SpecError) as err:
        publish_specs(con, {shipped.name: shipped, alias.name: alias})
    assert str(err.value) == ("strategies 'sma_cross' and 'sma_cross(fast=10,slow=30)' both have the instance id "
                              "'sma_cross(fast=10,slow=30)': rename one")


def test_the_cli_runs_a_shipped_name_whatever_else_is_in_the_folder(folder, monkeypatch, data_dir, tmp_path, capsys):
    from blofin_cli.main import main as cli_main
    from test_vs_backtesting_py import synthetic_ohlc

    csv = tmp_path / "SYNTH.csv"
    synthetic_ohlc(600, 3).rename_axis("Date").reset_index().to_csv(csv, index=False)
    (folder / "zz_list_params.yaml").write_text("name: zz_list\nparams: [1, 2]\nentry_long: close > open\n")
    (folder / "my_rsi.yaml").write_text((folder / "rsi_reversion.yaml").read_text())
    # valid without types; publish leaves it out (regime is text): the CLI listed it as shipped
    (folder / "zz_typed.yaml").write_text("name: zz_typed\nentry_long: regime > 1\nexit_long: close < open\n")
    monkeypatch.setattr(service, "STRATEGY_DIR", folder)
    # before: AttributeError ('list' object has no attribute 'items'), exit 1, for any name
    assert cli_main(["backtest", "--strategy", "sma_cross", "--data", str(csv), "--no-html"]) == 0
    out = capsys.readouterr().out
    assert ("note: left out 4 other file(s) of strategies/ (invalid, or clashing with another file): my_rsi.yaml, "
            "rsi_reversion.yaml, zz_list_params.yaml, zz_typed.yaml (run one with --strategy PATH to see why)") in out
    # the clashing name is refused naming both files (it named only the shipped one, for any name asked)
    assert cli_main(["backtest", "--strategy", "rsi_reversion", "--no-html"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "left out my_rsi.yaml and rsi_reversion.yaml: both define strategy 'rsi_reversion'" in err
    assert "left out zz_list_params.yaml: " in err and "zz_typed" not in err.split("shipped: ")[1].split(" (or")[0]


def test_research_takes_the_catalog_specs_publish_takes(folder, monkeypatch):
    # design_day read the folder without the active filter: an `active: false` spec was still tuned and
    # entered the portfolio
    from python_assets.research import daily, design_specs

    text = (folder / "sma_cross.yaml").read_text()
    (folder / "sma_cross.yaml").write_text(text + "\nactive: false\n")
    (folder / "zz_user_typo.yaml").write_text(TYPO)
    # validates without columns; compiling its defaults fails (lag of -4 bars): publish leaves it out, and so
    # must research, or its tuning fails the step
    (folder / "zz_bad_lag.yaml").write_text("name: zz_bad_lag\nparams:\n  n: {default: 5, min: 1, max: 20}\n"
                                            "entry_long: close > lag(close, n - 9)\nexit_long: close < open\n")
    assert "zz_bad_lag" in load_specs(folder) and "zz_bad_lag" not in load_specs(folder, feature_columns())
    monkeypatch.setattr(design_specs, "STRATEGY_DIR", folder)
    cfg = daily.ResearchConfig(new_designs_min=0, new_designs_max=0)
    with duckdb.connect() as con:
        daily.design_day(con, feature_columns(), date(2025, 3, 10), cfg)
        keys = {k for (k,) in con.execute("select design_key from strategy_designs where origin = 'catalog'").fetchall()}
    assert keys and not {"catalog:sma_cross", "catalog:zz_user_typo", "catalog:zz_bad_lag"} & keys
    assert "sma_cross" not in load_specs(folder) and "sma_cross" in read_folder(folder).specs


def test_the_publish_step_leaves_a_bad_file_out_with_a_failed_check_naming_it(folder, monkeypatch, data_dir):
    # a bad file failed the strategy_specs step: nothing downstream (bars, features, ML, research, report) ran
    import dagster as dg

    from dagster_defs.backtests.assets import strategy_specs
    from dagster_defs.resources import resources

    (folder / "zz_user_typo.yaml").write_text(TYPO)
    monkeypatch.setattr(catalog, "STRATEGY_DIR", folder)
    result = dg.materialize([strategy_specs], resources=resources(), partition_key="2025-03-10", raise_on_error=False)
    assert result.success
    (check,) = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert check.check_name == "strategy_files_all_valid" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("zz_user_typo.yaml: ") and "'rsi_15'" in check.description
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        published = sorted(r[0] for r in con.execute("select strategy from strategy_specs").fetchall())
    assert published == sorted(s for s, spec in load_specs(STRATEGY_DIR).items() if spec.active)


def test_an_editors_hidden_draft_beside_the_specs_is_no_strategy(folder):
    """A .draft.yaml (hidden) was loaded and traded, while code_fingerprint skips hidden files: the draft
    changed the day's trades without changing the code version that names them."""
    (folder / ".zz_draft.yaml").write_text("name: zz_draft\nentry_long: close > open\nexit_long: close < open\n")
    read = read_folder(folder, feature_columns())
    assert sorted(load_specs(folder, feature_columns())) == SHIPPED and not read.left_out
    with pytest.raises(KeyError):
        catalog_spec("zz_draft", folder)


def test_a_dangling_symlink_beside_the_specs_is_left_out_and_the_catalog_still_answers(folder):
    """read_folder leaves a dangling x.yaml out like any unreadable file, but catalog_spec stat'ed each file
    bare: FileNotFoundError, and the research, portfolio and fill-stress steps failed."""
    (folder / "zz_gone.yaml").symlink_to(folder.parent / "elsewhere.yaml")
    read = read_folder(folder, feature_columns())
    assert list(read.left_out) == ["zz_gone.yaml"] and "cannot read" in read.left_out["zz_gone.yaml"]
    assert catalog_spec("sma_cross", folder) == load_spec(STRATEGY_DIR / "sma_cross.yaml")
    (folder.parent / "elsewhere.yaml").write_text(TYPO.replace("rsi_15", "rsi_14"))  # the link now leads to a spec
    assert catalog_spec("zz_user_typo", folder).name == "zz_user_typo"  # a new signature: the folder read again
