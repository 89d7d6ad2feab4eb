"""The lake path reaches the SQL of the lake checks as a string literal, escaped: a data dir may have a quote
in its path (macro lake_has_files; its Spark version escapes with a backslash, as Spark's literals do)."""

from __future__ import annotations

from conftest import run_dbt
from python_assets.config import Paths


def test_a_data_dir_with_a_quote_in_its_path_builds_the_staging_views(tmp_path):
    """lake_has_files once put the path into glob('...') as it was: "Parser Error: unterminated /* comment"."""
    paths = Paths(tmp_path / "it's" / "data")
    paths.lake.mkdir(parents=True)
    run_dbt(paths, "run", "--select", "stg_trades")
