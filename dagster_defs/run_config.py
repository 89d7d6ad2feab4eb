"""The --config check of the daily job: a run config that does not fit the job's ops, or a value out of its
field's range, is refused in one line before any step runs."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pydantic

from dagster_defs.runner import DAILY_JOB


def run_config_problem(run_config: dict) -> str | None:
    """One line saying why run_config does not fit the daily job (an unknown op, a wrong field, a value out of
    its field's range: the op's Config class states each range, checked here on every op's config as the
    step will build it, so a bad value is refused before any step runs instead of failing one midway), or None."""
    from dagster_defs.definitions import defs

    job = defs.resolve_job_def(DAILY_JOB)
    try:
        resolved = dg.validate_run_config(job, run_config)
    except dg.DagsterInvalidConfigError as exc:
        reason = " ".join((exc.errors[0].message if exc.errors else str(exc)).split())
        reason, cut, _ = reason.partition(" Expected: ")  # Dagster spells out the whole config schema
        ops = ", ".join(sorted(node.name for node in job.graph.nodes))
        return f"--config does not fit the daily job: {reason}" + (f" (the daily job's ops: {ops})" if cut else "")
    for node in sorted(job.graph.nodes, key=lambda n: n.name):
        problem = config_range_problem(node.name, node.definition, resolved.get("ops", {}).get(node.name, {}).get("config"))
        if problem:
            return f"--config does not fit the daily job: {problem}"
    return None


def config_range_problem(op: str, definition: Any, values: dict | None) -> str | None:
    """'op ml_dataset: n_folds = 0: Input should be greater than or equal to 1' when the op's Config class
    (its field constraints and validators) refuses the values Dagster resolved for it; None when it takes them."""
    fn = getattr(definition, "compute_fn", None)
    if values is None or fn is None or not fn.has_config_arg():
        return None
    cls = fn.get_config_arg().annotation
    if not (isinstance(cls, type) and issubclass(cls, dg.Config)):
        return None
    try:
        cls(**values)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        return f"op {op}: {field} = {err.get('input')!r}: {err['msg'].removeprefix('Value error, ')}"
    return None
