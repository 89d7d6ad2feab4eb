"""One backtest invocation (what `blofin-stack backtest` runs): validate, simulate and store it in the
ledger (store_backtest); after the metrics asset has computed its strategy_backtest_results rows (the CLI
materializes it through Dagster: that table has one writer), read them back (read_results)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_assets.backtest.catalog import feature_columns
from python_assets.backtest.engine import Costs
from python_assets.backtest.expr import UNKNOWN_NAME
from python_assets.backtest.files import closed_bars, market_from_name, read_ohlcv
from python_assets.backtest.ledger import new_run_id
from python_assets.backtest.periods import PeriodsPerYear, measured_periods_per_year, periods_per_year_of_bars
from python_assets.backtest.reads import window_symbols
from python_assets.backtest.runner import BacktestJob, WalkForward, run_job, tradable_symbols
from python_assets.backtest.spec import SpecError, StrategySpec, compile_strategy, resolve_params, unused_conditions
from python_assets.backtest.spec_files import STRATEGY_DIR, load_spec, read_folder
from python_assets.config import Paths
from python_assets.ingest.importers import lake_markets
from python_assets.platform.timeframes import DAY_MS
from python_assets.warehouse.connection import WarehouseMissing, connect_warehouse

RESULT_COLUMNS = ("strategy_id", "symbol", "timeframe", "window_id", "window_kind", "trade_count", "total_return",
                  "cagr", "sharpe", "sortino", "bars_per_year", "calmar", "max_drawdown", "max_drawdown_duration_days", "win_rate",
                  "profit_factor", "expectancy", "exposure", "fees_paid", "funding_paid", "buy_and_hold_return",
                  "composite_score", "final_equity")


def find_spec(name_or_path: str, columns: frozenset[str]) -> StrategySpec:
    """A shipped strategy by name, or a YAML file by path."""
    return find_spec_noted(name_or_path, columns)[0]


def find_spec_noted(name_or_path: str, columns: frozenset[str]) -> tuple[StrategySpec, tuple[str, ...]]:
    """find_spec, with a note naming the folder's other files left out: a shipped name runs whatever else is
    in the folder (one malformed user file stopped every name), a name clash is refused naming both files."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():  # was "unknown strategy 'x.yml'; shipped: ...", as if a name had been misspelt
            raise SpecError(f"{path}: no such file")
        return load_spec(path, columns), ()
    folder = read_folder(STRATEGY_DIR, feature_columns())  # typed as publish reads it: regime > 1 is left out
    if name_or_path not in folder.specs:
        problems = "".join(f"; left out {line}" for line in folder.lines)
        raise SpecError(f"unknown strategy {name_or_path!r}; shipped: {', '.join(sorted(folder.specs))} "
                        f"(or a path to a .yaml spec){problems}")
    others = sorted(folder.left_out)
    note = (f"left out {len(others)} other file(s) of {STRATEGY_DIR.name}/ (invalid, or clashing with another file): "
            f"{', '.join(others)} (run one with --strategy PATH to see why)")
    return folder.specs[name_or_path], (note,) if others else ()


def data_hint(exc: SpecError, data: Path | None) -> SpecError:
    """The error, with a hint where a --data run names a column a file does not have (every compile error got
    the hint, a lag-length one too; a user's spec file naming a feature got none)."""
    if data is None or UNKNOWN_NAME not in str(exc):
        return exc
    return SpecError(f"{exc} (a --data file has OHLCV columns only: use sma/highest/lowest/stddev/lag over them)")


