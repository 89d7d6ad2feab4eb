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
    assert len(list((tmp_path / "2025-03-10").glob("ml_results.*.parquet"))) == 1  # the earlier Parquet is gone
    write_artifact(tmp_path, "2025-03-10", "ml_m", ModelRun("m", {"version": "v"}, FRAME))
    write_artifact(tmp_path, "2025-03-10", "ml_m", ModelRun("m", {"version": "w"}))  # trained: no fresh scores
    assert read_artifact(tmp_path, "2025-03-10", "ml_m").latest is None
    assert not list((tmp_path / "2025-03-10").glob("ml_m.*.parquet"))
    # a reused version with no rows to score today keeps its empty frame (not the training day's scores)
    write_artifact(tmp_path, "2025-03-10", "ml_m", ModelRun("m", {"version": "v"}, FRAME.iloc[:0]))
    assert read_artifact(tmp_path, "2025-03-10", "ml_m").latest.empty


def test_a_crash_between_the_parquet_and_the_json_leaves_the_earlier_pair(tmp_path, monkeypatch):
    """The JSON is written last and names its Parquet: a write killed after the new Parquet reads back
    the earlier value whole, not the earlier pointer with the new predictions."""
    import python_assets.ml.artifacts as artifacts

    write_artifact(tmp_path, "2025-03-10", "ml_m", ModelRun("m", {"version": "old"}, FRAME))

    def killed(data: bytes, target) -> None:
        raise KeyboardInterrupt  # the process dies before the JSON is replaced

    monkeypatch.setattr(artifacts, "write_bytes_atomic", lambda data, target: (
        target.write_bytes(data) if target.suffix == ".parquet" else killed(data, target)))
    with pytest.raises(KeyboardInterrupt):
        write_artifact(tmp_path, "2025-03-10", "ml_m", ModelRun("m", {"version": "new"}, FRAME.assign(p_up=0.9)))
    run = read_artifact(tmp_path, "2025-03-10", "ml_m")
    assert run.pointer == {"version": "old"}
    pd.testing.assert_frame_equal(run.latest, FRAME)


def test_a_data_dir_of_the_earlier_file_layout_still_reads(tmp_path):
    """Days stored before these artifacts (features.json + training.parquet, <model>.json pointers and
    <model>.latest.parquet, oos_direction.parquet) read as the same values, so an upgraded data dir keeps
    reusing its models and a rerun of such a day still trades its ML strategies."""
    day = tmp_path / "2025-03-09"
    day.mkdir()
    pd.DataFrame({"symbol": ["A"], "timeframe": ["5m"], "bar_at_ms": [0], "x0": [1.5]}).to_parquet(day / "training.parquet")
    (day / "features.json").write_text('{"features": ["x0"], "timeframe": "5m", "scoring_only": false}')
    (day / "direction_predictor.json").write_text('{"version": "v9", "timeframe": "5m", "trained_on": "2025-03-09"}')
    FRAME.to_parquet(day / "direction_predictor.latest.parquet")
    FRAME.to_parquet(day / "oos_direction.parquet")
    exported = read_artifact(tmp_path, "2025-03-09", "ml_dataset")
    assert (exported.features, exported.rows, exported.load().X.tolist()) == (["x0"], 1, [[1.5]])
    run = read_artifact(tmp_path, "2025-03-09", "ml_direction_predictor")
    assert run.pointer["version"] == "v9" and len(run.latest) == 2
    assert read_artifact(tmp_path, "2025-03-09", "ml_risk_scorer") is None
    oos = read_artifact(tmp_path, "2025-03-09", "ml_results")
    assert oos.timeframe == "5m" and len(oos.frame) == 2
    assert stored_days(tmp_path, "ml_direction_predictor", before="2025-03-10") == ["2025-03-09"]
    assert model_pointers(tmp_path, "2025-03-09") == [("direction_predictor", run.pointer)]
    # the next run writes the new layout beside it; the new value wins
    write_artifact(tmp_path, "2025-03-09", "ml_direction_predictor", ModelRun("direction_predictor", None))
    assert read_artifact(tmp_path, "2025-03-09", "ml_direction_predictor").pointer is None


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
    @dg.asset(partitions_def=parts, ins={"absent": dg.AssetIn(metadata={"optional": True})})
    def optional_input(absent: OutOfSample | None) -> None:
        seen["optional"] = absent

    @dg.asset(partitions_def=parts, backfill_policy=dg.BackfillPolicy.single_run(), io_manager_key="ml_artifacts")
    def absent() -> OutOfSample:
        return OutOfSample(FRAME, "5m")

    assert dg.materialize([upstream, by_day, last_day], tags=tags, resources={"ml_artifacts": MlArtifacts()}).success
    assert stored_days(root, "upstream") == ["2025-03-10", "2025-03-08"]
    assert seen == {"by_day": {"2025-03-08": "5m", "2025-03-09": None, "2025-03-10": "1h"}, "last_day": "1h"}
    # an input declared optional reads None where nothing is stored; a required one fails in one line
    assert dg.materialize([absent, optional_input], selection=[optional_input.key], partition_key="2025-03-09",
                          resources={"ml_artifacts": MlArtifacts()}).success
    assert seen["optional"] is None
    failed = dg.materialize([upstream, last_day], selection=[last_day.key], partition_key="2025-03-09",
                            resources={"ml_artifacts": MlArtifacts()}, raise_on_error=False)
    assert not failed.success


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
