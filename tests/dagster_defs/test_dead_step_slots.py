"""A step subprocess that dies without a step event (its code failed to load: files changed under a running
run) kept its `warehouse` pool slot: the multiprocess executor frees a slot only on a step's success, failure
or retry event, so the run's next pooled step waited for it forever ("Step still blocked by limit for pool
warehouse" every 5 minutes, 13+ minutes until killed, the run holding the one run slot). dead_run_sensor frees
such a slot: the run then goes on, fails, and the next run gets the pool."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import dagster as dg
from conftest import wait_until
from dagster._core.definitions.reconstruct import ReconstructableJob

from dagster_defs.runner import INSTANCE_YAML
from dagster_defs.sensors import dead_run_sensor
from dagster_defs.step_slots import claimed_step_slots

DEAD_STEP = "finished without success or failure event"


def run_in_thread(job: dg.ReconstructableJob) -> tuple[threading.Thread, dict]:
    """Execute job on the DAGSTER_HOME instance in a thread; the result lands in the returned dict."""
    out: dict = {}

    def go() -> None:
        with dg.DagsterInstance.get() as instance:
            out["result"] = dg.execute_job(job, instance, raise_on_error=False)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, out


def test_a_step_that_died_without_an_event_gives_its_pool_slot_back(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")  # the project's pools (warehouse: 1) and storage
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DEAD_STEP_FLAG", str(tmp_path / "code_changed"))
    job = ReconstructableJob.for_file(str(Path(__file__).with_name("dead_step_job.py")), "pooled_job")

    with dg.DagsterInstance.get() as instance:
        thread, out = run_in_thread(job)

        def step_died() -> bool:
            runs = instance.get_runs(limit=1)
            return bool(runs) and any(DEAD_STEP in (r.user_message or "") for r in instance.all_logs(runs[0].run_id))

        assert wait_until(step_died, 90, every_s=0.5)
        run_id = instance.get_runs(limit=1)[0].run_id
        time.sleep(3)  # the other pooled step waits for the dead one's slot, and would forever
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        (held,) = claimed_step_slots(instance)
        assert held[:2] == ("warehouse", run_id)

        result = dead_run_sensor(dg.build_sensor_context(instance=instance))
        assert "freed 1 dead step" in result.skip_message
        thread.join(90)
        assert not thread.is_alive(), "the run still waits for the dead step's pool slot"
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert claimed_step_slots(instance) == []
        successes = {r.step_key for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
        assert successes == {"start", ({"first", "second"} - {held[2]}).pop()}  # the other pooled step ran

        monkeypatch.delenv("DEAD_STEP_FLAG")
        thread, out = run_in_thread(job)  # the next run gets the pool
        thread.join(90)
        assert out["result"].success
        assert claimed_step_slots(instance) == []
