"""Where every output lives: one place that resolves paths under BLOFIN_DATA_DIR (default `data/`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

DATA_DIR_ENV = "BLOFIN_DATA_DIR"
DEFAULT_SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
DEFAULT_SEED = 7  # the synthetic market's seed
PARTITIONS_START_ENV = "BLOFIN_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2024-01-01"
REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


@dataclass(frozen=True)
class Paths:
    """Absolute locations of the lake, warehouse, reports and logs under one data directory."""

    data_dir: Path

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    @property
    def trades(self) -> Path:
        return self.lake / "trades"

    @property
    def funding(self) -> Path:
        return self.lake / "funding"

    @property
    def candles(self) -> Path:
        """Imported / fetched OHLCV candles: candles/symbol=S/timeframe=TF/date=D/."""
        return self.lake / "candles"

    @property
    def live_trades(self) -> Path:
        """The trade recorder's hourly files, merged into trades/ once their hour is over."""
        return self.lake / "live_trades"

    @property
    def quarantine(self) -> Path:
        return self.lake / "quarantine" / "trades"

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def reports(self) -> Path:
        return self.data_dir / "reports"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "pipeline.log"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def models(self) -> Path:
        """Versioned model artifacts: models/<name>/<version>/."""
        return self.data_dir / "models"

    @property
    def ml_runs(self) -> Path:
        """Per-day ML working files: the exported training set and each model's chosen version."""
        return self.data_dir / "ml"

    def stored(self, path: Path) -> str:
        """A path under the data dir as pointers and table rows store it: relative to the data dir, so a
        data dir copied or moved elsewhere still finds it."""
        return Path(path).relative_to(self.data_dir).as_posix()


def paths() -> Paths:
    """Resolve the data directory from the environment now (tests move it with BLOFIN_DATA_DIR)."""
    raw = os.environ.get(DATA_DIR_ENV, "data")
    return Paths(Path(raw).expanduser().resolve())


def export_data_dir() -> Paths:
    """Pin BLOFIN_DATA_DIR to its absolute form so subprocesses (dbt runs in dbt_project/) agree."""
    p = paths()
    os.environ[DATA_DIR_ENV] = str(p.data_dir)
    return p


LAKE_DAY_GLOBS = ("trades/symbol=*/date=*", "candles/symbol=*/timeframe=*/date=*")


def lake_first_day(p: "Paths") -> date | None:
    """The earliest UTC day with trades or candles in the lake (from its date= folders), or None."""
    days = []
    for pattern in LAKE_DAY_GLOBS:
        for folder in p.lake.glob(pattern):
            try:
                days.append(date.fromisoformat(folder.name.removeprefix("date=")))
            except ValueError:
                continue
    return min(days, default=None)


def partitions_start(p: "Paths | None" = None) -> str:
    """The first daily partition (YYYY-MM-DD): BLOFIN_PARTITIONS_START when set, else the lake's first
    day (the UI's partition bar shows the data's range), else 2024-01-01 (an empty lake)."""
    override = os.environ.get(PARTITIONS_START_ENV)
    if override:
        return override
    first = lake_first_day(p or paths())
    return first.isoformat() if first else DEFAULT_PARTITIONS_START


def partition_days(now: datetime | None = None) -> tuple[date, date]:
    """(first, last) day of the daily partitions: from partitions_start() to the last complete UTC day."""
    today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
    return date.fromisoformat(partitions_start()[:10]), today - timedelta(days=1)
