"""The freshness check on bars_1m: passes when every symbol trades up to the day's end."""

from __future__ import annotations

import dagster as dg
import duckdb

from dagster_defs.checks import bars_freshness, window_freshness


def make_bars(path, rows):
    with duckdb.connect(str(path)) as con:
        con.execute("create table bars_1m (symbol varchar, bar_date date, bar_at_ms bigint)")
        con.executemany("insert into bars_1m values (?, ?, ?)", rows)


def test_fresh_when_the_last_bar_is_the_last_minute(tmp_path):
    end = 1_741_651_200_000  # 2025-03-11 00:00 UTC
    make_bars(tmp_path / "w.duckdb", [("A", "2025-03-10", end - 60_000), ("B", "2025-03-10", end - 30 * 60_000)])
    passed, meta = bars_freshness(str(tmp_path / "w.duckdb"), 60)
    assert passed and meta["minutes_behind_day_end"] == {"A": 0, "B": 29}


def test_stale_when_a_symbol_stopped_early_or_is_missing_the_day(tmp_path):
    end = 1_741_651_200_000
    make_bars(tmp_path / "w.duckdb", [("A", "2025-03-10", end - 120 * 60_000), ("B", "2025-03-09", end - 86_400_000 - 60_000)])
    passed, meta = bars_freshness(str(tmp_path / "w.duckdb"), 60)
    assert not passed and meta["stale"] == {"A": 119, "B": None}


def test_a_backfilled_day_is_checked_not_the_newest_day_stored(tmp_path):
    from datetime import date

    end = 1_741_651_200_000
    make_bars(tmp_path / "w.duckdb", [("A", "2025-03-10", end - 300 * 60_000), ("A", "2025-03-11", end + 86_400_000 - 60_000)])
    assert bars_freshness(str(tmp_path / "w.duckdb"), 60)[0]  # the newest day is fresh
    passed, meta = bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 10))
    assert not passed and meta["stale"] == {"A": 299}


def test_a_range_run_checks_every_day_of_its_window_not_only_the_last(tmp_path):
    from datetime import date

    end = 1_741_651_200_000  # day 10 stops 18 h early, day 11 is whole
    make_bars(tmp_path / "w.duckdb", [("A", "2025-03-10", end - 1080 * 60_000), ("A", "2025-03-11", end + 86_400_000 - 60_000)])
    passed, meta = window_freshness(str(tmp_path / "w.duckdb"), 60, [date(2025, 3, 10), date(2025, 3, 11)])
    assert not passed and meta["stale"] == {"2025-03-10": {"A": 1079}}
    assert meta["minutes_behind_day_end"]["2025-03-11"] == {"A": 0}


def test_a_bar_stamped_after_the_day_does_not_make_a_stale_symbol_fresh(tmp_path):
    from datetime import date

    end = 1_741_651_200_000  # A stopped 3 h early; one of its bars is stamped 5 days later but filed under the day
    make_bars(tmp_path / "w.duckdb", [("A", "2025-03-10", end - 180 * 60_000), ("A", "2025-03-10", end + 5 * 86_400_000)])
    passed, meta = bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 10))
    assert not passed and meta["stale"] == {"A": 179}


def test_a_symbol_gone_for_the_day_is_stale_and_one_that_begins_later_is_not_checked(tmp_path):
    from datetime import date

    end = 1_741_651_200_000  # B traded the day before and not on the 10th; C begins on the 11th
    make_bars(tmp_path / "w.duckdb", [("A", "2025-03-10", end - 60_000), ("B", "2025-03-09", end - 86_400_000 - 60_000),
                                      ("C", "2025-03-11", end + 60_000)])
    passed, meta = bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 10))
    assert not passed and meta["minutes_behind_day_end"] == {"A": 0, "B": None}
    assert bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 9)) == (
        True, {"minutes_behind_day_end": {"B": 0}, "stale": {}, "missing": []})


def test_a_configured_symbol_that_never_got_a_bar_is_named_missing(tmp_path):
    """A configured symbol whose feed never delivered a row was invisible: the check only looked at the
    symbols with bars, so it passed and nobody was told. It is missing on every day of the window, even
    when a later day (outside the window) has its first bars, and named in one line."""
    from datetime import date

    from dagster_defs.checks import missing_lines

    end = 1_741_651_200_000  # A is whole on the 10th; C (configured) only begins on the 12th
    make_bars(tmp_path / "w.duckdb", [("A", "2025-03-10", end - 60_000), ("A", "2025-03-11", end + 86_400_000 - 60_000),
                                      ("C", "2025-03-12", end + 2 * 86_400_000)])
    passed, meta = bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 10), ["A", "B", "C"])
    assert not passed and meta["stale"] == {} and meta["missing"] == ["B", "C"]
    assert bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 11), ["A"])[0]  # all configured there
    passed, meta = window_freshness(str(tmp_path / "w.duckdb"), 60, [date(2025, 3, 10), date(2025, 3, 11)], ["A", "B"])
    assert not passed and meta["missing"] == {"2025-03-10": ["B"], "2025-03-11": ["B"]}
    assert missing_lines(meta["missing"]) == [
        "B: configured (BLOFIN_SYMBOLS) but no bars up to the end of 2025-03-10, 2025-03-11: its feed never delivered"]
    assert missing_lines({"None": ["B"]}) == [
        "B: configured (BLOFIN_SYMBOLS) but no bars up to the end of the newest day: its feed never delivered"]


