"""A data dir others can read and that can move: every writer gives its files the mode the umask
allows (0644 under 022, 0640 under 027), and nothing stored in it names where it lives, so a copy
(`cp -a`, the original deleted) reads its own lake through the snapshot and reuses its own models;
the slow test runs the whole pipeline (under umask 027), moves its data dir, and runs the next day."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CLI, fast_config_file

from blofin_cli.main import main
from dagster_defs.ml.assets import MODEL_ASSETS, ml_dataset
from dagster_defs.resources import MlArtifacts, Warehouse
from python_assets.config import DBT_PROJECT_DIR, REPO_ROOT, Paths
from python_assets.lake.store import write_trades
from python_assets.platform.logs import log_event
from python_assets.ml.artifacts import ModelRun, TrainingSet, read_artifact, staging_file, write_artifact
from python_assets.ml.dataset import LABELS, export_training_set
from python_assets.ml.models import MODELS
from python_assets.ml.train import TrainConfig, train_model
from python_assets.reports.daily_report import write_report
from python_assets.platform.runlock import writer_lock
from python_assets.warehouse.snapshot import publish_snapshot
from python_assets.warehouse.connection import connect_warehouse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ml"))
from test_models import planted  # noqa: E402  (tests/ml is not a package)

DAY = date(2025, 3, 10)
MODEL = "direction_predictor"  # xgboost: the quickest to train


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def ticks(day: date, n: int = 50) -> pd.DataFrame:
    start = (day - date(1970, 1, 1)).days * 86_400_000
    return pd.DataFrame({"trade_id": [str(i) for i in range(n)], "ts": start + np.arange(n) * 60_000,
                         "price": 100.0 + np.arange(n), "size": 1.0, "side": "buy"})


def modes(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    """({file: mode}, {directory: mode}) of everything under root (root included)."""
    items = [root, *root.rglob("*")]
    files = {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in items if p.is_file()}
    dirs = {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in items if p.is_dir()}
    return files, dirs


def test_every_writer_gives_its_files_the_mode_of_the_umask(umask, tmp_path, monkeypatch):
    p = Paths(tmp_path / "data")
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(p.data_dir))
    with writer_lock(p, "test writers"):
        write_trades(p, "BTC-USDT", ticks(DAY))  # every lake writer (ingest, imports, fetchers, recorder) ends here
        write_report(p, {"report_date": DAY.isoformat()})  # reports, HTML pages and ML artifacts: write_bytes_atomic
        latest = pd.DataFrame({"symbol": ["A"], "bar_at_ms": [0], "prediction": [0.5]})
        write_artifact(p.ml_runs, DAY.isoformat(), f"ml_{MODEL}", ModelRun(MODEL, {"version": "v"}, latest))
        labels = ", ".join(f"0.0 as {label}" for label in LABELS)
        with connect_warehouse(p.warehouse) as con:
            con.execute(f"create table ml_training_set as select 'A' as symbol, '5m' as timeframe, 0::bigint as bar_at_ms, "
                        f"1.0 as x0, 0.1 as baseline_vol_12, 100.0 as close, {labels}, 0::bigint as label_known_at_ms")
        publish_snapshot(p)
        staged = staging_file(p.ml_runs, DAY.isoformat(), "ml_dataset")
        rows = export_training_set(p.warehouse, "5m", ["x0"], staged, 300_000, 10**13)
        write_artifact(p.ml_runs, DAY.isoformat(), "ml_dataset", TrainingSet(staged, ["x0"], "5m", False, rows))
        train_model(MODELS[MODEL], planted(n_times=200), p.models, TrainConfig(n_folds=2, fast=True))
        log_event("mode_probe")
    files, dirs = modes(p.data_dir)
    assert {"lake/trades/symbol=BTC-USDT/date=2025-03-10/trades.parquet", "reports/2025-03-10.json",
            f"ml/2025-03-10/ml_{MODEL}.json", "warehouse_snapshot.duckdb", "ml/2025-03-10/ml_dataset.json",
            "pipeline.log", ".run.lock"} <= set(files)
    assert any(f.startswith(f"models/{MODEL}/") and f.endswith("metadata.json") for f in files)
    assert {f.split(".")[0] for f in files if f.startswith("ml/") and f.endswith(".parquet")} == {
        f"ml/2025-03-10/ml_{MODEL}", "ml/2025-03-10/ml_dataset"}  # each artifact's Parquet, named by its JSON
    assert {f: oct(m) for f, m in files.items() if m != 0o666 & ~umask} == {}
    assert {d: oct(m) for d, m in dirs.items() if m != 0o777 & ~umask} == {}


def lake_views(con) -> list[str]:
    """Create a view per lake source that has files, from the source's external_location as dbt reads it."""
    sources = yaml.safe_load((DBT_PROJECT_DIR / "models/staging/lake/_lake__sources.yml").read_text())
    made = []
    for table in sources["sources"][0]["tables"]:
        location = table["meta"]["external_location"]
        assert "{{" not in location and "'lake/" in location  # relative to the data dir, nothing rendered in
        if table["name"] == "trades":
            con.execute(f"create view lake_{table['name']} as select * from {location}")
            made.append(f"lake_{table['name']}")
    return made


