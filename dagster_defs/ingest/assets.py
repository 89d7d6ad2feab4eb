"""Raw data assets: a day's ticks and funding rates in the Parquet lake (generated or already ingested)."""

import logging
from datetime import date

import dagster as dg

from dagster_defs.partitions import daily_partitions, day_start_ms, window_days
from dagster_defs.resources import MarketSource
from python_assets.config import Paths, paths
from python_assets.exchange.errors import MarketRefused
from python_assets.platform.logs import log_event
from python_assets.lake.atomic import LakeWriteError
from python_assets.lake.health import (DataDirError, LakeCorrupted, ensure_writable, remove_stale_temp_files,
                                       require_healthy_lake)
from python_assets.ingest.market import (LakeDataMissing, generate_market_day, mixed_lake_refusal, require_lake_days,
                                        synthetic_source_refusal)
from python_assets.platform.memory import release_freed_memory
from python_assets.platform.timeframes import DAY_MS
from python_assets.warehouse.run_inputs import lake_entries, window_digest

LAKE_TRADES = dg.AssetKey("lake_trades")
LAKE_FUNDING = dg.AssetKey("lake_funding_rates")
LAKE_CANDLES = dg.AssetKey("lake_candles")
WINDOW_DIGEST = "window_files_sha256"  # lake_trades metadata: the window's lake files as the step left them


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            LAKE_TRADES,
            description="Trade ticks per symbol and UTC day in data/lake/trades/ (bad rows in data/lake/quarantine/).",
            kinds={"parquet"},
        ),
        dg.AssetSpec(
            LAKE_FUNDING,
            description="8-hourly funding rates per symbol and UTC day in data/lake/funding/.",
            kinds={"parquet"},
        ),
        dg.AssetSpec(
            LAKE_CANDLES,
            description="Imported or fetched OHLCV candles in data/lake/candles/ (bars use them for days without ticks).",
            kinds={"parquet"},
        ),
    ],
    group_name="ingest",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL),
)
def lake_market_data(context: dg.AssetExecutionContext, market_source: MarketSource):
    """Synthetic source: generate each day of the window (idempotent; refused in a lake holding real data).
    Lake source: require the files (refused in a lake holding synthetic and real data).
    BloFin source: fetch the window's 1m candles and funding through ccxt (resumable) and merge the
    trade recorder's finished hours; then require the files like the lake source."""
    days = window_days(*context.partition_time_window)
    day_names = [d.isoformat() for d in days]
    try:
        meta = fill_lake(paths(), days, market_source, context.log)
    except (DataDirError, LakeCorrupted, LakeDataMissing, LakeWriteError, MarketRefused) as exc:
        # nothing a retry can fix: one clear message, the run fails, earlier data stays as it was
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    yield dg.MaterializeResult(asset_key=LAKE_TRADES, metadata=meta)
    yield dg.MaterializeResult(asset_key=LAKE_FUNDING, metadata={"source": market_source.kind, "days": day_names})
    yield dg.MaterializeResult(asset_key=LAKE_CANDLES, metadata={"source": market_source.kind, "days": day_names})


def fill_lake(p: Paths, days: list[date], market_source: MarketSource, log: logging.Logger | dg.DagsterLogManager) -> dict:
    """Make the days present in the lake (what the asset does, callable without Dagster); returns the
    materialization metadata. Every dataset of a day is written whole or not at all, so a rerun after
    a kill at any write completes what is missing and changes nothing else."""
    ensure_writable(p)
    stale = remove_stale_temp_files(p)
    if stale:
        log.info(f"removed {stale} temp file(s) left by killed writers")
    day_names = [d.isoformat() for d in days]
    if market_source.kind == "synthetic":
        if refusal := synthetic_source_refusal(p):  # its markets would join the real ones in every table
            raise MarketRefused(refusal)
        added = {s: 0 for s in market_source.symbol_list()}
        for day in days:
            for symbol in added:
                added[symbol] += generate_market_day(p, symbol, day, market_source.seed)[0].added
        log_event("lake_generated", days=day_names, ticks_added=added)
        meta = {"source": "synthetic", "days": day_names, "ticks_added": sum(added.values())}
    elif market_source.kind in ("lake", "blofin"):
        if refusal := mixed_lake_refusal(p):  # every symbol's folders are read: the demo's would join the real ones
            raise MarketRefused(refusal)
        if market_source.kind == "blofin":
            from python_assets.exchange.client import ExchangeConfig
            from python_assets.exchange.history import fetch_window

            fetched = fetch_window(p, market_source.symbol_list(), day_start_ms(days[0]),
                                   day_start_ms(days[-1]) + DAY_MS, ExchangeConfig.from_env())
            log.info(f"fetched from the exchange: {fetched}")
            log_event("lake_fetched", days=day_names, fetched=fetched)
        lacking = require_lake_days(p, days)
        if lacking:
            log.warning(f"symbols without trades on some days: {lacking}")
        log_event("lake_checked", days=day_names, lacking=lacking)
        meta = {"source": market_source.kind, "days": day_names, "symbols_lacking_days": str(lacking)}
    else:
        raise ValueError(f"unknown BLOFIN_SOURCE {market_source.kind!r}: use 'synthetic', 'lake' or 'blofin'")
    require_healthy_lake(p)
    try:  # the window's files as this step leaves them: a later change of one came from another writer
        meta[WINDOW_DIGEST] = window_digest(lake_entries(p), days[0], days[-1])
    except OSError:  # not listed: the CLI records what it listed before the run if the window changed
        pass
    release_freed_memory()  # the writers' freed pages: the run's later steps peak on top of this process
    return meta


def lake_step_digest(events: list[dg.DagsterEvent]) -> str | None:
    """The digest of its window's lake files the run's lake step left (run_inputs.window_digest, in its
    lake_trades metadata); None when the step materialized nothing (it failed, or the run did not hold it)."""
    found = [e.event_specific_data.materialization.metadata.get(WINDOW_DIGEST) for e in events
             if e.is_step_materialization and e.asset_key == LAKE_TRADES]
    return getattr(found[-1], "value", None) if found else None


# Lake datasets only the live recorder (`blofin-stack record`, outside Dagster) writes: external assets, listed
# beside the lake assets above with what they hold (dbt's staging reads them: models/staging/lake/).
RECORDER_LAKE = [
    dg.AssetSpec("lake_books", group_name="ingest", kinds={"parquet"},
                 description="Order-book states (top-N levels per side, samples and snapshots) per symbol and UTC "
                             "day in data/lake/books/, written by the live recorder."),
    dg.AssetSpec("lake_mark_prices", group_name="ingest", kinds={"parquet"},
                 description="Mark and index prices pushed to the live recorder, per symbol and UTC day in "
                             "data/lake/mark_prices/."),
    dg.AssetSpec("lake_instruments", group_name="ingest", kinds={"parquet"},
                 description="Daily snapshots of BloFin's instrument specifications (contract value, lot and "
                             "tick sizes) in data/lake/instruments/, written by the recorder."),
    dg.AssetSpec("lake_recorder_segments", group_name="ingest", kinds={"parquet"},
                 description="Intervals in which the live recorder received each dataset per symbol, split at "
                             "UTC midnight, in data/lake/recorder_segments/."),
    dg.AssetSpec("lake_recorder_gaps", group_name="ingest", kinds={"parquet"},
                 description="Holes the live recorder detected in a dataset and whether a REST back-fill "
                             "recovered them, in data/lake/recorder_gaps/."),
]

defs = dg.Definitions(assets=[lake_market_data, *RECORDER_LAKE])
