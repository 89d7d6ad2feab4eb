"""Pool slots a dead step process still holds. Dagster's multiprocess executor frees a step's `warehouse` slot
only on the step's success, failure or retry event; a step subprocess that ends without one (an exception
before the step begins: its code failed to load, the instance could not be opened) is only logged ("Step X
finished without success or failure event"), its slot stays claimed, and the run's next pooled step waits for
it forever ("Step still blocked by limit for pool warehouse" every 5 minutes), the run spinning a core and
holding the one run slot. A step process killed outright (SIGKILL, the OOM killer) is failed, and its slot
freed, by the executor itself."""

from __future__ import annotations

import dagster as dg

STEP_WORKER_STARTED = dg.DagsterEventType.STEP_WORKER_STARTED
STEP_ENDS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
             dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_SKIPPED}


def claimed_step_slots(instance: dg.DagsterInstance) -> list[tuple[str, str, str]]:
    """(pool, run id, step key) of every claimed pool slot."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    return [(pool, slot.run_id, slot.step_key) for pool in sorted(storage.get_concurrency_keys())
            for slot in storage.get_concurrency_info(pool).claimed_slots]


def step_worker(instance: dg.DagsterInstance, run_id: str, step_key: str) -> tuple[int, float] | None:
    """(pid, when) of the step's latest subprocess (its STEP_WORKER_STARTED event), None when that attempt
    recorded its end (success, failure, retry) or no subprocess started it (the in-process executor)."""
    found = None
    for record in instance.all_logs(run_id, of_type={STEP_WORKER_STARTED, *STEP_ENDS}):
        event = record.dagster_event
        if event is None or event.step_key != step_key:
            continue
        if event.event_type != STEP_WORKER_STARTED:
            found = None
            continue
        pid = getattr(event.event_specific_data, "metadata", {}).get("pid")
        try:
            found = (int(pid.value), record.timestamp) if pid is not None else None
        except (TypeError, ValueError):
            found = None
    return found


def free_dead_step_slots(instance: dg.DagsterInstance) -> list[tuple[str, str, str]]:
    """Free the pool slots that steps of 'started' runs hold after their subprocess ended without recording
    its end, so the run's other pooled steps go on and the run ends (failed: the executor reports the dead
    step). The step processes run beside the run worker, on this host with Dagster's default run launcher (and
    for `dagster asset materialize`); with another launcher nothing is done. Returns (run id, step key, reason)."""
    from dagster._core.launcher import DefaultRunLauncher

    from python_assets.platform.processes import process_gone

    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return []
    freed = []
    for pool, run_id, step_key in claimed_step_slots(instance):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status != dg.DagsterRunStatus.STARTED:
            continue  # an ended run's slots: run monitoring's free_slots_after_run_end_seconds frees them
        worker = step_worker(instance, run_id, step_key)
        if worker is None or not process_gone(*worker):
            continue
        if step_worker(instance, run_id, step_key) != worker:
            continue  # its end was recorded as the process exited
        instance.event_log_storage.free_concurrency_slot_for_step(run_id, step_key)
        freed.append((run_id, step_key, f"its step process (pid {worker[0]}) ended without recording the step's "
                                        f"end and kept the {pool!r} pool slot (found by dead_run_sensor)"))
    return freed
