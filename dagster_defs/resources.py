"""Resources in one place: the dbt CLI and the market-data source settings (from the environment)."""

from __future__ import annotations

import os
import shutil
import sys
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from dagster_defs.dbt.project import dbt_project
from python_assets.config import DEFAULT_SYMBOLS
from python_assets.synthetic import DEFAULT_SEED


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
        kind=os.environ.get("BLOFIN_SOURCE", "synthetic"),
        symbols=os.environ.get("BLOFIN_SYMBOLS", ",".join(DEFAULT_SYMBOLS)),
        seed=int(os.environ.get("BLOFIN_SEED", str(DEFAULT_SEED))),
    )


# Steps that open the DuckDB warehouse share this pool: DuckDB allows one writer (and no readers
# beside it across processes), so deploy/dagster.yaml limits the pool to one step at a time.
WAREHOUSE_POOL = "warehouse"


def dbt_executable() -> str:
    """dbt on PATH, else the one beside this interpreter (a venv used without activating it)."""
    return shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")


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


def resources() -> dict[str, object]:
    return {
        "dbt": BlofinDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable()),
        "market_source": market_source_from_env(),
    }
