"""The parity test's two dbt calls on Spark in one process, so in one JVM (each start-up: the JVM, the Spark
session, the metastore and dbt's own import, ~15 s on 2 cores): the build, then the next daily run with some
lake folders moved aside (the removed day) and the window set in the environment, as two
`spark_dbt.py ... --export DIR` calls would. The build's run_results.json is kept beside it as
build_run_results.json (the run's replaces it). Usage, from dbt_project/:

    python spark_two_calls.py SPEC.json

SPEC: {"build": [dbt args], "next": [dbt args], "next_env": {name: value}, "aside": [folder], "aside_dir": dir,
"target": the target dir both calls write}. Exit 0, 1 when the build failed, 3 when the next run failed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUILD_RESULTS = "build_run_results.json"


@contextmanager
def moved_aside(folders: list[Path], aside: Path) -> Iterator[None]:
    """The folders moved under aside/ while the block runs, put back after it (also when it fails)."""
    aside.mkdir(exist_ok=True)
    for i, folder in enumerate(folders):
        folder.rename(aside / str(i))
    try:
        yield
    finally:
        for i, folder in enumerate(folders):
            (aside / str(i)).rename(folder)


def run_both(spec: dict) -> int:
    """The build, then the next run on the lake without the aside folders; 0, 1 (build) or 3 (next run)."""
    from dagster_defs.dbt.spark_dbt import lock_spark_dir, run_dbt, split_export
    from python_assets.config import pin_spark_session_env

    target = Path(spec["target"])
    with lock_spark_dir(pin_spark_session_env()):
        out, argv = split_export(spec["build"])
        if run_dbt(argv, out) != 0:
            return 1
        shutil.copy(target / "run_results.json", target / BUILD_RESULTS)
        print("=== the next day's run", flush=True)
        os.environ.update(spec["next_env"])
        with moved_aside([Path(f) for f in spec["aside"]], Path(spec["aside_dir"])):
            out, argv = split_export(spec["next"])
            return 0 if run_dbt(argv, out) == 0 else 3


if __name__ == "__main__":
    from python_assets.platform.lifeline import die_with_parent

    die_with_parent()  # as blofin-dbt-spark: not left running (and its JVM with it) after the test was killed
    sys.exit(run_both(json.loads(Path(sys.argv[1]).read_text())))
