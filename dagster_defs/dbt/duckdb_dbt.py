"""dbt whose saved parse survives a new data dir (the `blofin-dbt` command; dbt's arguments).

dbt parses the whole project again (~4 s) whenever the profile's connection details differ from those
its saved parse (partial_parse.msgpack) was made with. Ours name the data dir: the warehouse path and
DuckDB's file_search_path. So every new data dir (a fresh `make run`, each test's temp dir, a copy of a
data dir) parsed from scratch, although nothing a parse produces depends on where the data dir is: the
manifest holds the database name (the warehouse file's name, which stays in the comparison) and no path;
a model or macro that reads BLOFIN_DATA_DIR itself is re-parsed by dbt's own env-var tracking. This
command compares the profile with the data dir written as a placeholder; everything else dbt checks
(files, vars, env vars, the rest of the profile) is unchanged. Plain `dbt` works on the same target
dir: the two only ever disagree into a full parse, never into reusing a parse that does not fit (a plain
`dbt parse` in dbt_project/ does make the saved parse there plain dbt's: `blofin-dbt parse` there restores it;
`dagster dev` parses with blofin-dbt too: BlofinDbtProjectPreparer in dagster_defs/resources.py).

The rule this rests on: nothing the project parses reads the data dir from the profile (`target.path`,
`target.settings`, the credentials); a model that needs it calls env_var('BLOFIN_DATA_DIR'), which dbt
tracks. tests/dbt/test_partial_parse.py parses from scratch in two data dirs and requires equal manifests.

A command that runs nodes (build, run, test, seed, snapshot) into a target dir other than the project's
writes run_results.json and the compiled SQL but not manifest.json (nor semantic_manifest.json), and removes
one an earlier call left there (it would pass for this call's): dbt serializes the whole manifest twice per
call (~0.3 s of a warm 2-4 s call, measured on a test day's two daily builds) for a file nothing reads
afterwards (Dagster reads the project's, which `blofin-dbt parse` writes; the next call's parse check reads
partial_parse.msgpack). So `--state`/`--defer` cannot point at such a target dir. The project's own target
dir, and parse, compile, docs generate and the rest, get the manifest as dbt writes it.

Two more costs of dbt's own Python go: a relation's columns are read with dbt-duckdb's DESCRIBE straight
through the connection (install_direct_columns), and Jinja's code for each template is kept between calls
(dagster_defs/dbt/jinja_code.py).
"""

from __future__ import annotations

import os
import pprint
import sys
from pathlib import Path
from typing import Any

from dagster_defs.dbt import jinja_code, warm_dbt
from python_assets.config import DBT_PROJECT_DIR, dbt_server_socket
from python_assets.platform.lifeline import die_with_parent

DATA_DIR_PLACEHOLDER = "<data dir>"
NODE_COMMANDS = frozenset({"build", "run", "test", "seed", "snapshot"})  # dbt's own name for the call (flags.WHICH)


def profile_key(connection_info: list[tuple[str, Any]]) -> str:
    """What the saved parse is compared by: dbt's own text of the connection details (sorted pairs),
    with the data dir written as a placeholder in the two places the profile puts it: DuckDB's
    file_search_path (the data dir itself) and the front of the warehouse path. Any other value, the
    warehouse file's name (the models' database) included, is compared as it is."""
    info = dict(connection_info)
    settings = info.get("settings") if isinstance(info.get("settings"), dict) else {}
    data_dir = settings.get("file_search_path")
    if isinstance(data_dir, str) and data_dir:
        info["settings"] = {**settings, "file_search_path": DATA_DIR_PLACEHOLDER}
        path, data_dir = info.get("path"), os.path.normpath(data_dir)
        if isinstance(path, str) and os.path.normpath(path).startswith(data_dir + os.sep):
            info["path"] = DATA_DIR_PLACEHOLDER + os.path.normpath(path)[len(data_dir):]
    return dbt_profile_key(list(info.items()))


def dbt_profile_key(connection_info: list[tuple[str, Any]]) -> str:
    """dbt 1.11's own text of the connection details (ManifestLoader.build_manifest_state_check)."""
    return pprint.pformat(sorted(connection_info))