def training_file(p: Paths, day: date) -> None:
    """What ml_dataset exports for a day, from the planted data set (enough labelled rows to train)."""
    data = planted(n_times=200)
    frame = pd.DataFrame(data.X, columns=data.features).assign(symbol=data.symbol, timeframe=data.timeframe,
                                                                 bar_at_ms=data.ts, baseline_vol_12=data.baseline_vol)
    frame = frame.assign(**data.labels)
    staged = staging_file(p.ml_runs, day.isoformat(), "ml_dataset")
    staged.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(staged)
    write_artifact(p.ml_runs, day.isoformat(), "ml_dataset", TrainingSet(staged, data.features, data.timeframe, False,
                                                                        len(frame)))


def run_model(day: date) -> dict:
    """The model asset for a day (fast settings), as a daily run materializes it; returns its pointer."""
    asset = next(a for a in MODEL_ASSETS if a.key.path[-1] == f"ml_{MODEL}")
    result = dg.materialize([ml_dataset, asset], selection=[asset.key], partition_key=day.isoformat(),
                            resources={"warehouse": Warehouse(), "ml_artifacts": MlArtifacts()},
                            run_config={"ops": {f"ml_{MODEL}": {"config": {"fast": True, "n_folds": 2}}}})
    assert result.success
    return read_artifact(Paths(Path(os.environ["BLOFIN_DATA_DIR"])).ml_runs, day.isoformat(), f"ml_{MODEL}").pointer


def test_a_copied_data_dir_reads_its_own_lake_and_reuses_its_models_after_the_original_is_gone(tmp_path, monkeypatch,
                                                                                               capsys):
    first, second = Paths(tmp_path / "first"), Paths(tmp_path / "elsewhere" / "second")
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(first.data_dir))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    write_trades(first, "BTC-USDT", ticks(DAY))
    with connect_warehouse(first.warehouse) as con:
        (view,) = lake_views(con)
    publish_snapshot(first)
    training_file(first, DAY)
    trained = run_model(DAY)
    assert trained["directory"] == f"models/{MODEL}/{trained['version']}" and "reused" not in trained

    second.data_dir.parent.mkdir()
    subprocess.run(["cp", "-a", str(first.data_dir), str(second.data_dir)], check=True)
    subprocess.run(["rm", "-rf", str(first.data_dir)], check=True)
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(second.data_dir))

    # the moved snapshot's lake views read the moved lake (`blofin-stack query` itself reads no files at
    # all, lake included: its connection has external access off, so a view over the lake is refused there)
    with connect_warehouse(second.data_dir / "warehouse_snapshot.duckdb", read_only=True) as con:
        assert con.execute(f"select count(*), min(symbol) from {view}").fetchall() == [(50, "BTC-USDT")]

    # the next day reuses the version trained before the move (an older pointer's absolute path too)
    older = {**trained, "directory": str(first.data_dir / trained["directory"])}
    write_artifact(second.ml_runs, DAY.isoformat(), f"ml_{MODEL}", ModelRun(MODEL, older))
    training_file(second, date(2025, 3, 11))
    reused = run_model(date(2025, 3, 11))
    assert reused["reused"] is True and reused["version"] == trained["version"]
    assert read_artifact(second.ml_runs, "2025-03-11", f"ml_{MODEL}").latest is not None  # the day's scores


def test_stored_paths_are_relative_to_the_data_dir(tmp_path):
    p = Paths(tmp_path / "data")
    assert p.stored(p.reports / "2025-03-10.json") == "reports/2025-03-10.json"
    assert p.stored(p.models / "risk_scorer" / "abc") == "models/risk_scorer/abc"
    with pytest.raises(ValueError):
        p.stored(tmp_path / "elsewhere.json")


