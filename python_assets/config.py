"""Where every output lives (paths under BLOFIN_DATA_DIR, default `data/`) and every setting: the only
module that reads or writes the environment, always when called, never at import."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

DATA_DIR_ENV = "BLOFIN_DATA_DIR"
SYMBOLS_ENV = "BLOFIN_SYMBOLS"
DEFAULT_SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
DEFAULT_SEED = 7  # the synthetic market's seed
PARTITIONS_START_ENV = "BLOFIN_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2024-01-01"
LOCK_WAIT_ENV = "BLOFIN_LOCK_WAIT_SECONDS"
DBT_SERVER_ENV = "BLOFIN_DBT_SERVER"
SYNTHETIC_EDGE_ENV = "BLOFIN_SYNTHETIC_EDGE"
SYNTHETIC_MARKET_ENV = "BLOFIN_SYNTHETIC_MARKET"
SYNTHETIC_MARKETS = ("regimes", "noise")
SCHEDULE_CRON_ENV = "BLOFIN_SCHEDULE_CRON"
SYMBOL_WORKERS_ENV, SYMBOL_BATCH_ENV = "BLOFIN_SYMBOL_WORKERS", "BLOFIN_SYMBOL_BATCH"
DEFAULT_SYMBOL_BATCH = 4
DEFAULT_CRON = "5 0 * * *"
FRESHNESS_ENV = "BLOFIN_FRESHNESS_MINUTES"
MAX_RUN_HOURS_ENV = "BLOFIN_MAX_RUN_HOURS"
DEFAULT_MAX_RUN_HOURS = 6  # a daily run takes minutes; a backfill range run launched from the UI, longer
WEBHOOK_ENV = "BLOFIN_ALERT_WEBHOOK_URL"
LLM_BASE_URL_ENV, LLM_MODEL_ENV = "BLOFIN_LLM_BASE_URL", "BLOFIN_LLM_MODEL"
LLM_KEY_ENV, LLM_TIMEOUT_ENV = "BLOFIN_LLM_API_KEY", "BLOFIN_LLM_TIMEOUT"
LLM_TIMEOUT_MAX_S = 600.0  # one LLM attempt's limit at most; the review's whole time is 3x the timeout
EXCHANGE_KEY_VARS = {"apiKey": "BLOFIN_API_KEY", "secret": "BLOFIN_API_SECRET", "password": "BLOFIN_API_PASSPHRASE"}
# DAGSTER_PG_PASSWORD: the Dagster instance's PostgreSQL password (deploy/dagster-postgres.yaml), which a
# storage error could quote
SECRET_ENV_VARS = (*EXCHANGE_KEY_VARS.values(), LLM_KEY_ENV, WEBHOOK_ENV, "DAGSTER_PG_PASSWORD")
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
        """The ML assets' values per day (python_assets/ml/artifacts.py, through the ml_artifacts IO manager)."""
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


class SettingError(ValueError):
    """A BLOFIN_* setting that cannot be read; the message names it (the CLI: exit 2)."""


ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_day(text: str) -> date | None:
    """text as a date when it is exactly YYYY-MM-DD in ASCII digits, else None (3.11's date.fromisoformat
    also takes 20261201, 2026-W49-2 and other scripts' digits)."""
    if not ISO_DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def partitions_start(p: "Paths | None" = None) -> str:
    """The first daily partition (YYYY-MM-DD): BLOFIN_PARTITIONS_START when set (SettingError unless it
    is an ISO date), else the lake's first day (the UI's partition bar shows the data's range), else
    2024-01-01 (an empty lake)."""
    override = os.environ.get(PARTITIONS_START_ENV)
    if override:
        day = iso_day(override)
        if day is None:  # 20250101 or a datetime passed fromisoformat, then failed inside Dagster
            raise SettingError(f"{PARTITIONS_START_ENV}={override!r} is not a date (YYYY-MM-DD)")
        last = datetime.now(timezone.utc).date() - timedelta(days=1)
        if day > last:
            raise SettingError(f"{PARTITIONS_START_ENV}={override} is after the last complete UTC day ({last}): "
                               "there would be no daily partition to run")
        return override
    first = lake_first_day(p or paths())
    return first.isoformat() if first else DEFAULT_PARTITIONS_START


def partition_days(now: datetime | None = None) -> tuple[date, date]:
    """(first, last) day of the daily partitions: from partitions_start() to the last complete UTC day."""
    today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
    return date.fromisoformat(partitions_start()[:10]), today - timedelta(days=1)


# Settings from the environment: each read when called, so a test's monkeypatch.setenv is seen.


