"""Shared fixtures: a temp data dir per test, the dbt manifest once per run, a dbt runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import pytest

from python_assets.config import DBT_PROJECT_DIR, DBT_WINDOW_ENV, Paths

# Partitions start at the lake's first day unless pinned: pin them, so the Definitions a test
# process loads do not depend on whatever lake ./data holds when they are first imported.
os.environ.setdefault("BLOFIN_PARTITIONS_START", "2024-01-01")
os.environ.setdefault("BLOFIN_SPARK_SMALL_DATA", "1")  # the Spark tests' small data: no AQE, no whole-stage codegen
# The test modules pytest rewrites for their asserts are kept (__pycache__, ignored by git) where
# PYTHONDONTWRITEBYTECODE is set, as on these machines: each worker rewrote all ~490 again on every run (~8 s).
# In this process only: its children keep the setting (dbt-duckdb imports a Python model from a temp file,
# whose .pyc would stay in /tmp).
sys.dont_write_bytecode = False

CLI = [sys.executable, "-m", "blofin_cli"]  # the blofin-stack command, run as a subprocess
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def dbt_bin() -> str:
    """blofin-dbt (dbt whose saved parse fits any data dir), as the pipeline runs it."""
    return shutil.which("blofin-dbt") or str(Path(sys.executable).parent / "blofin-dbt")


def pytest_configure(config: pytest.Config) -> None:
    """dagster-dbt and the feature registry need target/manifest.json at collection: parse once
    when `make test` has not (a bare `pytest` on a fresh clone)."""
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not manifest.exists():
        subprocess.run([dbt_bin(), "parse", "--quiet", "--profiles-dir", "."], cwd=DBT_PROJECT_DIR, check=True)


BUILT_DAYS = ("built_first_day", "built_two_days")  # session fixtures: the whole graph, built once per worker
LONG_GROUPS = ("spark", "built_days")  # started first, so the short files fill the other worker meanwhile


@lru_cache(maxsize=None)
def worker_group(test_file: str) -> str:
    """The group of a test file under `make test`'s two workers: a file's tests stay on one worker (its
    module fixtures build once); the files of the local Spark session share one group, those of the
    session-built days another (test_spark_graph, in the Spark group, builds the first day again on its
    worker), the two side by side. Read from the file's text:
    the controller that schedules has no collected items to look at."""
    path = Path(__file__).resolve().parent.parent / test_file
    if not path.is_file():  # a rootdir other than the repository's: no grouping beyond the file
        return test_file
    text = path.read_text()
    if "pytest.mark.spark" in text:
        return "spark"
    if uses_built_days(test_file):
        return "built_days"
    return test_file


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN201 - xdist's Scheduling
    """xdist's scope scheduler with worker_group as the scope (its own loadgroup reads a node id field
    that pytest 9 no longer has, so it would spread a file's tests over both workers). Only for
    `--dist loadscope` (what `make test` asks for); any other mode keeps xdist's own scheduler."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid.split("::")[0])

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The two long groups first (stable otherwise): with two workers, the other files run beside them.
    In the Spark group the files that need no built day go first, so that by the time test_spark_graph
    asks for built_first_day the other worker has built it (it is built once per run)."""
    first = {group: i for i, group in enumerate(LONG_GROUPS)}

    def key(item: pytest.Item) -> tuple[int, bool]:
        test_file = item.nodeid.split("::")[0]
        group = worker_group(test_file)
        return first.get(group, len(first)), group == "spark" and uses_built_days(test_file)

    items.sort(key=key)


@lru_cache(maxsize=None)
def uses_built_days(test_file: str) -> bool:
    """Whether a test file (path from the repository root) asks for a session-built day."""
    path = Path(__file__).resolve().parent.parent / test_file
    return path.is_file() and any(name in path.read_text() for name in BUILT_DAYS)


@pytest.fixture(scope="session", autouse=True)
def warm_dbt_server() -> Iterator[subprocess.Popen | None]:
    """A warm dbt server for this test process (dagster_defs/dbt/warm_dbt.py's `serving`, with in_child's
    warm-up), named in BLOFIN_DBT_SERVER: every blofin-dbt the tests start, directly or through the pipeline,
    hands its call to it instead of paying dbt's ~2.5 s start each time (until it listens, a few seconds in,
    they run dbt themselves). None where the test process was given a server already or none can serve here."""
    from dagster_defs.dbt import warm_dbt

    with warm_dbt.serving(dbt_only=False) as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """BLOFIN_DATA_DIR pointed at a fresh temp dir; returns its Paths."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(d))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return Paths(d.resolve())


