"""One spec's validation: every malformed or meaningless value is refused in one line naming the file and the
problem before anything runs (a hostile review found types checked only by DuckDB at run time, inf and nan
accepted, lists read as mappings, quoted booleans read as true, duplicate YAML keys and alias bombs)."""

from __future__ import annotations

import pytest
import yaml

from python_assets.backtest import expr
from python_assets.backtest.catalog import feature_columns
from python_assets.backtest.spec import SpecError, resolve_params, spec_from_dict
from python_assets.backtest.spec_files import load_spec

BASE = {"name": "t", "timeframe": "1h", "side": "long",
        "params": {"n": {"default": 10, "min": 2, "max": 50}},
        "entry_long": "close > sma(close, n)", "exit_long": "close < sma(close, n)"}


def refused(change: dict, columns=frozenset()) -> str:
    """The SpecError message of BASE with `change` (None values drop a key)."""
    raw = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(SpecError) as err:
        spec_from_dict(raw, columns)
    return str(err.value)


def test_the_registry_marks_the_regime_labels_as_text():
    """The types come from the features' dbt yml (data_type: varchar), not a list kept here."""
    assert feature_columns().text == {"regime", "htf_1h_regime", "htf_4h_regime", "htf_1d_regime"}
    assert "rsi_14" in feature_columns() and "rsi_14" not in feature_columns().text


@pytest.mark.parametrize("condition, message", [
    ("regime == 1", "'==' compares 'regime' (text) with 1 (a number)"),  # ConversionException in the warehouse build
    ("htf_4h_regime != rsi_14", "'!=' compares 'htf_4h_regime' (text) with 'rsi_14' (a number)"),
    ("regime > 'range'", "'>' needs a number, got 'regime' (text)"),
    ("close > 'abc'", "'>' needs a number, got 'abc' (text)"),
    ("(close > open) + 1 > 0", "'+' needs a number, got a true/false condition"),
    ("close", "is 'close' (a number), not a true/false condition"),
    ("sma(close, n)", "is a number, not a true/false condition"),
    ("close > open and volume", "'and' needs a true/false condition, got 'volume' (a number)"),
    ("not close", "'not' needs a true/false condition, got 'close' (a number)"),
    ("cross_above(regime, 'range')", "'cross_above()' needs a number, got 'regime' (text)"),
    ("sma(close > open, n) > 0", "'sma()' needs a number, got a true/false condition"),
])
def test_a_condition_of_the_wrong_type_is_refused_before_it_reaches_duckdb(condition, message):
    assert message in refused({"entry_long": condition}, feature_columns())


def test_well_typed_conditions_over_text_and_numbers_pass():
    for condition in ("regime == 'trend_up' and close > ema_50", "lag(regime) != regime",
                      "abs(close - open) > 2 * atr_14", "not (regime == 'range') or rsi_14 < 30"):
        spec_from_dict({**BASE, "entry_long": condition}, feature_columns())


@pytest.mark.parametrize("condition", ["regime == 'trendup'", "close > open and 'Range' != htf_4h_regime",
                                       "not (htf_1d_regime == 'bull')"])
def test_a_text_feature_compared_with_a_label_it_never_holds_is_refused(condition):
    """regime's labels come from its accepted_values test in the yml: 'trendup' was accepted, never true, and the
    strategy never traded without a word."""
    assert "its values are high_vol, range, trend_down, trend_up" in refused({"entry_long": condition}, feature_columns())


def test_types_are_checked_without_the_registry_where_the_names_say_enough():
    """OHLCV, parameters and literals have known types; a feature is taken as any type without the registry."""
    assert "'>' needs a number, got 'abc' (text)" in refused({"entry_long": "close > 'abc'"}, None)
    spec_from_dict({**BASE, "entry_long": "regime == 1 and close > 0"})  # not known here; publish checks it


@pytest.mark.parametrize("change, message", [
    ({"params": [1, 2]}, "params must be a mapping, got list [1, 2]"),  # was AttributeError
    ({"sizing": [1]}, "sizing must be a mapping, got list [1]"),
    ({"sizing": {"fraction": 0.5, "lotsize": 1}}, "sizing: unknown key(s) ['lotsize']"),
    ({"params": {"n": {"default": 10, "min": 2, "maximum": 50}}}, "n: unknown key(s) ['maximum']"),
    ({"params": {"k": {"default": float("inf"), "min": 0, "max": float("inf")}}, "entry_long": "close < k"},
     "parameter k.default must be a finite number, got inf"),  # was BinderException: column "inf"
    ({"params": {"k": {"default": float("inf"), "min": 0, "max": float("inf"), "type": "int"}}, "entry_long": "close < k"},
     "parameter k.default must be a finite number, got inf"),  # was OverflowError
    ({"max_bars": float("inf")}, "max_bars must be a finite number, got inf"),
    ({"max_bars": float("nan")}, "max_bars must be a finite number, got nan"),
    ({"take_profit": float("nan")}, "take_profit must be a finite number, got nan"),  # acted as no target
    ({"sizing": {"lot_size": float("nan")}}, "sizing.lot_size must be a finite number, got nan"),
    ({"sizing": {"lot_size": float("inf")}}, "sizing.lot_size must be a finite number, got inf"),  # 0 trades, silently
    ({"params": {"n": {"default": 10**23, "min": 1, "max": 10**23}}}, "the length must be a whole number from 1 to 1,000,000"),
    ({"entry_long": "close > sma(close, 2000000)"}, "got 2000000"),
    ({"entry_long": "(" * 400 + "close > open" + ")" * 400}, "nested more than 40 levels deep"),  # was RecursionError
    ({"entry_long": "not " * 400 + "close > open"}, "nested more than 40 levels deep"),
    ({"constraints": "n < 3"}, "constraints must be a list of expressions, got 'n < 3'"),  # read per character
    ({"constraints": ["10 / (n - 10) > 0"]}, "divides by zero for {'n': 10}"),  # was ZeroDivisionError
    ({"constraints": ["n > 'abc'"]}, "'>' needs a number, got 'abc' (text)"),
    ({"active": "false"}, "active must be true or false (unquoted), got 'false'"),  # counted as active
    ({"params": {"n": {"default": 10, "min": 2, "max": 50, "log": "false"}}}, "n.log must be true or false"),
    ({"params": {"close": {"default": 5, "min": 1, "max": 10}}, "entry_long": "close > 3", "exit_long": None},
     "'close > 3' reads no column, so it is the same on every bar (the parameter 'close' hides the column"),
    ({"params": {"my-n": {"default": 1}}}, "parameter name 'my-n' is not a name a condition can use"),
])
def test_a_malformed_or_meaningless_value_is_refused_in_one_line(change, message):
    text = refused(change)
    assert message in text and "\n" not in text