def partitions_start_is_set() -> bool:
    """Whether BLOFIN_PARTITIONS_START pins the first partition: set and not empty (partitions_start reads an
    empty value as unset, so the lake decides; counted as set, a sensor called the lake's day pinned)."""
    return bool(os.environ.get(PARTITIONS_START_ENV))


def set_partitions_start(day: str) -> None:
    """Pin BLOFIN_PARTITIONS_START for this process and its children."""
    os.environ[PARTITIONS_START_ENV] = day


def ensure_dagster_home(default: Path) -> Path:
    """DAGSTER_HOME, set to `default` first when unset or empty (Dagster reads it from the environment)."""
    if dagster_home_setting() is None:
        os.environ["DAGSTER_HOME"] = str(default)
    return Path(os.environ["DAGSTER_HOME"])


def unset_env(names: list[str], numbers: frozenset[str] = frozenset()) -> list[str]:
    """The names among `names` Dagster cannot read now, in their order: not in the environment (an empty
    value is a value: a password under trust or .pgpass auth), or, for those in `numbers` (its IntSource
    settings: a port), set to something that is not an integer."""
    return [n for n in names if n not in os.environ or (n in numbers and not os.environ[n].strip().lstrip("-").isdigit())]


def dagster_home_setting() -> Path | None:
    """DAGSTER_HOME as set now (None when unset or empty: the data dir's dagster_home is used)."""
    return Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else None


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a subprocess: this process's, with `overrides` on top."""
    return {**os.environ, **overrides}


def adopt_environment(environment: dict[str, str]) -> None:
    """Make environment this process's whole environment (a forked dbt taking on its caller's)."""
    os.environ.clear()
    os.environ.update(environment)


def dbt_server_socket() -> Path | None:
    """BLOFIN_DBT_SERVER: the socket of a warm dbt server (dagster_defs/dbt/warm_dbt.py) that blofin-dbt
    and in_child hand their calls to; None: blofin-dbt runs dbt itself, in_child starts its own child."""
    return Path(os.environ[DBT_SERVER_ENV]) if os.environ.get(DBT_SERVER_ENV) else None


def warm_dbt_for_runs() -> bool:
    """BLOFIN_WARM_DBT=1: a CLI run starts a warm dbt server of its own for its dbt calls and in_child children
    (dagster_defs/dbt/warm_dbt.serving): the 30-day demo's next day ~4-5 s faster, the run's peak ~50-200 MiB
    higher (the 120-day demo's ~980 -> ~1,180 MiB, past the 1 GiB goal: so off unless asked; docs/scaling.md)."""
    return os.environ.get(WARM_DBT_ENV, "").strip() == "1"


def dbt_executable(engine: str = "duckdb") -> str:
    """blofin-dbt on PATH (dbt whose saved parse survives a new data dir: dagster_defs/dbt/duckdb_dbt.py),
    else the one beside this interpreter (a venv used without activating it); for Spark, blofin-dbt-spark
    (dbt with Python models run in its own Spark session: dagster_defs/dbt/spark_dbt.py)."""
    name = "blofin-dbt-spark" if engine == "spark" else "blofin-dbt"
    return shutil.which(name) or str(Path(sys.executable).parent / name)


MARKET_SOURCES = ("synthetic", "lake", "blofin")


def market_source_kind() -> str:
    """BLOFIN_SOURCE: synthetic (default), lake or blofin; another value is one SettingError line, at load (it
    failed the run's lake step, exit 1, after Dagster had started)."""
    kind = os.environ.get("BLOFIN_SOURCE", "synthetic")
    if kind not in MARKET_SOURCES:
        raise SettingError(f"BLOFIN_SOURCE={kind!r} is not a market source: use {', '.join(MARKET_SOURCES)}")
    return kind