def parse_param_args(items: list[str]) -> dict[str, str]:
    """['fast=10', 'slow=30'] -> {'fast': '10', 'slow': '30'}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--param {item!r}: expected NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def choose_periods_per_year(override: float | None, file_bars: tuple | None, timeframe: str) -> PeriodsPerYear | None:
    """The annualisation factor: --periods-per-year, else measured on a file's calendar; None for a warehouse
    run: the mart measures each backtest on its own bars (periods.py's rule; read_results says how)."""
    if override is not None:
        if not override > 0:
            raise SpecError(f"--periods-per-year must be a positive number, not {override}")
        return PeriodsPerYear(float(override), "set by --periods-per-year")
    if file_bars is not None:
        bars, bar_ms = file_bars
        return measured_periods_per_year(bars["bar_at_ms"].to_numpy(), bar_ms)
    # not 24/7 for every symbol: the warehouse has a bar only where there were trades, so a thin market's
    # 1m bars (one a day) were annualised as 525,600 a year (always long: Sharpe -62.31 on 1m, -1.64 on 1d)
    return None


def check_symbols(con: duckdb.DuckDBPyConnection, relation: str, timeframe: str, symbols: list[str]) -> None:
    """SpecError naming the known symbols when one asked for has no bars of this timeframe."""
    known = sorted(r[0] for r in con.execute(f"select distinct symbol from {relation} where timeframe = ?",
                                             [timeframe]).fetchall())
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise SpecError(f"unknown symbol{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                        f"the {timeframe} bars have {', '.join(known) or 'no symbols'}")


def warehouse_span(con: duckdb.DuckDBPyConnection, paths: Paths, timeframe: str,
                   symbols: list[str] | None = None) -> tuple:
    """(first bar_at_ms, last bar_at_ms, bar ms) of the warehouse's bars of a timeframe, of `symbols` only when
    given (Nones when they have none); WarehouseMissing when no run has built the bars yet."""
    import duckdb

    only = " and symbol in (select unnest(?))" if symbols else ""
    try:
        return con.execute("select min(bar_at_ms), max(bar_at_ms), max(timeframe_ms) from int_bars_unioned "
                           f"where timeframe = ?{only}", [timeframe, *([symbols] if symbols else [])]).fetchall()[0]
    except duckdb.CatalogException:
        raise WarehouseMissing(f"the warehouse {paths.warehouse} has no bars yet: build them with `blofin-stack demo` "
                               "or `blofin-stack materialize --date YYYY-MM-DD`, or pass --data FILE") from None


def data_markets(paths: Paths, data: Path | None, frame: tuple | None) -> dict[str, str]:
    """{symbol: 'spot' or 'perp'} of what a backtest runs on: a file's as its freqtrade name (or a -SPOT
    symbol) says, the lake's for warehouse bars; a spot symbol is traded long only, unlevered, unfunded."""
    if frame is None:
        return lake_markets(paths)
    symbol = str(frame[0]["symbol"].iloc[0])
    market = market_from_name(Path(data)) or ("spot" if symbol.endswith("-SPOT") else None)
    return {symbol: market} if market else {}


@dataclass(frozen=True)
class StoredBacktest:
    """A backtest run written to the ledger: its run id, how its bars_per_year was chosen (None: measured
    per backtest on its own bars, which read_results describes row by row) and notes on what it left out."""
    run_id: str
    annualisation: str | None
    notes: tuple[str, ...] = ()


def store_backtest(paths: Paths, strategy: str, params: dict[str, Any], costs: Costs, data: Path | None = None,
                   symbols: list[str] | None = None, days: int | None = None,
                   walk_forward: WalkForward | None = None, symbol: str | None = None,
                   periods_per_year: float | None = None, now: int | None = None) -> StoredBacktest:
    """Backtest a strategy on a file or the warehouse and write the run to the ledger (landing tables); a file's
    bars that had not closed by `now` (epoch ms; None: keep every bar) are left out, saying so in the notes."""
    columns = frozenset() if data is not None else feature_columns()
    try:
        spec, notes = find_spec_noted(strategy, columns)
    except SpecError as exc:
        raise data_hint(exc, data) from None
    resolved = resolve_params(spec, params)
    frame = read_ohlcv(data, symbol) if data is not None else None
    if frame is not None and now is not None:
        bars, note = closed_bars(*frame, now, data)
        frame, notes = (bars, frame[1]), notes + tuple(filter(None, [note]))
    timeframe = frame[0]["timeframe"].iloc[0] if frame is not None else spec.timeframe
    if timeframe != spec.timeframe:  # the file's bars decide; the spec's timeframe was dropped without a word
        notes += (f"{spec.name} is written for {spec.timeframe} bars; the file's bars are {timeframe}: run on {timeframe}",)
    unused = unused_conditions(spec)
    if unused:
        notes += (f"{spec.name} is side {spec.side}: its {' and '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used",)
    try:
        compile_strategy(spec, resolved, columns, "bars", timeframe)
    except SpecError as exc:
        raise data_hint(exc, data) from None
    annual = choose_periods_per_year(periods_per_year, frame, timeframe)
    if data is None and not paths.warehouse.exists():
        raise FileNotFoundError(f"{paths.warehouse} does not exist: run `make run` or pass --data FILE")
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    with connect_warehouse(paths.warehouse) as con:
        if frame is not None:
            bars, bar_ms = frame
            con.register("file_bars", bars)
            start_ms, end_ms = int(bars["bar_at_ms"].iloc[0]), int(bars["bar_at_ms"].iloc[-1]) + bar_ms
            relation, source = "file_bars", f"file:{Path(data).resolve()}"
        else:
            relation, source = "int_bars_unioned", "warehouse"
            # the symbols' own span: imported pairs of other years once set the window (ETH-BTC's 20 days of 2018
            # beside a 2021 pair ran as 1,411 days; with --days 3 it had no bars in the window)
            first_ms, last_ms, bar_ms = warehouse_span(con, paths, timeframe, symbols)
            if last_ms is None:
                if symbols:
                    check_symbols(con, relation, timeframe, symbols)
                raise SpecError(f"the warehouse has no {timeframe} bars")
            # the window is the bars' span (the last bar's close), at most the last `days`: it was 1970 on without
            # --days, so the stored window start and the printed duration and trades per day were wrong
            end_ms = int(last_ms) + int(bar_ms)
            start_ms = max(int(first_ms), end_ms - days * DAY_MS) if days else int(first_ms)
        if walk_forward is not None and not walk_forward.folds(start_ms, end_ms):
            raise SpecError(f"--walk-forward {walk_forward.train_days:g}:{walk_forward.test_days:g} fits no fold in the "
                            f"{(end_ms - start_ms) / DAY_MS:.1f} days of bars: shorten TRAIN and TEST")
        if symbols:
            check_symbols(con, relation, timeframe, symbols)
        markets = data_markets(paths, data, frame)
        notes += spot_left_out(spec, symbols or window_symbols(con, relation, timeframe, start_ms, end_ms), markets)
        job = BacktestJob(spec=spec, grid=[resolved], symbols=symbols, timeframe=timeframe, start_ms=start_ms,
                          end_ms=end_ms, costs=costs, run_id=run_id, kind="cli", source=source,
                          features_relation="file_bars" if frame is not None else "features",
                          bars_relation=relation, walk_forward=walk_forward, columns=columns,
                          periods_per_year=None if annual is None else annual.value,
                          markets=markets)
        run_job(con, job)
    return StoredBacktest(run_id, None if annual is None else annual.basis, notes)


def spot_left_out(spec: StrategySpec, symbols: list[str], markets: dict[str, str]) -> tuple[str, ...]:
    """A note naming the spot symbols a short-only strategy is not run on (SpecError when that is all of them:
    'no bars of the strategy's timeframe' was printed though the bars were there)."""
    runs, skipped = tradable_symbols(spec, symbols, markets)
    if skipped and not runs:
        raise SpecError(f"{spec.name} is short-only and {', '.join(skipped)} "
                        f"{'is a spot market' if len(skipped) == 1 else 'are spot markets'} (held long only): nothing to backtest")
    return (f"left out {', '.join(skipped)}: spot, held long only, and {spec.name} is short-only",) if skipped else ()


def read_results(paths: Paths, stored: StoredBacktest) -> list[dict]:
    """The run's strategy_backtest_results rows, each with `annualisation` (how bars_per_year was chosen): a
    warehouse run's is periods.py's rule on that backtest's equity rows, as the mart computes bars_per_year."""
    with connect_warehouse(paths.warehouse, read_only=True) as con:
        cur = con.execute(f"select backtest_id, {', '.join(RESULT_COLUMNS)} from strategy_backtest_results "
                          "where run_id = ? order by symbol, window_id, window_kind", [stored.run_id])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
        measured = {} if stored.annualisation is not None else {
            backtest_id: periods_per_year_of_bars(bars, span_ms, bar_ms).basis
            for backtest_id, bars, span_ms, bar_ms in con.execute(
                "select e.backtest_id, count(*), max(e.bar_at_ms) - min(e.bar_at_ms) + max(r.bar_ms), max(r.bar_ms) "
                "from backtest_equity e join backtest_runs r using (backtest_id) where r.run_id = ? "
                "group by e.backtest_id", [stored.run_id]).fetchall()}
    return [{**{k: v for k, v in row.items() if k != "backtest_id"},
             "annualisation": stored.annualisation or measured.get(row["backtest_id"])} for row in rows]