def test_a_configured_symbol_not_yet_listed_on_the_day_is_not_missing(tmp_path):
    """The instruments snapshot (dim_instruments) lists what the exchange trades: a configured symbol that a
    snapshot before the day's end did not list yet is not missing; once a snapshot lists it, it is."""
    from datetime import date

    end = 1_741_651_200_000  # snapshots: A since the 9th, N first listed on the 11th
    make_bars(tmp_path / "w.duckdb", [("A", "2025-03-10", end - 60_000), ("A", "2025-03-11", end + 86_400_000 - 60_000)])
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table dim_instruments (symbol varchar, valid_from_ms bigint)")
        con.executemany("insert into dim_instruments values (?, ?)", [("A", end - 2 * 86_400_000), ("N", end + 3_600_000)])
    assert bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 10), ["A", "N"])[0]
    passed, meta = bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 11), ["A", "N"])
    assert not passed and meta["missing"] == ["N"]


def test_a_configured_symbol_is_matched_in_the_lake_s_spelling(tmp_path):
    """BLOFIN_SYMBOLS=eth-usdt,btc/usdt:usdt writes ETH-USDT and BTC-USDT (every lake writer normalizes the
    name): the check compared the raw setting with the stored names and called both missing, their feeds
    'never delivered', though their bars were there."""
    from datetime import date

    end = 1_741_651_200_000
    make_bars(tmp_path / "w.duckdb", [("BTC-USDT", "2025-03-10", end - 60_000), ("ETH-USDT", "2025-03-10", end - 60_000)])
    passed, meta = bars_freshness(str(tmp_path / "w.duckdb"), 60, date(2025, 3, 10),
                                  ["eth-usdt", " btc/usdt:usdt", "sol_usdt", "bad name!"])
    assert not passed and meta["missing"] == ["SOL-USDT", "bad name!"]  # one it cannot normalize: named as set


def test_a_failed_freshness_check_is_alerted_once(tmp_path, monkeypatch):
    """bars_1m_is_fresh only warns and fails no run: a symbol whose data stopped was never alerted, only
    shown in the UI. Now one alert per failed evaluation; the same days and finding once."""
    import json

    from dagster_defs.sensors import freshness_alert_sensor

    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path / "data"))
    finding = {"text": "BTC-USDT: last 1m bar 119 min before the end of 2025-03-10", "passed": False}

    @dg.asset(name="bars_1m")
    def bars() -> None:
        return None

    @dg.asset_check(asset="bars_1m", name="bars_1m_is_fresh")
    def fresh() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=finding["passed"], severity=dg.AssetCheckSeverity.WARN,
                                   description=None if finding["passed"] else finding["text"],
                                   metadata={"days": ["2025-03-10"]})

    def alerts() -> list[dict]:
        log = tmp_path / "data" / "alerts.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        freshness_alert_sensor(context)  # the first tick: from here on
        run = dg.materialize([bars, fresh], instance=instance).run_id
        assert freshness_alert_sensor(context).skip_message == "1 freshness alert(s) written"
        dg.materialize([bars, fresh], instance=instance)  # the same finding again (a rerun of the day)
        finding["passed"] = True
        dg.materialize([bars, fresh], instance=instance)
        assert freshness_alert_sensor(context).skip_message == "no new failed freshness check"
        finding.update(passed=False, text="ETH-USDT: configured but no bars up to the end of 2025-03-10")
        dg.materialize([bars, fresh], instance=instance)
        freshness_alert_sensor(context)
    sent = alerts()
    assert [(a["kind"], a["run_id"] == run) for a in sent] == [("freshness", True), ("freshness", False)]
    assert "BTC-USDT: last 1m bar 119 min" in sent[0]["message"] and "ETH-USDT" in sent[1]["message"]
    assert sent[0]["days"] == ["2025-03-10"]


def test_a_day_of_candles_only_is_checked_on_its_own_bars_not_called_missing(tmp_path):
    """A symbol whose day is imported 1h candles has no 1m bar: the check called it 'configured but no 1m
    bars: its feed never delivered' (a real XRP day, whole in 1h candles). Its finest bars that day are
    checked: the 23:00 bar closes at the day's end (fresh); 1h candles that stop at 20:00 are 3 h behind."""
    from datetime import date

    end = 1_741_651_200_000  # 2025-03-11 00:00 UTC; A has ticks (1m bars), H and S only 1h candles
    path = tmp_path / "w.duckdb"
    make_bars(path, [("A", "2025-03-10", end - 60_000)])
    with duckdb.connect(str(path)) as con:
        con.execute("create table bars_1h (symbol varchar, bar_date date, bar_at_ms bigint)")
        con.executemany("insert into bars_1h values (?, ?, ?)", [("A", "2025-03-10", end - 3_600_000),
                                                                 ("H", "2025-03-10", end - 3_600_000),
                                                                 ("S", "2025-03-10", end - 4 * 3_600_000)])
    passed, meta = bars_freshness(str(path), 60, date(2025, 3, 10), ["A", "H"])
    assert meta["missing"] == [] and meta["minutes_behind_day_end"] == {"A": 0, "H": 0, "S": 180}
    assert not passed and meta["stale"] == {"S": 180}