def market_symbols() -> str:
    """BLOFIN_SYMBOLS, comma separated, any spelling the lake writers take (btc/usdt:usdt is BTC-USDT, BTCUSDT
    too unless the lake holds a BTCUSDT folder: lake/sources.user_symbol), given back in the lake's spelling,
    each once (default, when unset: the three default symbols). A name the lake refuses ('BTC USDT', '../x') is
    one SettingError line naming it, at load, as BLOFIN_SEED (it failed the run's lake step). Set but naming no
    symbol ('', spaces, commas: `BLOFIN_SYMBOLS=$SYMS` with SYMS unset) is one too, not the default: unlike an
    empty seed or worker count, an empty symbol list has no harmless meaning (it ran the whole graph on nothing
    and failed in research; the defaults would be other symbols than asked for)."""
    raw = os.environ.get(SYMBOLS_ENV)
    if raw is None:
        return ",".join(DEFAULT_SYMBOLS)
    names = [name for name in raw.split(",") if name.strip()]
    if not names:
        raise SettingError(f"{SYMBOLS_ENV}={raw!r} names no symbol: set comma-separated symbols (e.g. BTC-USDT,ETH-USDT) "
                           f"or unset it for the default {','.join(DEFAULT_SYMBOLS)}")
    from python_assets.lake.sources import user_symbol  # the lake's own rule (numpy, pyarrow: only when set)

    try:  # BTCUSDT is BTC-USDT, but a lake's own BTCUSDT folder
        return ",".join(dict.fromkeys(user_symbol(paths(), name) for name in names))
    except ValueError as exc:
        raise SettingError(f"{SYMBOLS_ENV}: {exc}") from None


def market_seed() -> int:
    """BLOFIN_SEED: the synthetic market's seed, a whole number >= 0 (anything else: one SettingError line)."""
    raw = os.environ.get("BLOFIN_SEED", "").strip()
    if not raw:
        return DEFAULT_SEED
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SettingError(f"BLOFIN_SEED must be a whole number >= 0 (the synthetic market's seed), got {raw!r}")
    return value


def _whole_number(name: str, default: int | None, least: int = 1) -> int | None:
    """An integer >= least from the environment (default when unset or blank); anything else is one
    SettingError line naming the variable (a ValueError: the CLI exits 2 with it)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = least - 1
    if value < least:
        raise SettingError(f"{name} must be a whole number >= {least}, got {raw!r}")
    return value


def symbol_workers() -> int:
    """BLOFIN_SYMBOL_WORKERS: worker processes for per-symbol work inside a step (default 1: in-process)."""
    return _whole_number(SYMBOL_WORKERS_ENV, 1)


def symbol_batch_size() -> int:
    """BLOFIN_SYMBOL_BATCH: symbols (or designs) per worker task (default 4)."""
    return _whole_number(SYMBOL_BATCH_ENV, DEFAULT_SYMBOL_BATCH)


def lock_wait_setting() -> str:
    """BLOFIN_LOCK_WAIT_SECONDS as given, stripped ('' when unset); runlock parses it."""
    return os.environ.get(LOCK_WAIT_ENV, "").strip()


def synthetic_edge() -> float:
    """BLOFIN_SYNTHETIC_EDGE (default 0: no planted edge); anything but a finite number is one ValueError line."""
    raw = os.environ.get(SYNTHETIC_EDGE_ENV, "").strip()
    try:
        value = float(raw or 0)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{SYNTHETIC_EDGE_ENV} must be a number (0: no planted edge), got {raw!r}")
    return value


def synthetic_market() -> str:
    """BLOFIN_SYNTHETIC_MARKET: 'regimes' (default: trending and ranging regimes, clustered volatility) or
    'noise' (i.i.d. Gaussian hourly returns, nothing to find but a planted edge); anything else is one ValueError line."""
    raw = os.environ.get(SYNTHETIC_MARKET_ENV, "").strip().lower() or SYNTHETIC_MARKETS[0]
    if raw not in SYNTHETIC_MARKETS:
        raise ValueError(f"{SYNTHETIC_MARKET_ENV} must be one of {', '.join(SYNTHETIC_MARKETS)}, got {raw!r}")
    return raw


def schedule_cron() -> str:
    """BLOFIN_SCHEDULE_CRON, else 00:05 every day."""
    return os.environ.get(SCHEDULE_CRON_ENV, DEFAULT_CRON)


def max_run_seconds() -> int:
    """BLOFIN_MAX_RUN_HOURS (default 6): the most a daily_job run the daemon launched (schedule, sensors, UI)
    may stay running before run monitoring marks it failed; a whole number >= 1, else one ValueError line."""
    return _whole_number(MAX_RUN_HOURS_ENV, DEFAULT_MAX_RUN_HOURS) * 3600


def freshness_minutes() -> int:
    """BLOFIN_FRESHNESS_MINUTES (default 60): the most minutes a symbol's last bar (its finest that day) may lag
    its day's end; a whole number >= 1, else one SettingError line."""
    return _whole_number(FRESHNESS_ENV, 60)


def debug_enabled() -> bool:
    """BLOFIN_DEBUG=1: the CLI raises errors with their traceback instead of one line."""
    return os.environ.get("BLOFIN_DEBUG") == "1"


