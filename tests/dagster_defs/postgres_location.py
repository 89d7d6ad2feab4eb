"""The code location of the PostgreSQL instance test: the real daily schedule (its construction and
tick function) pointed at a one-step job whose step is in the `warehouse` pool like the real warehouse
steps. The step holds the pool until the test creates the gate file, so the test sees the pool taken."""

import os
import time
from pathlib import Path

import dagster as dg

from dagster_defs.partitions import daily_partitions_def
from dagster_defs.resources import WAREHOUSE_POOL
from dagster_defs.schedules import build_daily_job_schedule

GATE_ENV = "BLOFIN_TEST_PG_GATE"  # path of the file the step waits for
GATE_WAIT_S = 90.0


@dg.asset(partitions_def=daily_partitions_def(), pool=WAREHOUSE_POOL, kinds={"python"})
def warehouse_probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Waits (in the warehouse pool) for the gate file, then records its partition."""
    gate = Path(os.environ[GATE_ENV])
    deadline = time.monotonic() + GATE_WAIT_S
    while not gate.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gate {gate} not opened within {GATE_WAIT_S:.0f} s")
        time.sleep(0.1)
    return dg.MaterializeResult(metadata={"partition": context.partition_key})


# In-process: the step runs in the run's own process (one Python start fewer per run); the executor
# claims the pool's slot the same way the multiprocess one of daily_job does.
probe_job = dg.define_asset_job("probe_job", selection=[warehouse_probe], executor_def=dg.in_process_executor)

defs = dg.Definitions(assets=[warehouse_probe], jobs=[probe_job], schedules=[build_daily_job_schedule(probe_job)])
