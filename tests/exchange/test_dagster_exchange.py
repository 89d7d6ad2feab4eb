"""The exchange inside Dagster: the ingest asset with BLOFIN_SOURCE=blofin fetches its partition's
candles and funding from the (fake) exchange; the recorder sensor records a bounded session."""

from __future__ import annotations

import dagster as dg
import duckdb
from fake_blofin import FakeBlofin

from dagster_defs import sensors
from dagster_defs.ingest.assets import lake_market_data
from dagster_defs.resources import MarketSource


def test_blofin_source_fetches_the_partition_day(data_dir, monkeypatch) -> None:
    with FakeBlofin() as fake:
        monkeypatch.setenv("BLOFIN_API_URL", fake.url)
        monkeypatch.setenv("BLOFIN_RATE_LIMIT_MS", "1")
        result = dg.materialize([lake_market_data], partition_key="2025-02-03",
                                resources={"market_source": MarketSource(kind="blofin", symbols="BTC-USDT,ETH-USDT")})
        again = dg.materialize([lake_market_data], partition_key="2025-02-03",
                               resources={"market_source": MarketSource(kind="blofin", symbols="BTC-USDT,ETH-USDT")})
        candle_calls = fake.counts["candles"]
    assert result.success and again.success
    assert candle_calls == 2 * 15  # 1440 minutes = 15 pages per symbol, and the rerun asked for nothing new
    counts = duckdb.sql(f"select symbol, count(*), min(bar_at_ms), max(bar_at_ms) from read_parquet("
                        f"'{data_dir.candles}/*/*/*/candles.parquet', hive_partitioning = true) group by 1 order by 1").fetchall()
    day = 1_738_540_800_000  # 2025-02-03 00:00 UTC
    assert counts == [("BTC-USDT", 1440, day, day + 86_340_000), ("ETH-USDT", 1440, day, day + 86_340_000)]
    funding = duckdb.sql(f"select count(*) from read_parquet('{data_dir.funding}/*/*/funding.parquet')").fetchall()[0][0]
    assert funding == 2 * 3


def import_spot_candles(data_dir, tmp_path) -> None:
    """BTC-USDT made a spot symbol: two 5m candles of freqtrade's spot BTC_USDT file imported."""
    import pandas as pd

    from python_assets.ingest.importers import import_file

    pd.DataFrame({"date": pd.to_datetime([1_738_540_800_000, 1_738_541_100_000], unit="ms", utc=True), "open": 1.0,
                  "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}).to_feather(tmp_path / "BTC_USDT-5m.feather")
    import_file(data_dir, tmp_path / "BTC_USDT-5m.feather")


def recorder_session(monkeypatch, symbols: str) -> dg.SkipReason:
    """One trade_recorder_sensor evaluation of a 1 s session against the fake exchange."""
    with FakeBlofin(trade_period_ms=100) as fake:
        monkeypatch.setenv("BLOFIN_API_URL", fake.url)
        monkeypatch.setenv("BLOFIN_RATE_LIMIT_MS", "1")
        monkeypatch.setenv("BLOFIN_SYMBOLS", symbols)
        monkeypatch.setattr(sensors, "RECORDER_SESSION_S", 1.0)
        with dg.instance_for_test() as instance:
            return sensors.trade_recorder_sensor(dg.build_sensor_context(instance=instance))


def test_a_symbol_holding_the_other_market_fails_the_ingest_once_with_its_reason(data_dir, tmp_path, monkeypatch) -> None:
    """BTC-USDT holds an imported spot file: the BloFin ingest refuses to fetch the swap into it, in one line, and
    fails without retrying (nothing a retry could change); no request for its candles is sent."""
    import_spot_candles(data_dir, tmp_path)
    with FakeBlofin() as fake:
        monkeypatch.setenv("BLOFIN_API_URL", fake.url)
        monkeypatch.setenv("BLOFIN_RATE_LIMIT_MS", "1")
        result = dg.materialize([lake_market_data], partition_key="2025-02-03", raise_on_error=False,
                                resources={"market_source": MarketSource(kind="blofin", symbols="BTC-USDT")})
        calls = fake.counts.get("candles", 0)
    assert not result.success and calls == 0
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1 and not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    assert "BTC-USDT: blofin BTC/USDT:USDT is a perpetual-swap market, but BTC-USDT already holds spot data" in \
        failures[0].step_failure_data.error.message


def test_recorder_sensor_records_a_bounded_session(data_dir, monkeypatch) -> None:
    result = recorder_session(monkeypatch, "BTC-USDT")
    assert isinstance(result, dg.SkipReason) and "BTC-USDT: 100 new" in result.skip_message
    assert list(data_dir.live_trades.rglob("*.parquet"))
    assert sensors.trade_recorder_sensor.default_status == dg.DefaultSensorStatus.STOPPED


def test_recorder_sensor_leaves_out_a_symbol_holding_spot_data(data_dir, tmp_path, monkeypatch) -> None:
    import_spot_candles(data_dir, tmp_path)
    result = recorder_session(monkeypatch, "BTC-USDT,ETH-USDT")
    assert "ETH-USDT: 100 new" in result.skip_message and "BTC-USDT: " not in result.skip_message.split("; not")[0]
    assert "not recorded: BTC-USDT: holds spot data (candles from BTC_USDT-5m.feather)" in result.skip_message
    assert [p.name for p in data_dir.live_trades.iterdir()] == ["symbol=ETH-USDT"]
    only_spot = recorder_session(monkeypatch, "BTC-USDT")  # nothing to record: at once, not after a session
    assert only_spot.skip_message.startswith("recorded nothing: BTC-USDT: holds spot data")
