"""dbt on a local Spark session (dbt-spark `method: session`), with dbt Python models run in it.

dbt-spark submits Python models only to Databricks clusters; in session mode this adds a `session`
submission method that runs the compiled model in the dbt process's own SparkSession (what a
Databricks cluster does with the same code). Usage, from dbt_project/:

    python ../dagster_defs/dbt/spark_dbt.py build --target spark --profiles-dir . [--export DIR]

--export DIR (not a dbt flag) writes every model the command built to DIR/<model>/ as Parquet,
read from the same session, so a caller compares them without starting a second JVM.

Before dbt starts (config.pin_spark_session_env): BLOFIN_SPARK_DIR is made absolute (default
<BLOFIN_DATA_DIR, else ../data>/spark), PYSPARK_PYTHON is set to this interpreter when unset (Spark's
Python workers, which run feat_recursive, would otherwise start python3 from PATH, without this venv),
and BLOFIN_SPARK_CORES is checked. One call at a time per Spark dir: its Derby metastore admits one
JVM, so a second call waits for the first (one line says so) instead of failing in Derby's stack traces.
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from python_assets.config import pin_spark_session_env, spark_cores
from python_assets.platform.lifeline import die_with_parent

LOCK_NAME = ".dbt.lock"


class UsageError(ValueError):
    """A bad command line or setting of this command: one line, exit 2."""


class SessionPythonJobHelper:
    """Runs a compiled dbt Python model in the active SparkSession (its `spark` global)."""

    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.parsed_model = parsed_model

    def submit(self, compiled_code: str) -> None:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.getOrCreate()  # the session dbt-spark's cursor made
        code = compile(compiled_code, self.parsed_model.get("original_file_path", "<dbt python model>"), "exec")
        exec(code, {"spark": spark, "__name__": "dbt_python_model"})


def install_session_submission() -> None:
    """Make `session` dbt-spark's default Python submission method."""
    from dbt.adapters.spark.impl import SparkAdapter

    helpers = SparkAdapter.python_submission_helpers.fget
    SparkAdapter.python_submission_helpers = property(lambda self: {**helpers(self), "session": SessionPythonJobHelper})
    SparkAdapter.default_python_submission_method = property(lambda self: "session")


def export_models(models: list[str], schema: str, out: Path) -> None:
    """Each model's rows as Parquet under out/<model>/ (timestamps as UTC microseconds)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    map_side_by_side(lambda name: spark.table(f"{schema}.{name}").coalesce(1).write.mode("overwrite")
                     .parquet(str(out / name)), models, spark_cores())


def map_side_by_side(write: Callable[[str], None], names: list[str], workers: int) -> None:
    """write(name) for every name, `workers` at a time (threads: one Spark job each, submitted side by side).
    A small model's export is mostly per-job overhead (planning, scheduling, the file commit) on one core:
    two at a time, the parity build's 31 models 8.0 -> 5.5 s (2 cores). The first failure is raised."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for _ in pool.map(write, names):
            pass


def lock_spark_dir(root: Path) -> TextIO:
    """root/.dbt.lock, open and exclusively locked (flock: held until closed or this process ends); waits
    for another holder, saying so in one line on stderr."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = (root / LOCK_NAME).open("a")
    except OSError as exc:
        raise UsageError(f"Spark dir {root} is not writable: {exc.strerror or exc} (BLOFIN_SPARK_DIR)") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another Spark dbt call holds {root}; waiting", file=sys.stderr, flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def split_export(argv: list[str]) -> tuple[Path | None, list[str]]:
    """(--export DIR or None, the dbt arguments without it); UsageError when DIR is missing."""
    if "--export" not in argv:
        return None, argv
    i = argv.index("--export")
    if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
        raise UsageError("--export needs a directory: --export DIR")
    return Path(argv[i + 1]), argv[:i] + argv[i + 2:]


def run_dbt(argv: list[str], out: Path | None) -> int:
    """dbt with the session submission method, then the export; 0 when every node passed."""
    from dbt.cli.main import dbtRunner

    install_session_submission()
    result = dbtRunner().invoke(argv)
    if not result.success:
        return 1
    if out is not None:
        built = [r.node for r in result.result if getattr(r.node, "resource_type", None) == "model"]
        if built:
            export_models(sorted(n.name for n in built), built[0].schema, out)
    return 0


def main(argv: list[str]) -> int:
    """One dbt call with the Spark dir pinned and locked; a bad argument or setting is one line, exit 2."""
    try:
        out, argv = split_export(argv)
        lock = lock_spark_dir(pin_spark_session_env())
    except ValueError as exc:  # UsageError and config's one-line setting errors
        print(f"blofin-dbt-spark: {exc}", file=sys.stderr)
        return 2
    with lock:
        return run_dbt(argv, out)


def entry() -> None:
    """The `blofin-dbt-spark` command (what the dbt resource runs for BLOFIN_DBT_TARGET=spark)."""
    die_with_parent()  # as blofin-dbt: not left running (and its JVM with it) after its run was killed
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    entry()
