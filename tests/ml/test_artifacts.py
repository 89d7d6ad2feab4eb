"""The ML assets' values flow through the ml_artifacts IO manager, stored per asset and day: a rerun
replaces a day's value whole (an empty one leaves no stale Parquet behind), a day's value is found by
its day, and the graph declares every hand-over (dataset -> models -> results -> backtests)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from dagster_defs.resources import MlArtifacts, MlByDay
from python_assets.config import Paths
from python_assets.ml.artifacts import (ModelRun, OutOfSample, TrainingSet, model_pointers, read_artifact,
                                        require_artifact, staging_file, stored_days, write_artifact)

FRAME = pd.DataFrame({"symbol": ["A", "B"], "bar_at_ms": [300_000, 600_000], "p_up": [0.25, 0.75]})


def test_each_kind_reads_back_as_written(tmp_path):
    staged = staging_file(tmp_path, "2025-03-10", "ml_dataset")
    staged.parent.mkdir(parents=True)
    pd.DataFrame({"symbol": ["A"], "timeframe": ["5m"], "bar_at_ms": [0], "x0": [1.5]}).to_parquet(staged)
    write_artifact(tmp_path, "2025-03-10", "ml_dataset", TrainingSet(staged, ["x0"], "5m", True, 1))
    assert not staged.exists()  # moved into place, not copied
    exported = read_artifact(tmp_path, "2025-03-10", "ml_dataset")
    assert (exported.features, exported.timeframe, exported.scoring_only, exported.rows) == (["x0"], "5m", True, 1)
    assert exported.load().X.tolist() == [[1.5]] and exported.load().bar_ms == 300_000

    write_artifact(tmp_path, "2025-03-10", "ml_m", ModelRun("m", {"version": "v1", "trained_on": "2025-03-09"}, FRAME))
    run = read_artifact(tmp_path, "2025-03-10", "ml_m")
    assert run.model == "m" and run.pointer["version"] == "v1"
    pd.testing.assert_frame_equal(run.latest, FRAME)

    write_artifact(tmp_path, "2025-03-10", "ml_results", OutOfSample(FRAME, "5m"))
    oos = read_artifact(tmp_path, "2025-03-10", "ml_results")
    assert oos.timeframe == "5m"
    pd.testing.assert_frame_equal(oos.frame, FRAME)


def test_a_rerun_with_an_empty_value_leaves_nothing_of_the_earlier_one(tmp_path):
    """A rerun whose direction models did not run must not trade the earlier run's P(up)."""
    write_artifact(tmp_path, "2025-03-10", "ml_results", OutOfSample(FRAME, "5m"))
    write_artifact(tmp_path, "2025-03-10", "ml_results", OutOfSample(pd.DataFrame(), None))
    oos = read_artifact(tmp_path, "2025-03-10", "ml_results")
    assert oos.frame.empty and oos.timeframe is None
    assert not (tmp_path / "2025-03-10" / "ml_results.parquet").exists()
    write_artifact(tmp_path, "2025-03-10", "ml_m", ModelRun("m", {"version": "v"}, FRAME))
    write_artifact(tmp_path, "2025-03-10", "ml_m", ModelRun("m", {"version": "w"}))  # trained: no fresh scores
    assert read_artifact(tmp_path, "2025-03-10", "ml_m").latest is None


def test_days_are_found_by_day_and_a_missing_one_is_one_line(tmp_path):
    for day in ("2025-03-08", "2025-03-10", "2025-03-09"):
        write_artifact(tmp_path, day, "ml_m", ModelRun("m", {"version": day}))
    write_artifact(tmp_path, "2025-03-11", "ml_m", ModelRun("m", None))
    assert stored_days(tmp_path, "ml_m") == ["2025-03-11", "2025-03-10", "2025-03-09", "2025-03-08"]
    assert stored_days(tmp_path, "ml_m", before="2025-03-10") == ["2025-03-09", "2025-03-08"]
    assert stored_days(tmp_path / "none", "ml_m") == []
    assert read_artifact(tmp_path, "2025-03-12", "ml_m") is None
    with pytest.raises(FileNotFoundError, match="^ml_dataset has no value for 2025-03-12: materialize ml_dataset"):
        require_artifact(tmp_path, "2025-03-12", "ml_dataset")
    # the versions a day <= last names (a skipped day names none; an unreadable file counts as missing)
    assert model_pointers(tmp_path, "2025-03-09") == [("m", {"version": "2025-03-08"}), ("m", {"version": "2025-03-09"})]
    (tmp_path / "2025-03-09" / "ml_m.json").write_text("{")
    assert ("ml_m", {"version": None}) in model_pointers(tmp_path, "2025-03-10")


def test_a_range_run_stores_its_value_at_the_last_day_and_an_input_can_read_every_day(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path))
    root = Paths(tmp_path).ml_runs
    write_artifact(root, "2025-03-08", "upstream", OutOfSample(FRAME, "5m"))  # an earlier run of that day
    parts = dg.DailyPartitionsDefinition(start_date="2025-03-01")
    seen = {}

    @dg.asset(partitions_def=parts, backfill_policy=dg.BackfillPolicy.single_run(), io_manager_key="ml_artifacts")
    def upstream() -> OutOfSample:
        return OutOfSample(FRAME.assign(p_up=0.5), "1h")

    @dg.asset(partitions_def=parts, backfill_policy=dg.BackfillPolicy.single_run())
    def by_day(upstream: MlByDay) -> None:
        seen["by_day"] = {d: (v.timeframe if v else None) for d, v in upstream.items()}

    @dg.asset(partitions_def=parts, backfill_policy=dg.BackfillPolicy.single_run())
    def last_day(upstream: OutOfSample) -> None:
        seen["last_day"] = upstream.timeframe

    tags = {"dagster/asset_partition_range_start": "2025-03-08", "dagster/asset_partition_range_end": "2025-03-10"}
    assert dg.materialize([upstream, by_day, last_day], tags=tags, resources={"ml_artifacts": MlArtifacts()}).success
    assert stored_days(root, "upstream") == ["2025-03-10", "2025-03-08"]
    assert seen == {"by_day": {"2025-03-08": "5m", "2025-03-09": None, "2025-03-10": "1h"}, "last_day": "1h"}


def test_the_graph_declares_what_flows_between_the_ml_assets():
    from dagster_defs.definitions import defs
    from python_assets.ml.models import MODELS

    graph = defs.resolve_asset_graph()
    def inputs(key: str) -> set[str]:
        """The assets whose value `key` loads (a plain dep is a Nothing input: left out)."""
        asset = graph.get(dg.AssetKey(key)).assets_def
        return {k.to_user_string() for name, k in asset.keys_by_input_name.items()
                if not asset.node_def.input_def_named(name).dagster_type.is_nothing}

    for name in MODELS:
        assert inputs(f"ml_{name}") == {"ml_dataset"}
    assert inputs("ml_results") == {f"ml_{name}" for name in MODELS}
    assert inputs("backtest_ledger") == {"ml_results"}
    for key in ("ml_dataset", "ml_results", *(f"ml_{name}" for name in MODELS)):
        node = graph.get(dg.AssetKey(key))
        assert node.assets_def.get_io_manager_key_for_asset_key(node.key) == "ml_artifacts"
