"""A toy job for test_dead_step_slots.py: two steps in the `warehouse` pool after a first step that, with
DEAD_STEP_FLAG set, breaks this module for the next step process that loads it (as code changed on disk
mid-run did: a step subprocess died loading it, without a step event); the one after it loads it again."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dagster_defs.resources import WAREHOUSE_POOL

FLAG = os.environ.get("DEAD_STEP_FLAG")
if FLAG and Path(FLAG).exists():
    Path(FLAG).unlink()
    raise ImportError("the code changed under the run (dead_step_job's flag file)")


@dg.op
def start() -> int:
    """Breaks this module for the steps after it when DEAD_STEP_FLAG names a file."""
    if FLAG:
        Path(FLAG).touch()
    return 1


@dg.op(pool=WAREHOUSE_POOL)
def first(x: int) -> int:
    """A pooled step."""
    return x


@dg.op(pool=WAREHOUSE_POOL)
def second(x: int) -> int:
    """Another pooled step, beside first."""
    return x


# spawn: each step process gets this test's environment (a forkserver keeps the one it started with)
@dg.job(executor_def=dg.multiprocess_executor.configured({"start_method": {"spawn": {}}}))
def pooled_job() -> None:
    x = start()
    first(x)
    second(x)