def install_data_dir_neutral_parse() -> None:
    """Make dbt's parse state check (ManifestLoader.build_manifest_state_check) hash profile_key; a dbt
    without that method (another version) is left as it is, so blofin-dbt is plain dbt there."""
    from dbt.contracts.files import FileHash
    from dbt.parser.manifest import ManifestLoader

    original = getattr(ManifestLoader, "build_manifest_state_check", None)
    if original is None or getattr(original, "data_dir_neutral", False):  # another dbt, or installed already
        return

    def build_manifest_state_check(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - dbt's
        check = original(self, *args, **kwargs)
        info = list(self.root_project.credentials.connection_info())
        # only where dbt's hash is still the one this module knows (a dbt that hashes more keeps its own)
        if check.profile_hash == FileHash.from_contents(dbt_profile_key(info)):
            check.profile_hash = FileHash.from_contents(profile_key(info))
        return check

    build_manifest_state_check.data_dir_neutral = True
    ManifestLoader.build_manifest_state_check = build_manifest_state_check


def install_no_manifest_write() -> None:
    """Make dbt's write_manifest (after its parse and after its nodes) skip the write in a call that runs
    nodes into a target dir other than the project's, removing a manifest an earlier call left there; every
    other call writes as dbt does. A dbt without the two names (another version) writes it as it always did."""
    import dbt.flags
    import dbt.parser.manifest
    import dbt.task.runnable

    original = getattr(dbt.parser.manifest, "write_manifest", None)
    if not callable(original) or getattr(original, "node_runs_skip", False):  # another dbt, or installed already
        return
    project_target = (DBT_PROJECT_DIR / "target").resolve()

    def write_manifest(manifest, target_path: str, which=None):  # noqa: ANN001, ANN202 - dbt's signature
        if (getattr(dbt.flags.get_flags(), "WHICH", None) not in NODE_COMMANDS
                or Path(target_path).resolve() == project_target):
            return original(manifest, target_path, which)
        for name in ("manifest.json", "semantic_manifest.json"):
            Path(target_path, name).unlink(missing_ok=True)
        return None

    write_manifest.node_runs_skip = True
    for module in (dbt.parser.manifest, dbt.task.runnable):
        if getattr(module, "write_manifest", None) is original:
            module.write_manifest = write_manifest


def install_thread_locks() -> None:
    """Make dbt's locks (the adapter's connection lock, each manifest's) fork-context ones. dbt makes them
    from a spawn context: named semaphores, whose first one starts multiprocessing's resource tracker, a
    process of its own (~13 MiB, one beside every process that uses dbt: each dbt call, and Dagster's, whose
    dagster-dbt selection builds a manifest) that only unlinks them at exit. dbt shares these locks between
    its threads, never with a process it starts, so an unnamed lock (nothing to track) serves it the same.
    Call it before dbt.contracts.graph.manifest is imported: Manifest binds its lock factory at import. A
    dbt without dbt.mp_context (another version) keeps its own."""
    import multiprocessing

    try:
        import dbt.mp_context
    except ImportError:
        return
    if hasattr(dbt.mp_context, "_MP_CONTEXT"):
        dbt.mp_context._MP_CONTEXT = multiprocessing.get_context("fork")


# dbt-duckdb's duckdb__get_columns_in_relation (macros/adapters.sql), the same query and the same five columns
COLUMNS_SQL = """
      select
          column_name,
          column_type as data_type,
          cast(null as bigint) as character_maximum_length,
          cast(null as bigint) as numeric_precision,
          cast(null as bigint) as numeric_scale
      from (describe {relation})
"""


def dbt_duckdb_macros() -> Path:
    """dbt-duckdb's adapters.sql, where its duckdb__get_columns_in_relation is."""
    import dbt.include.duckdb

    return Path(dbt.include.duckdb.__file__).parent / "macros" / "adapters.sql"


def macro_is_copied(adapters_sql: Path) -> bool:
    """Whether duckdb__get_columns_in_relation in adapters_sql runs COLUMNS_SQL (its text, spacing aside)."""
    try:
        text = adapters_sql.read_text()
    except OSError:
        return False
    start = text.find("macro duckdb__get_columns_in_relation(relation)")
    body = text[start:text.find("endmacro", start)] if start >= 0 else ""
    expected = " ".join(COLUMNS_SQL.format(relation="{{ relation.render() }}").split())
    return expected in " ".join(body.split())


def install_direct_columns() -> None:
    """Make DuckDBAdapter.get_columns_in_relation run dbt-duckdb's own DESCRIBE query through the connection
    (logged, commented and in the transaction as its macro's `statement` runs it) and build the columns from
    the cursor's rows. Through the macro, each call built a whole runtime macro context (~650 macros) and an
    agate table for a ~1 ms query: ~3 calls per incremental model, 99 in a day's warehouse build, ~1 s of it.
    Same columns (tests/dbt/test_warehouse_comments.py compares both ways); a missing relation still gives [].
    Only where dbt-duckdb's macro is still the query copied here (another version keeps its own); a project
    that overrides the macro would be bypassed: this one does not (the test checks that too)."""
    from dbt.adapters.duckdb.impl import DuckDBAdapter
    from dbt_common.exceptions import DbtRuntimeError

    original = getattr(DuckDBAdapter, "get_columns_in_relation", None)
    if original is None or getattr(original, "direct", False) or not macro_is_copied(dbt_duckdb_macros()):
        return

    def get_columns_in_relation(self, relation):  # noqa: ANN001, ANN202 - dbt's signature
        conns = self.connections
        sql = conns._add_query_comment(COLUMNS_SQL.format(relation=relation.render()))
        try:
            _, cursor = conns.add_query(sql, auto_begin=not conns.disable_transactions)
            rows = cursor.fetchall()
        except DbtRuntimeError as e:  # as dbt-duckdb's own method: DESCRIBE raises where there is no relation
            if "does not exist" in str(e).lower():
                return []
            raise
        return [self.Column(*row) for row in rows]

    get_columns_in_relation.direct = True
    DuckDBAdapter.get_columns_in_relation = get_columns_in_relation


def prepare() -> None:
    """What blofin-dbt changes in dbt before a call: the data-dir-neutral parse check, no manifest
    written by a call that runs nodes outside the project's target dir, columns read without a macro
    context, and Jinja's code for each template kept between calls (dagster_defs/dbt/jinja_code.py)
    (install_thread_locks comes before dbt's imports, so it is not here: by then the manifest's lock
    factory is bound)."""
    install_data_dir_neutral_parse()
    install_no_manifest_write()
    install_direct_columns()
    jinja_code.install(DBT_PROJECT_DIR / "target" / "jinja_code")


def entry() -> None:
    """The `blofin-dbt` command: dbt's own command line (its arguments, output and exit codes), run by the
    warm dbt server when BLOFIN_DBT_SERVER names one that answers (dagster_defs/dbt/warm_dbt.py)."""
    die_with_parent()  # an orphaned dbt would keep the warehouse locked after its run was killed
    if (server := dbt_server_socket()) is not None and (code := warm_dbt.call(server, sys.argv[1:])) is not None:
        warm_dbt.exit_as(code)
    install_thread_locks()  # before dbt's manifest module is imported: its lock factory is bound then
    from dbt.cli.main import cli

    prepare()
    try:
        cli(prog_name="dbt")
    except SystemExit as done:
        end_without_teardown(done)
        raise


def end_without_teardown(done: SystemExit) -> None:
    """Exit as dbt exits, without the ~0.5 s teardown of its modules that the caller (dagster-dbt, a test) waits
    for, once every DuckDB file dbt opened is closed (the exit handlers and a collection close what the adapter
    left; closing checkpoints the warehouse's WAL into its file, which a copy of the file, as the snapshot is,
    relies on): no open *.duckdb, nor any open *.wal, DuckDB's WAL beside a warehouse of any name (profiles.yml
    takes BLOFIN_WAREHOUSE as it is). Returns where one is still open: the interpreter's own exit then closes it."""
    import gc

    from python_assets.platform.quick_exit import end_now, exit_status, open_files_ending, run_exit_handlers

    run_exit_handlers()
    gc.collect()
    if not open_files_ending(".duckdb", ".wal"):
        end_now(exit_status(done))