def alert_webhook_url() -> str | None:
    """BLOFIN_ALERT_WEBHOOK_URL (a secret: never logged), stripped (a value from a file or a Kubernetes
    secret often ends in a newline), or None."""
    return os.environ.get(WEBHOOK_ENV, "").strip() or None


def llm_base_url() -> str | None:
    """BLOFIN_LLM_BASE_URL: an OpenAI-compatible http(s) endpoint, stripped, or None; SettingError for another
    scheme, naming the variable but never quoting its value (it may hold user:password@)."""
    raw = os.environ.get(LLM_BASE_URL_ENV, "").strip()
    try:
        scheme = urlsplit(raw).scheme.lower()
    except ValueError:  # an unclosed [IPv6] host
        scheme = ""
    if raw and scheme not in ("http", "https"):
        raise SettingError(f"{LLM_BASE_URL_ENV} is not an http:// or https:// URL")
    return raw or None


def llm_model() -> str | None:
    """BLOFIN_LLM_MODEL, or None; SettingError when it is not UTF-8 text (bytes the OS could not decode come
    as lone surrogates, which named the report's analyst and failed writing its HTML)."""
    raw = os.environ.get(LLM_MODEL_ENV)
    try:
        raw is None or raw.encode("utf-8")
    except UnicodeEncodeError:
        raise SettingError(f"{LLM_MODEL_ENV} is not UTF-8 text") from None
    return raw


def llm_api_key() -> str:
    """BLOFIN_LLM_API_KEY (a secret: never logged), stripped as alert_webhook_url; '' when unset."""
    return os.environ.get(LLM_KEY_ENV, "").strip()


def llm_timeout_s() -> float:
    """BLOFIN_LLM_TIMEOUT: seconds an LLM request may take in all, connect to last byte (default 20);
    SettingError naming it unless a number in (0, LLM_TIMEOUT_MAX_S]."""
    raw = os.environ.get(LLM_TIMEOUT_ENV, "").strip() or "20"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= LLM_TIMEOUT_MAX_S:  # nan and inf fail this too
        raise SettingError(f"{LLM_TIMEOUT_ENV}={raw[:40]!r} is not a number of seconds in (0, {LLM_TIMEOUT_MAX_S:g}]")
    return seconds


def exchange_settings() -> dict[str, object]:
    """ExchangeConfig fields from BLOFIN_EXCHANGE, BLOFIN_API_URL, BLOFIN_RATE_LIMIT_MS, BLOFIN_TIMEOUT_MS
    and BLOFIN_MAX_RETRIES (no secrets); a number that is not a whole one in range is one SettingError line
    (0 retries: one attempt; a negative count made no attempt at all)."""
    env = os.environ
    return {
        "exchange_id": env.get("BLOFIN_EXCHANGE", "blofin"),
        "api_url": env.get("BLOFIN_API_URL") or None,
        "rate_limit_ms": _whole_number("BLOFIN_RATE_LIMIT_MS", None, least=0),
        "timeout_ms": _whole_number("BLOFIN_TIMEOUT_MS", 10_000),
        "max_retries": _whole_number("BLOFIN_MAX_RETRIES", 6, least=0),
    }


def exchange_credentials() -> dict[str, str]:
    """The exchange keys that are set, as ccxt option names (secrets: for ccxt only, never logged)."""
    return {field: os.environ[var].strip() for field, var in EXCHANGE_KEY_VARS.items() if os.environ.get(var, "").strip()}


def secret_settings() -> list[str]:
    """The values of the secret variables set now, as given (the scrubber blanks each, in every spelling
    secrets.spellings gives, stripped included, out of text)."""
    return [os.environ[v] for v in SECRET_ENV_VARS if os.environ.get(v)]


