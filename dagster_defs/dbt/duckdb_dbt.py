"""dbt whose saved parse survives a new data dir (the `blofin-dbt` command; dbt's arguments).

dbt parses the whole project again (~4 s) whenever the profile's connection details differ from those
its saved parse (partial_parse.msgpack) was made with. Ours name the data dir: the warehouse path and
DuckDB's file_search_path. So every new data dir (a fresh `make run`, each test's temp dir, a copy of a
data dir) parsed from scratch, although nothing a parse produces depends on where the data dir is: the
manifest holds the database name (the warehouse file's name, which stays in the comparison) and no path;
a model or macro that reads BLOFIN_DATA_DIR itself is re-parsed by dbt's own env-var tracking. This
command compares the profile with the data dir written as a placeholder; everything else dbt checks
(files, vars, env vars, the rest of the profile) is unchanged. Plain `dbt` works on the same target
dir: the two only ever disagree into a full parse, never into reusing a parse that does not fit.
"""

from __future__ import annotations

import pprint
from typing import Any

DATA_DIR_PLACEHOLDER = "<data dir>"


def without_data_dir(value: Any, data_dir: str) -> Any:
    """value with every occurrence of data_dir in its strings (dict values included) replaced."""
    if isinstance(value, str):
        return value.replace(data_dir, DATA_DIR_PLACEHOLDER)
    if isinstance(value, dict):
        return {k: without_data_dir(v, data_dir) for k, v in value.items()}
    return value


def profile_key(connection_info: list[tuple[str, Any]]) -> str:
    """What the saved parse is compared by: the connection details, sorted, the data dir (DuckDB's
    file_search_path, which the profile sets to it) written as a placeholder."""
    data_dir = (dict(connection_info).get("settings") or {}).get("file_search_path")
    items = sorted((k, without_data_dir(v, data_dir) if data_dir else v) for k, v in connection_info)
    return pprint.pformat(items)


def install_data_dir_neutral_parse() -> None:
    """Make dbt's parse state check (ManifestLoader.build_manifest_state_check) hash profile_key."""
    from dbt.contracts.files import FileHash
    from dbt.parser.manifest import ManifestLoader

    original = ManifestLoader.build_manifest_state_check

    def build_manifest_state_check(self):  # noqa: ANN001, ANN202 - dbt's signature
        check = original(self)
        check.profile_hash = FileHash.from_contents(profile_key(list(self.root_project.credentials.connection_info())))
        return check

    ManifestLoader.build_manifest_state_check = build_manifest_state_check


def entry() -> None:
    """The `blofin-dbt` command: dbt's own command line (its arguments, output and exit codes)."""
    from dbt.cli.main import cli

    install_data_dir_neutral_parse()
    cli(prog_name="dbt")


if __name__ == "__main__":
    entry()
