"""Resources in one place: the dbt CLI, the market-data source settings (from the environment), the
warehouse, opened only under the data directory's writer lock, and the per-symbol fan-out."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version as installed_version

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from packaging import version
from pydantic import PrivateAttr

from dagster_defs.dbt.project import dbt_engine, dbt_project, landing_tables
from python_assets.config import (DEFAULT_SEED, DEFAULT_SYMBOL_BATCH, DEFAULT_SYMBOLS, Paths,
                                   dbt_executable, dbt_target, export_data_dir, market_seed, market_source_kind,
                                   market_symbols, paths, spark_dir, spark_landing_env, symbol_batch_size,
                                   symbol_workers)
from python_assets.ml.artifacts import Artifact, read_artifact, require_artifact, write_artifact
from python_assets.platform.fanout import Mapper, batch_mapper
from python_assets.platform.runlock import lock_wait_seconds, writer_lock
from python_assets.warehouse.connection import connect_warehouse, export_tables, import_tables


class MarketSource(dg.ConfigurableResource):
    """Where a day's data comes from: 'synthetic' (generate it), 'lake' (already ingested or imported) or
    'blofin' (fetch candles and funding through ccxt, see python_assets/exchange/client.py for settings)."""

    kind: str = "synthetic"
    symbols: str = ",".join(DEFAULT_SYMBOLS)
    seed: int = DEFAULT_SEED

    def symbol_list(self) -> list[str]:
        return [s.strip() for s in self.symbols.split(",") if s.strip()]


def market_source_from_env() -> MarketSource:
    """BLOFIN_SOURCE, BLOFIN_SYMBOLS and BLOFIN_SEED override the synthetic defaults."""
    return MarketSource(
        kind=market_source_kind(),
        symbols=market_symbols(),
        seed=market_seed(),
    )


# Steps that open the DuckDB warehouse share this pool: DuckDB allows one writer (and no readers
# beside it across processes), so deploy/dagster.yaml limits the pool to one step at a time. The pool
# orders the steps Dagster schedules; the writer lock (the `warehouse` resource) also keeps out the
# writers Dagster does not schedule (CLI backtest / report / runs, another instance, tests).
WAREHOUSE_POOL = "warehouse"
# The resource key of MlArtifacts, the IO manager of the ML assets (their io_manager_key).
ML_ARTIFACTS = "ml_artifacts"

# A step waits this long for the writer lock by default: long enough for a CLI backtest or report
# (seconds), short enough that a step blocked by a whole CLI run fails soon, naming it.
STEP_LOCK_WAIT_S = 120.0


class Warehouse(dg.ConfigurableResource):
    """The live DuckDB warehouse of BLOFIN_DATA_DIR. Every step that opens it (Python assets, checks,
    the dbt steps while their subprocess runs) does so under the data directory's writer lock,
    waiting up to wait_seconds for another writer, then failing with one line naming it (pid, what,
    run id, since when). Re-entrant within a process: a CLI run already holds it.

    engine 'spark' (BLOFIN_DBT_TARGET=spark): dbt builds the models on Spark and the DuckDB file is the
    Python assets' working copy: each dbt call gets the landing tables Python wrote (exported as Parquet,
    registered by the dbt hook register_landing_tables) and hands back what it built (exported by the
    Spark session, replacing those tables here), so the Python assets read Spark's numbers."""

    wait_seconds: float = STEP_LOCK_WAIT_S
    engine: str = "duckdb"
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._run_id = context.run.run_id if context.run else None

    @contextmanager
    def locked(self) -> Iterator[Paths]:
        """Hold the writer lock; yields the data directory's paths."""
        paths = export_data_dir()
        log = dg.get_dagster_logger()
        with writer_lock(paths, "a Dagster step", self.wait_seconds, run_id=self._run_id, on_wait=log.warning):
            yield paths

    def markets(self) -> dict[str, str]:
        """{lake symbol: 'spot' or 'perp'} of the data directory's lake (ingest.importers.lake_markets): what the
        backtest, research and portfolio steps hand the engine, so a spot market is traded long only, unlevered."""
        from python_assets.ingest.importers import lake_markets  # the importers' readers load only when asked

        return lake_markets(export_data_dir())

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse, held under the writer lock."""
        with self.locked() as paths, connect_warehouse(paths.warehouse, read_only=read_only) as con:
            yield con

    @contextmanager
    def for_subprocess(self) -> Iterator[Paths]:
        """The lock for a child process that opens the warehouse itself (dbt): held while it runs, after
        proving DuckDB can open the file, so another process holding it is named here, not deep in dbt's log."""
        with self.locked() as paths:
            connect_warehouse(paths.warehouse).close()
            yield paths

    @contextmanager
    def dbt_exchange(self, paths: Paths) -> Iterator[list[str]]:
        """Around one dbt call: yields the extra dbt arguments. DuckDB: none (dbt writes this file).
        Spark: the landing tables go out first; what the call built comes back here after it succeeded."""
        if self.engine != "spark":
            yield []
            return
        root = spark_dir(paths)
        exported = root / "export"
        shutil.rmtree(exported, ignore_errors=True)
        with connect_warehouse(paths.warehouse) as con:
            sent = export_tables(con, landing_tables(), root / "landing")
        with spark_landing_env(root, sent):
            yield ["--export", str(exported)]
        with connect_warehouse(paths.warehouse) as con:
            import_tables(con, exported)