DBT_WINDOW_ENV = {"min_date": "BLOFIN_DBT_MIN_DATE", "max_date": "BLOFIN_DBT_MAX_DATE"}
DBT_TARGET_ENV = "BLOFIN_DBT_TARGET"
SPARK_DIR_ENV = "BLOFIN_SPARK_DIR"
SPARK_CORES_ENV = "BLOFIN_SPARK_CORES"
SPARK_SMALL_DATA_ENV = "BLOFIN_SPARK_SMALL_DATA"  # profiles.yml: 1 turns Spark's AQE and whole-stage codegen off
WARM_DBT_ENV = "BLOFIN_WARM_DBT"  # 1: a CLI run starts a warm dbt server of its own (warm_dbt_for_runs)
DBT_DEFAULT_DATA_DIR = "../data"  # profiles.yml's data dir when BLOFIN_DATA_DIR is unset (dbt run from dbt_project/)
# Where the landing tables are for dbt on Spark, and which (macro register_landing_tables; set per dbt call).
SPARK_LANDING_ENV = {"root": "BLOFIN_SPARK_LANDING", "tables": "BLOFIN_SPARK_LANDING_TABLES"}
# Settings that change no result: where things live, a run's own window (set by the run), how long to
# wait, how to alert, how many workers (results are bit-identical for any worker count), every secret.
NOT_RESULT_SETTINGS = {DATA_DIR_ENV, *DBT_WINDOW_ENV.values(), LOCK_WAIT_ENV, SCHEDULE_CRON_ENV, FRESHNESS_ENV,
                       MAX_RUN_HOURS_ENV,
                       SYMBOL_WORKERS_ENV, SYMBOL_BATCH_ENV, LLM_TIMEOUT_ENV, "BLOFIN_DEBUG", *SECRET_ENV_VARS,
                       SPARK_DIR_ENV, *SPARK_LANDING_ENV.values(), SPARK_CORES_ENV, SPARK_SMALL_DATA_ENV,
                       DBT_SERVER_ENV, WARM_DBT_ENV}
_SECRET_NAME = ("KEY", "SECRET", "PASSPHRASE", "PASSWORD", "TOKEN", "WEBHOOK")


def result_settings() -> dict[str, str]:
    """The BLOFIN_* settings that can change what a run computes (source, symbols, seed, planted edge,
    partitions start, analyst endpoint and model, ...), for run_inputs' fingerprints; never a secret."""
    return {k: v for k, v in os.environ.items() if k.startswith("BLOFIN_") and k not in NOT_RESULT_SETTINGS
            and not any(word in k for word in _SECRET_NAME)}


def dbt_target() -> str | None:
    """BLOFIN_DBT_TARGET: the profiles.yml target dbt builds (None: the profile's default, DuckDB's dev)."""
    return os.environ.get(DBT_TARGET_ENV) or None


def spark_dir(p: Paths) -> Path:
    """BLOFIN_SPARK_DIR: the local Spark session's metastore, managed tables and exchange files (default
    <data dir>/spark; profiles.yml reads the same), absolute (a relative one against this process's cwd)."""
    return Path(os.environ.get(SPARK_DIR_ENV) or p.data_dir / "spark").expanduser().resolve()


def spark_cores() -> int:
    """BLOFIN_SPARK_CORES: cores (and shuffle partitions) of the local Spark session, default 2; a whole
    number >= 1, else one ValueError line."""
    return _whole_number(SPARK_CORES_ENV, 2)


def pin_spark_session_env() -> Path:
    """In a Spark dbt process, before dbt starts: BLOFIN_SPARK_DIR pinned to the absolute Spark dir
    profiles.yml would use from this cwd (so the profile, the lock and the caller agree), PYSPARK_PYTHON
    set to this interpreter when unset (Spark's Python workers otherwise run python3 from PATH, without
    this venv's packages), BLOFIN_SPARK_CORES checked; returns the Spark dir."""
    spark_cores()
    root = spark_dir(Paths(Path(os.environ.get(DATA_DIR_ENV) or DBT_DEFAULT_DATA_DIR)))
    os.environ[SPARK_DIR_ENV] = str(root)
    if not os.environ.get("PYSPARK_PYTHON"):
        os.environ["PYSPARK_PYTHON"] = sys.executable
    return root


@contextmanager
def dbt_window_env(window: dict[str, str]) -> Iterator[None]:
    """BLOFIN_DBT_MIN_DATE / MAX_DATE set to a run's window for the dbt child started inside (dbt macro
    partition_bound reads them at execution, so a new window does not force a full re-parse as --vars
    does); the previous values are put back after."""
    with scoped_env({DBT_WINDOW_ENV[key]: value for key, value in window.items()}):
        yield


@contextmanager
def spark_landing_env(root: Path, tables: list[str]) -> Iterator[None]:
    """For the dbt child on Spark: its Spark dir `root` (absolute: a relative BLOFIN_SPARK_DIR would be read
    against the child's cwd, dbt_project/), the landing tables exported for it under root/landing (macro
    register_landing_tables) and the interpreter its Python workers run (pyspark's applyInPandas)."""
    with scoped_env({SPARK_DIR_ENV: str(root), SPARK_LANDING_ENV["root"]: str(root / "landing"),
                     SPARK_LANDING_ENV["tables"]: ",".join(tables),
                     "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON") or sys.executable}):
        yield


@contextmanager
def scoped_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for children started inside; the previous values are put back after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
