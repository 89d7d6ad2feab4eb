"""User-written catalog specs that change under research: a spec file deleted, renamed or edited after research
tuned it, and a spec valid at its defaults that cannot run at parameters inside its ranges. Each design is left
out (or each such trial pruned) with one line in the summary; the day, the portfolio and the fill stress run on."""

from __future__ import annotations

from dataclasses import field, fields, make_dataclass, replace
from datetime import date

import duckdb
import numpy as np
import pytest

from python_assets.backtest.portfolio_daily import portfolio_day
from python_assets.research import design_specs
from python_assets.research.daily import ResearchConfig, run_day
from python_assets.research.fill_stress import stress_day
from python_assets.research.tuner import Market
from tests.research.test_research import tables
from tests.research.test_research_rounds import noise_frame

DAY1, DAY2 = date(2025, 3, 1), date(2025, 3, 2)
# the catalog only: no proposals, one round, a few trials
CFG = ResearchConfig(trials_per_design=4, new_designs_min=0, new_designs_max=0, max_rounds=1)
KEPT = """name: zz_kept
timeframe: 1h
side: long
params:
  n: {default: 3, min: 2, max: 6}
entry_long: close > sma(close, n)
exit_long: close < sma(close, n)
"""
TUNED = KEPT.replace("zz_kept", "zz_tuned")
EDITS = {  # edit -> (the old design kept, the file's text on day 2)
    "description only": (True, TUNED.replace("side: long", "side: long\ndescription: the same strategy, told better")),
    "parameter renamed n -> m": (False, TUNED.replace("  n:", "  m:").replace(", n)", ", m)")),
    "condition changed": (False, TUNED.replace("exit_long: close < sma(close, n)", "exit_long: close < lag(close, 2)")),
}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A strategies folder of its own, holding zz_kept and zz_tuned."""
    monkeypatch.setattr(design_specs, "STRATEGY_DIR", tmp_path)
    (tmp_path / "zz_kept.yaml").write_text(KEPT)
    (tmp_path / "zz_tuned.yaml").write_text(TUNED)
    return tmp_path


@pytest.fixture(scope="module")
def market() -> Market:
    return Market.from_frame(noise_frame(days=12), "1h")


def ranked(con, day: date) -> dict[str, str]:
    return dict(con.execute("select design_id, status from ranking_history where run_date = ?", [day]).fetchall())


def test_a_deleted_spec_is_left_out_of_ranking_portfolio_and_stress_with_a_note(folder, market):
    con = duckdb.connect()
    run_day(con, market, DAY1, CFG)
    assert set(ranked(con, DAY1)) == {"c_zz_kept", "c_zz_tuned"}
    con.execute("update ranking_history set status = 'active' where run_date = ?", [DAY1])  # members of the forward record
    (folder / "zz_tuned.yaml").unlink()
    summary = run_day(con, market, DAY2, CFG)  # was: KeyError 'zz_tuned'
    assert set(ranked(con, DAY2)) == {"c_zz_kept"}
    assert summary["notes"] == [f"c_zz_tuned left out: spec file gone: {folder.name}/ has no strategy 'zz_tuned' "
                                "(deleted or renamed)"]
    stressed = stress_day(con, market, DAY1)  # the day-1 ranking still names it
    assert stressed["designs"] == 1 and stressed["left_out"].startswith("c_zz_tuned left out: spec file gone")
    book = portfolio_day(con, lambda: market, DAY2)  # its forward record's members: day 1's active designs
    assert book["forward_members"] > 0 and book["left_out"].startswith("c_zz_tuned left out: spec file gone")
    (folder / "zz_tuned.yaml").write_text(TUNED)  # back as it was: the same design, ranked again
    assert "notes" not in run_day(con, market, DAY2, CFG) and set(ranked(con, DAY2)) == {"c_zz_kept", "c_zz_tuned"}


@pytest.mark.parametrize("edit", EDITS)
def test_an_edited_spec_is_a_new_design_and_the_old_one_is_left_out(folder, market, edit):
    kept, text = EDITS[edit]
    con = duckdb.connect()
    run_day(con, market, DAY1, CFG)
    (folder / "zz_tuned.yaml").write_text(text)
    summary = run_day(con, market, DAY2, CFG)  # renamed parameter, was: SpecError 'm' is not a declared parameter
    new = con.execute("select design_id from strategy_designs where created_date = ?", [DAY2]).fetchall()
    if kept:
        assert "notes" not in summary and new == [] and set(ranked(con, DAY2)) == {"c_zz_kept", "c_zz_tuned"}
        return
    version = design_specs.content_version(design_specs.load_specs(folder)["zz_tuned"])
    assert new == [(f"c_zz_tuned@{version[:8]}",)]  # its history starts afresh: not mixed with the old strategy's
    assert set(ranked(con, DAY2)) == {"c_zz_kept", f"c_zz_tuned@{version[:8]}"}
    assert len(summary["notes"]) == 1 and summary["notes"][0].startswith("c_zz_tuned left out: spec changed: 'zz_tuned'")


SPECS_INVALID_IN_RANGE = {
    "a lag length below 1": """name: zz_lag
timeframe: 1h
side: long
params:
  n: {default: 10, min: 7, max: 10}
entry_long: close > lag(close, n - 8)
exit_long: close < lag(close, 1)
""",
    "a constraint dividing by zero": """name: zz_div
timeframe: 1h
side: long
params:
  a: {default: 2, min: 0, max: 2}