def run_dbt(paths: Paths, *args: str, target: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run dbt against the warehouse in `paths` with its own target dir (the shared manifest stays put);
    env: more environment for the child (e.g. the window as Dagster passes it)."""
    env = {**os.environ, "BLOFIN_DATA_DIR": str(paths.data_dir), **(env or {})}
    target = target or paths.data_dir / "dbt_target"
    seed_partial_parse(target)
    cmd = [dbt_bin(), *args, "--profiles-dir", ".", "--target-path", str(target)]
    proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return proc


def broken_rules(paths: Paths, target: Path, test: str) -> list[tuple]:
    """The failing rows of a row_rules test (tests/generic/row_rules.sql) compiled into target by the last
    dbt call: (first column, broken_rules) each, read from the warehouse as dbt reads it (lake paths relative
    to the data dir)."""
    compiled = next((target / "compiled").rglob(f"{test}.sql")).read_text()
    import duckdb  # noqa: PLC0415 - most conftest users never need it

    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        con.execute(f"set file_search_path = '{paths.data_dir}'")
        return [(row[0], row[-1]) for row in con.execute(compiled).fetchall()]


def day_window_env(day: date) -> dict[str, str]:
    """The one-day window [day, day + 1) as the pipeline hands it to dbt (BLOFIN_DBT_MIN_DATE / MAX_DATE,
    read at execution, so dbt re-parses nothing): run_dbt's env."""
    return {DBT_WINDOW_ENV["min_date"]: day.isoformat(), DBT_WINDOW_ENV["max_date"]: (day + timedelta(days=1)).isoformat()}


def seed_partial_parse(target: Path) -> None:
    """The project's saved parse copied into a new target dir, as dagster-dbt does for the pipeline's
    dbt calls: dbt then re-parses only what differs instead of the whole project."""
    saved, dest = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack", target / "partial_parse.msgpack"
    if saved.exists() and not dest.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(saved, dest)


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or skip the test when the shared folder is absent."""
    p = SHARED_DATA / relative
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


TEST_DAYS = (date(2025, 3, 10), date(2025, 3, 11))


def _fast_run_config() -> dict:
    """Fast ML and a small research search by count, for the whole-graph tests: what they check (wiring,
    idempotence, partition bounds, report numbers against SQL) does not depend on model quality or on
    how many designs the search tries; tests/ml and tests/research cover those with their own settings."""
    from python_assets.ml.models import MODELS

    ml = {"config": {"fast": True, "n_folds": 2}}
    research = {"config": {"trials_per_design": 3, "new_designs_max": 4, "budget_seconds": 3600.0}}
    return {"ops": {"ml_dataset": ml, **{f"ml_{name}": ml for name in MODELS},
                    "strategy_research": research}}


FAST_RUN_CONFIG = _fast_run_config()


def use_built_environment(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """directory as BLOFIN_DATA_DIR with the environment the built days are made in: an ephemeral Dagster
    instance and no analyst endpoint (the deterministic review)."""
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(directory))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("BLOFIN_LLM_BASE_URL", raising=False)
    return Paths(directory.resolve())


def copy_tree(template: Paths, dest: Path) -> Paths:
    """A copy of a data dir a fixture built, for a test that writes (stored paths are relative, so a copy
    works as the original; the template stays as built)."""
    shutil.copytree(template.data_dir, dest, symlinks=True)
    return Paths(dest.resolve())


def _materialize_into(directory: Path, days: tuple[date, ...]) -> Paths:
    """Each day through the whole graph (fast settings, no analyst endpoint) in directory, one run a day."""
    from dagster_defs.runner import materialize_days

    mp = pytest.MonkeyPatch()
    use_built_environment(directory, mp)
    try:
        for day in days:
            assert materialize_days(day, day, run_config=FAST_RUN_CONFIG).success
    finally:
        mp.undo()
    return Paths(directory.resolve())


def children_of(pid: int) -> list[int]:
    """Processes whose parent is pid (zombies left out; Linux: reads /proc)."""
    from python_assets.platform.processes import stat_fields

    found = []
    for entry in (e for e in os.listdir("/proc") if e.isdigit()):
        fields = stat_fields(int(entry))
        if fields and fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie counts as ended; Linux: reads /proc)."""
    from python_assets.platform.processes import process_state

    return process_state(pid) not in ("", "Z")


def wait_until(predicate, timeout_s: float = 60.0, every_s: float = 0.05) -> bool:  # noqa: ANN001 - any callable
    """Poll predicate until it holds or timeout_s passes; whether it holds."""
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(every_s)
    return bool(predicate())


@contextmanager
def exclusive(lock: Path):
    """An exclusive lock on a file, held for the block (test processes on one machine take turns)."""
    import fcntl

    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def built_first_day(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """TEST_DAYS[0] materialized alone in a fresh data dir, once per test run: a template that tests read
    or copy (copy_data_dir) but never write, so the graph runs once for all of them. Under `make test`'s
    workers the first to need it builds it in the run's shared temp dir and the others read that build."""
    basetemp = tmp_path_factory.getbasetemp()
    root = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    directory, done = root / "built_first_day" / "data", root / "built_first_day.done"
    with exclusive(root / "built_first_day.lock"):
        if not done.exists():
            shutil.rmtree(directory.parent, ignore_errors=True)  # what a worker that died while building left
            directory.mkdir(parents=True)
            _materialize_into(directory, TEST_DAYS[:1])
            done.touch()
    return Paths(directory.resolve())


@pytest.fixture(scope="session")
def built_two_days(built_first_day: Paths, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A copy of built_first_day with TEST_DAYS[1] materialized after it: the two consecutive daily runs,
    once per session (a template, like built_first_day)."""
    copy = copy_tree(built_first_day, tmp_path_factory.mktemp("built") / "two_days")
    return _materialize_into(copy.data_dir, TEST_DAYS[1:])


def copy_data_dir(template: Paths, dest: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A writable copy of a built data dir at dest, made the test's BLOFIN_DATA_DIR with the environment
    the template was built in."""
    return use_built_environment(copy_tree(template, dest).data_dir, monkeypatch)


def cli_instance(home: Path):
    """The Dagster instance a CLI run wrote under home, opened as Dagster's tools open it: its dagster.yaml
    (deploy/dagster.yaml) takes the storage's base_dir from DAGSTER_HOME, which the CLI, `dagster dev` and
    the daemon always set; set here while the instance loads."""
    import dagster as dg

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        return dg.DagsterInstance.from_config(str(home))


def fast_config_file(directory: Path) -> Path:
    """FAST_RUN_CONFIG as the YAML file `blofin-stack materialize --config` takes (for the CLI subprocess tests)."""
    import yaml

    path = directory / "fast_run_config.yaml"
    path.write_text(yaml.safe_dump(FAST_RUN_CONFIG))
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """A headless Chromium (`make browser`, which .ci/run calls, installs Debian's where missing); the
    test skips where there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed (make browser installs it with apt where it can)")
    return found


def external_requests(netlog: Path) -> list[str]:
    """http(s) requests the page started: Chromium's own background requests carry the initiator
    'not an origin'; a file:// page's subresources carry its (opaque) origin."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return sorted({e["params"]["url"] for e in log.get("events", [])
                   if e["type"] == start_job and e.get("params", {}).get("initiator") != "not an origin"
                   and str(e["params"].get("url", "")).startswith(("http:", "https:"))})


# Columns that record when something ran, not what it computed: left out of digests (stored paths are
# relative to the data dir, so report_path and model_dir are the same in any data dir and stay in).
VOLATILE_COLUMNS = {"created_at", "published_at", "generated_at", "seconds", "report_json"}
# run_inputs says which Dagster run read which files when (run ids, file times), and computed_days which run
# recomputed which day when (ids, times, the step that marked it last), not what was computed.
VOLATILE_TABLE_COLUMNS = {"run_inputs": {"run_id", "recorded_at", "input_fingerprint", "lake_day_fingerprint"},
                          "computed_days": {"run_id", "run_started_at", "step", "recorded_at"}}


def warehouse_digest(paths: Paths) -> dict[str, tuple[int, str]]:
    """{table: (rows, sha256 of its sorted rows)} for every table of the warehouse, volatile columns
    left out; two runs that computed the same numbers have equal digests."""
    import hashlib

    import duckdb

    out = {}
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = 'main' "
                                            "and table_type = 'BASE TABLE' order by 1").fetchall()]
        for t in tables:
            cols = [r[0] for r in con.execute("select column_name from information_schema.columns where table_name = ? "
                                              "order by ordinal_position", [t]).fetchall()]
            volatile = VOLATILE_COLUMNS | VOLATILE_TABLE_COLUMNS.get(t, set())
            keep = ", ".join(f'"{c}"' for c in cols if c not in volatile)
            rows = con.execute(f'select {keep} from "{t}" order by all').fetchall()
            out[t] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def report_digest(paths: Paths) -> dict[str, dict]:
    """Each report JSON without the fields that describe the run rather than the day."""
    import json

    reports = {}
    for p in sorted(paths.reports.glob("*.json")):
        body = json.loads(p.read_text())
        for key in ("generated_at", "run"):
            body.pop(key, None)
        reports[p.name] = body
    return reports