def warehouse_from_env() -> Warehouse:
    """BLOFIN_LOCK_WAIT_SECONDS overrides how long a step waits for the writer lock; BLOFIN_DBT_TARGET picks
    the engine dbt builds on."""
    return Warehouse(wait_seconds=lock_wait_seconds(STEP_LOCK_WAIT_S), engine=dbt_engine(dbt_target()))


class SymbolFanout(dg.ConfigurableResource):
    """How a step runs its per-symbol (or per-design) work: max_workers processes side by side, each
    task a batch of batch_size items (1 worker: in-process, no pool). Workers run pure functions only;
    the step reads the warehouse before and writes once after, in a fixed order, so the rows are the
    same whatever the worker count. More cores: raise max_workers; the Kubernetes executor gives each
    step its own pod, so size the pod's CPU request to max_workers."""

    max_workers: int = 1
    batch_size: int = DEFAULT_SYMBOL_BATCH

    @contextmanager
    def mapper(self) -> Iterator[Mapper]:
        """A batch mapper held for the step (one process pool, closed when the step is done)."""
        with batch_mapper(self.max_workers, self.batch_size) as run:
            yield run


def symbol_fanout_from_env() -> SymbolFanout:
    """BLOFIN_SYMBOL_WORKERS and BLOFIN_SYMBOL_BATCH override the in-process default."""
    return SymbolFanout(max_workers=symbol_workers(), batch_size=symbol_batch_size())


class MlArtifacts(dg.ConfigurableIOManager):
    """The ML assets' values (training set, model runs, out-of-sample P(up)), one per asset and partition
    day under the data dir's ml/ (python_assets/ml/artifacts.py). A run over a range of days stores its
    value at the range's last day (models train for a run's last day only); an input loads the upstream's
    value of the run's last day (None where none is stored, for an input whose metadata says optional),
    or of every day of the range (a dict by day) for an input annotated MlByDay."""

    def handle_output(self, context: dg.OutputContext, obj: Artifact) -> None:
        day = context.asset_partition_keys[-1]
        stored = write_artifact(paths().ml_runs, day, context.asset_key.path[-1], obj)
        context.add_output_metadata({"day": day, "stored": paths().stored(stored)})

    def load_input(self, context: dg.InputContext) -> Artifact | dict[str, Artifact | None]:
        asset, days = context.upstream_output.asset_key.path[-1], context.asset_partition_keys
        if context.dagster_type.typing_type is MlByDay:
            return MlByDay({day: read_artifact(paths().ml_runs, day, asset) for day in days})
        if context.definition_metadata.get("optional"):  # an input declared AssetIn(metadata={"optional": True})
            return read_artifact(paths().ml_runs, days[-1], asset)
        return require_artifact(paths().ml_runs, days[-1], asset)


class MlByDay(dict):
    """An input's stored values by day of the run's range (None where a day has none)."""


class BlofinDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two start-up costs of its first `cli()` call in a process that
    buy us nothing: `dbt --version` in a subprocess (~1.5 s; dbt-core is installed in this
    environment, so its version is read from the package metadata) and a dbt adapter built inside
    Dagster's process (~2 s), which serves only column-metadata fetching (not used here)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - the signature dagster-dbt calls
        return None


class BlofinDbtProjectPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (`dbt parse` under `dagster dev`, or where the manifest is missing) run
    with blofin-dbt, as `make manifest` parses. Plain dbt would leave in dbt_project/target a saved parse
    tied to this process's data dir, and every later dbt call in another data dir (each new data dir of
    `make run`, each test's temp dir) would then parse the whole project again (~3 s a call)."""

    def _prepare_manifest(self, project: DbtProject) -> None:  # the parse step of dagster-dbt's prepare()
        BlofinDbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            self._prepare_project_cli_args, target_path=project.target_path).wait()


def resources() -> dict[str, object]:
    return {
        "dbt": BlofinDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable(dbt_engine(dbt_target())),
                                    target=dbt_target()),
        "market_source": market_source_from_env(),
        "warehouse": warehouse_from_env(),
        "symbol_fanout": symbol_fanout_from_env(),
        ML_ARTIFACTS: MlArtifacts(),
    }