def cli(paths: Paths, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BLOFIN_SOURCE", "DAGSTER_HOME")}
    env.update(BLOFIN_DATA_DIR=str(paths.data_dir), BLOFIN_SYMBOLS="BTC-USDT")
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=900,
                          preexec_fn=lambda: os.umask(umask))
    log = paths.data_dir / "last_run.log"
    assert done.returncode == 0, done.stdout + done.stderr + (log.read_text()[-3000:] if log.exists() else "")
    return done


def files_naming(root: Path, text: str) -> list[str]:
    """Files under root holding text, but run logs and dbt's per-run artifacts (they say where a run ran)."""
    skip = ("dagster_home/", "dbt_target/", "pipeline.log", "last_run.log", "alerts.log")
    return [str(f.relative_to(root)) for f in root.rglob("*") if f.is_file()
            and not str(f.relative_to(root)).startswith(skip) and text.encode() in f.read_bytes()]


@pytest.mark.slow
def test_a_pipeline_data_dir_moved_elsewhere_keeps_working(tmp_path):
    """Four synthetic days and a run under umask 027; `cp -a` elsewhere, the original deleted; then the
    copy answers a query on a lake view from its snapshot, runs the next day reusing the models it
    trained before the move, and rebuilds the first day's report."""
    first, second = Paths(tmp_path / "a" / "data"), Paths(tmp_path / "b" / "data")
    first.dagster_home.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", first.dagster_home / "dagster.yaml")
    cli(first, "generate", "--start", "2025-03-07", "--end", "2025-03-11", "--symbols", "BTC-USDT", umask=0o027)
    fast = fast_config_file(tmp_path)  # fast ML and a small search: what moves is the data dir, not model quality
    cli(first, "materialize", "--date", "2025-03-10", "--config", str(fast), umask=0o027)
    again = cli(first, "materialize", "--date", "2025-03-10", "--config", str(fast), umask=0o027).stdout
    assert "is unchanged since run" in again and "materialized" not in again  # same lake, code and config: no rerun
    files, dirs = modes(first.data_dir)
    files.pop("dagster_home/dagster.yaml")  # copied here by the test
    # dagster-dbt copies dbt_project/target/partial_parse.msgpack (a parse cache of the public project)
    # with its mode: the one file not written by blofin-stack or under the run's umask
    files.pop("dbt_target/partial_parse.msgpack", None)
    assert {"warehouse.duckdb", "warehouse_snapshot.duckdb", "reports/2025-03-10.json", "reports/2025-03-10.html",
            "lake/trades/symbol=BTC-USDT/date=2025-03-10/trades.parquet", "ml/2025-03-10/ml_dataset.json"} <= set(files)
    assert any(f.startswith("ml/2025-03-10/ml_dataset.") and f.endswith(".parquet") for f in files)
    assert any(f.startswith("models/") for f in files)
    assert {f: oct(m) for f, m in files.items() if m != 0o640} == {}
    assert {d: oct(m) for d, m in dirs.items() if d not in (".", "dagster_home") and m != 0o750} == {}
    assert files_naming(first.data_dir, str(first.data_dir)) == []

    second.data_dir.parent.mkdir()
    subprocess.run(["cp", "-a", str(first.data_dir), str(second.data_dir)], check=True)
    subprocess.run(["rm", "-rf", str(first.data_dir.parent)], check=True)

    query = cli(second, "query", "select count(*) as n from bars_1m where bar_date = date '2025-03-10'",
                "--format", "json")
    assert json.loads(query.stdout)[0]["n"] > 1_000
    cli(second, "materialize", "--date", "2025-03-11", "--config", str(fast))
    runs = [read_artifact(second.ml_runs, "2025-03-11", f"ml_{name}") for name in MODELS]
    pointers = [run.pointer for run in runs if run is not None and run.pointer]
    assert pointers and all(ref.get("reused") and ref["trained_on"] == "2025-03-10" for ref in pointers), pointers
    (second.reports / "2025-03-10.json").unlink()
    cli(second, "report", "--date", "2025-03-10")
    assert (second.reports / "2025-03-10.json").exists()
    with duckdb.connect(str(second.warehouse), read_only=True) as con:
        stored = con.execute("select report_date::varchar, report_path from daily_reports order by 1").fetchall()
        model_dirs = {r[0] for r in con.execute("select distinct model_dir from ml_model_results").fetchall()}
    assert stored == [("2025-03-10", "reports/2025-03-10.json"), ("2025-03-11", "reports/2025-03-11.json")]
    assert model_dirs and all(d.startswith("models/") for d in model_dirs)
    assert files_naming(second.data_dir, str(tmp_path)) == []
