"""One timeframe table: the dbt seed, Python's constants and the generated dbt macros agree, and no
other file spells out a timeframe's or a day's length."""

from __future__ import annotations

import re
import subprocess

from python_assets.config import REPO_ROOT
from python_assets.platform.timeframes import (DAY_MS, HIGHER_TIMEFRAME_MS, HOUR_MS, MACRO_FILE, MINUTE_MS, TIMEFRAME_LABELS,
                                      TIMEFRAME_MS, TIMEFRAMES, off_grid_bar, read_seed, render_macros)

# Bar lengths of 5m and up, and the day, as literals (with or without digit separators); 60000 alone
# is too common (a minute in tests, prices) to police here.
LENGTH_LITERAL = re.compile(r"\b(300_?000|900_?000|3_?600_?000|14_?400_?000|86_?400_?000)\b")


def test_timeframes_python_table_is_the_seed():
    rows = read_seed()
    assert TIMEFRAME_MS == {r["timeframe"]: int(r["bar_ms"]) for r in rows}
    assert TIMEFRAMES == ("1m", "5m", "15m", "1h", "4h", "1d")
    assert list(TIMEFRAME_MS.values()) == sorted(TIMEFRAME_MS.values()), "the seed lists the finest timeframe first"
    assert HIGHER_TIMEFRAME_MS == {r["timeframe"]: int(r["bar_ms"]) for r in rows if r["is_higher_timeframe"] == "true"}
    assert TIMEFRAME_LABELS == {ms: tf for tf, ms in TIMEFRAME_MS.items()}


def test_timeframes_time_constants_are_what_they_say():
    assert (MINUTE_MS, HOUR_MS, DAY_MS) == (60_000, 3_600_000, 86_400_000)
    assert TIMEFRAME_MS["1m"] == MINUTE_MS and TIMEFRAME_MS["1h"] == HOUR_MS and TIMEFRAME_MS["1d"] == DAY_MS


def test_timeframes_dbt_macros_are_generated_from_the_seed():
    assert MACRO_FILE.read_text() == render_macros(), "run `python -m python_assets.platform.timeframes` after editing the seed"


def test_timeframes_macros_change_when_the_seed_does():
    rows = read_seed()
    edited = [dict(r, bar_ms=str(int(r["bar_ms"]) * 2)) if r["timeframe"] == "4h" else r for r in rows]
    assert render_macros(edited) != render_macros(rows)
    assert "'4h': 28800000" in render_macros(edited)


def test_timeframes_no_other_file_spells_out_a_bar_or_day_length():
    folders = ["python_assets", "dagster_defs", "blofin_cli", "dbt_project/models", "dbt_project/macros"]
    tracked = subprocess.run(["git", "ls-files", *folders], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    own = {MACRO_FILE.relative_to(REPO_ROOT).as_posix(), "python_assets/platform/timeframes.py"}
    found = [f"{path}:{n}" for path in tracked if path.endswith((".py", ".sql")) and path not in own
             for n, line in enumerate((REPO_ROOT / path).read_text().splitlines(), 1) if LENGTH_LITERAL.search(line)]
    assert found == [], f"use python_assets.platform.timeframes (Python) or timeframe_ms()/day_ms() (dbt): {found}"



def test_the_off_grid_bar_is_the_earliest_one_whatever_the_order_and_names_the_grid():
    """Import (file rows, sorted) and fetch (the exchange's page, newest first) refuse the same bar, one rule."""
    five = TIMEFRAME_MS["5m"]
    assert off_grid_bar([0, five, 2 * five], "5m", five) is None and off_grid_bar([], "5m", five) is None
    assert off_grid_bar([3 * five + 7, five, five + 30_000, 0], "5m", five) == (
        2, "the 5m grid (bars open at multiples of 5m from 00:00 UTC)")