def test_an_integral_float_or_exponent_is_accepted_for_an_int_parameter():
    """--param fast=10.0 said "'10.0' is not a number"; inf raised OverflowError."""
    spec = spec_from_dict(BASE)
    assert resolve_params(spec, {"n": "10.0"}) == {"n": 10} == resolve_params(spec, {"n": "1e1"})
    assert type(resolve_params(spec, {"n": "10.0"})["n"]) is int
    with pytest.raises(SpecError, match=r"parameter n='10\.5' must be a whole number"):
        resolve_params(spec, {"n": "10.5"})
    for bad in ("inf", "nan", "-inf"):
        with pytest.raises(SpecError, match="is not a finite number"):
            resolve_params(spec, {"n": bad})
    with pytest.raises(SpecError, match="is not a number"):
        resolve_params(spec, {"n": "ten"})


def test_a_call_in_a_window_length_names_the_length_not_a_constraint():
    message = refused({"entry_long": "close > sma(close, abs(0 - 3))"}, frozenset())
    assert "a function call (abs) is not allowed in the length of sma()" in message and "constraint" not in message


def test_sql_literals_are_finite():
    with pytest.raises(expr.ExprError, match="not a finite number"):
        expr.sql_literal(float("inf"))


@pytest.mark.parametrize("content, message", [
    (b"name: t\nside: long\nentry_long: close > open\nentry_long: close < open\n",
     "not valid YAML: key 'entry_long' is given twice (line 4, column 1)"),  # the last one won, silently
    (b"name: t\nside: long\nentry_long: close > open\na: &a [x, x]\nb: &b [*a, *a]\ndescription: [*b, *b]\n",
     "alias *a is not allowed in a spec"),  # 418 bytes of these expanded to 136M characters
    (b"name: t\ndescription: caf\xe9\nentry_long: close > open\n", "not UTF-8 text"),  # was UnicodeDecodeError
])
def test_a_spec_file_that_is_not_plain_yaml_text_is_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "user.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("line", ['name: "a\\ud800b"', 'description: "caf\\udce9"',
                                  'constraints: ["n > 2", "n < 40 or \\ud800"]', 'params: {"n\\udfff": {default: 3}}'])
def test_a_spec_whose_text_holds_a_lone_surrogate_is_refused_naming_the_file(tmp_path, line):
    """YAML's "\\ud800" escape gives a lone surrogate, which no UTF-8 file or table can hold: the spec was
    accepted and its name could reach the warehouse and the report, whose HTML then failed to encode."""
    from python_assets.backtest.spec_files import read_folder

    path = tmp_path / "user.yaml"
    path.write_text(("" if line.startswith("name:") else "name: t\n") + f"entry_long: close > open\n{line}\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith("user.yaml: text ") and "is not UTF-8 text" in message and "\n" not in message
    message.encode()  # the line itself quotes the text escaped, so it prints and logs
    (tmp_path / "good.yaml").write_text("name: good\nentry_long: close > open\n")
    folder = read_folder(tmp_path)
    assert list(folder.specs) == ["good"] and folder.left_out == {"user.yaml": message}


@pytest.mark.parametrize("entry", ["1 == 1", "n > 5"])
def test_a_condition_of_constants_or_parameters_is_allowed(entry):
    """Buy and hold (entry 1 == 1) and a parameter switch were accepted before the validation was hardened,
    and refused after it as 'reads no column': only a parameter hiding a column of its name is refused."""
    spec_from_dict({**BASE, "entry_long": entry}, feature_columns())


def test_an_escaped_surrogate_pair_is_the_one_character_it_spells(tmp_path):
    """"\\ud83d\\ude80" is one emoji (as JSON reads it); PyYAML kept two lone surrogates and the spec was
    refused as holding one. Characters written as themselves (emoji, CJK, accents) were and stay accepted."""
    path = tmp_path / "user.yaml"
    path.write_text('name: "rocket \\ud83d\\ude80"\ndescription: 趋势 café 🚀\nentry_long: close > open\n')
    spec = load_spec(path)
    assert spec.name == "rocket \U0001F680" and spec.description == "趋势 café \U0001F680"