constraints: ["10 / a > 1"]
entry_long: close > lag(close, 1) * (1 + a / 1000)
exit_long: close < lag(close, 1)
""",
}


@pytest.mark.parametrize("case", SPECS_INVALID_IN_RANGE)
def test_trials_where_a_spec_cannot_run_are_pruned_counted_and_rerun_alike(folder, market, case):
    """The spec validates at its defaults; the tuner draws parameters where it does not compile (was: the
    step failed with a traceback in its line)."""
    text = SPECS_INVALID_IN_RANGE[case]
    (folder / "zz_bad.yaml").write_text(text)
    cfg = replace(CFG, trials_per_design=8)
    runs = []
    for _ in range(2):
        con = duckdb.connect()
        runs.append((run_day(con, market, DAY1, cfg), tables(con)))
    (summary, stored), (again, stored_again) = runs
    name = text.split()[1]
    assert 0 < summary["invalid_trials"] < 8
    assert [n for n in summary["notes"] if n.startswith(f"c_{name}: {summary['invalid_trials']} of 8 trials pruned")]
    trials = stored["tuning_trials"]
    assert 0 < (trials["design_id"] == f"c_{name}").sum() == 8 - summary["invalid_trials"]
    assert summary == again
    for t in stored:
        assert stored[t].equals(stored_again[t]), t


def test_a_catalog_design_stored_before_content_hashes_is_taken_as_its_file_is(folder, market):
    """A warehouse made before designs stored their spec's hash: no edit can be told, none is assumed."""
    con = duckdb.connect()
    run_day(con, market, DAY1, CFG)
    con.execute("""update strategy_designs set spec = '{"catalog": "zz_tuned"}' where design_id = 'c_zz_tuned'""")
    (folder / "zz_tuned.yaml").write_text(EDITS["condition changed"][1])
    summary = run_day(con, market, DAY2, CFG)
    assert "notes" not in summary and set(ranked(con, DAY2)) == {"c_zz_kept", "c_zz_tuned"}


def test_a_spec_comparing_a_text_feature_with_a_number_is_left_out_of_research_as_publish_leaves_it_out(folder):
    """Research read the folder against the market's plain column names, so `regime > 1` (refused by publish,
    which knows regime is text) was designed and tuned, and its query failed in DuckDB: the research step failed."""
    frame = noise_frame(days=12)
    frame["regime"] = np.where(np.arange(len(frame)) % 3 == 0, "range", "trend_up")
    market = Market.from_frame(frame, "1h")
    assert market.columns.text == {"regime"}
    (folder / "zz_typed.yaml").write_text(KEPT.replace("zz_kept", "zz_typed").replace(
        "entry_long: close > sma(close, n)", "entry_long: regime > 1"))
    (folder / "zz_label.yaml").write_text(KEPT.replace("zz_kept", "zz_label").replace(
        "entry_long: close > sma(close, n)", "entry_long: regime == 'range' and close > sma(close, n)"))
    con = duckdb.connect()
    summary = run_day(con, market, DAY1, CFG)
    designed = {k for (k,) in con.execute("select design_key from strategy_designs").fetchall()}
    assert designed == {"catalog:zz_kept", "catalog:zz_tuned", "catalog:zz_label"} and summary["trials"] > 0


def test_a_trial_whose_query_duckdb_refuses_is_pruned_not_the_steps_failure():
    """The type checker cannot see everything a query may meet: DuckDB's refusal of a trial's SQL is counted
    as an unrunnable trial like a compile error, never raised out of the research step."""
    import duckdb as db

    from python_assets.research.tuner import UNRUNNABLE

    assert issubclass(db.BinderException, UNRUNNABLE) and issubclass(db.ConversionException, UNRUNNABLE)


@pytest.mark.parametrize("change", ["an unchanged copy under another file name", "an unknown key", "active: false"])
def test_a_spec_file_left_out_or_set_inactive_says_so_not_gone(folder, market, change):
    """The file is there: a copy of it clashes with it (both left out), it fails validation, or it is set
    inactive; the note said 'spec file gone ... (deleted or renamed)', and an inactive spec's tuned design
    stayed in the ranking and the portfolio though README says active: false keeps it out."""
    con = duckdb.connect()
    run_day(con, market, DAY1, CFG)
    if change.startswith("an unchanged copy"):
        (folder / "zz_copy.yaml").write_text(TUNED)
        why = "is left out of"
    elif change == "an unknown key":
        (folder / "zz_tuned.yaml").write_text(TUNED + "leverage: 2\n")
        why = "is left out of"
    else:
        (folder / "zz_tuned.yaml").write_text(TUNED + "active: false\n")
        why = "is set active: false"
    summary = run_day(con, market, DAY2, CFG)
    assert set(ranked(con, DAY2)) == {"c_zz_kept"}
    assert [n for n in summary["notes"] if n.startswith("c_zz_tuned left out: ") and why in n], summary["notes"]


def test_the_content_hash_counts_only_what_a_spec_sets():
    """A field at its default counts as not set: a field the code adds later with a default leaves every
    unchanged spec's hash (and design id) as it was; what a spec sets still changes it."""
    from python_assets.backtest.spec import spec_from_dict
    import yaml

    raw = yaml.safe_load(TUNED)
    base = design_specs.content_version(spec_from_dict(raw))
    assert design_specs.content_version(spec_from_dict({**raw, "sizing": {"fraction": 1.0}})) == base
    assert design_specs.content_version(spec_from_dict({**raw, "description": "told better", "active": True})) == base
    assert design_specs.content_version(spec_from_dict({**raw, "sizing": {"fraction": 0.5}})) != base
    spec = spec_from_dict(raw)  # the code grows a field with a default: the same spec, the same hash
    grown = make_dataclass("Grown", [("new_knob", float, field(default=0.0))], bases=(type(spec),), frozen=True)
    assert design_specs.content_version(grown(**{f.name: getattr(spec, f.name) for f in fields(spec)})) == base
    assert design_specs.content_version(spec_from_dict({**raw, "side": "both", "entry_short": "close < open"})) != base