def project_manifest() -> dict:
    """The project's manifest (dbt_project/target/manifest.json, parsed at the run's start), read anew."""
    return json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())


DBT_RELATION_TYPES = ("model", "seed", "snapshot")


def undocumented_relations(manifest: dict, con) -> list[str]:
    """What dbt docs would not explain in the database behind `con` (a DuckDB connection), sorted:
    '<relation>: not in dbt' for a table or view that is no dbt model, seed, snapshot or declared
    source (manifest["sources"], by identifier or name); '<relation>.<column>: undocumented' for a
    column of one without a description in its yml; '<relation>.<column>: not in the table' for a
    column its yml documents that the relation lacks. Relations match by schema and name (alias or
    identifier), case-insensitively; the database name is left out (each data dir names its own)."""
    documented: dict[tuple[str, str], dict[str, str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] in DBT_RELATION_TYPES:
            documented[_relation(node["schema"], node.get("alias") or node["name"])] = _descriptions(node)
    for source in manifest["sources"].values():
        documented[_relation(source["schema"], source.get("identifier") or source["name"])] = _descriptions(source)
    actual: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = current_database() order by table_schema, table_name, ordinal_position").fetchall():
        actual.setdefault((schema, table), []).append(column)
    found = []
    for (schema, name), columns in actual.items():
        docs = documented.get(_relation(schema, name))
        table = name if schema == "main" else f"{schema}.{name}"
        if docs is None:
            found.append(f"{table}: not in dbt")
            continue
        found += [f"{table}.{c}: undocumented" for c in columns if not docs.get(c.lower())]
        present = {c.lower() for c in columns}
        found += [f"{table}.{c}: not in the table" for c in docs if c not in present]
    return sorted(found)


def _relation(schema: str, name: str) -> tuple[str, str]:
    return schema.lower(), name.lower()


def _descriptions(node: dict) -> dict[str, str]:
    """{column name, lowercased: its description, stripped} of a manifest node or source."""
    return {(col.get("name") or key).lower(): (col.get("description") or "").strip()
            for key, col in node["columns"].items()}
