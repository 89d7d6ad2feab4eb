"""Import other tools' market files into the lake: freqtrade candles, trades and funding rates (feather,
parquet, json) and generic CSV/Parquet candles. Re-importing a file adds nothing (the lake deduplicates)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from python_assets.backtest.files import (OhlcvFileError, check_symbol_column, columns_by_name, guess_from_name,
                                         market_from_name, read_ohlcv, read_table, table_columns, timeframe_label)
from python_assets.config import Paths
from python_assets.ingest.trades import ingest_file, parse_timestamps_ms
from python_assets.lake.sources import (IMPORT_SOURCE_PREFIX, SPOT_SOURCE_SUFFIX, fetched_market, record_market,
                                       lake_symbol_names, recorded_market, stored_candle_sources, synthetic_refusal,
                                       user_symbol)
from python_assets.lake.settlements import second_of
from python_assets.lake.store import (Guard, WriteStats, has_funding, normalize_symbol, now_ms, trades_partition,
                                      write_candles, write_funding)
from python_assets.lake.trade_rules import MAX_PRICE, MIN_TS_MS
from python_assets.platform.timeframes import (DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, TIMEFRAME_MS, WEEK_MS,
                                              off_grid_bar)

KINDS = ("candles", "trades", "funding")
FUNDING_RATE_COLUMNS = ("funding_rate", "fundingrate", "rate", "open")
MAX_ABS_FUNDING_RATE = 0.05  # 5% per settlement: beyond any exchange cap, so a unit mix-up, not a rate


class ImportFileError(ValueError):
    """A file that cannot be imported; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ImportResult:
    """What one import did: kind, symbol, timeframe (candles), rows read = rows new to the lake + duplicates
    + quarantined (trades only: candle and funding files with a bad row are refused whole) + conflicts
    (candles and funding: a bar stored with other prices or volume, a settlement with another rate; the
    stored row stays; first_conflict_ms the earliest) + replaced (funding: a settlement stored with an unknown,
    NaN rate, which the file's rate replaced) + still_open (candles that had not closed by the import's now: left
    out, a later import adds them); first_ms..last_ms span the bars kept."""

    file: str
    kind: str
    symbol: str
    timeframe: str | None
    rows_read: int
    rows_added: int
    duplicates: int
    first_ms: int | None
    last_ms: int | None
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    quarantine_file: str | None = None
    conflicts: int = 0
    first_conflict_ms: int | None = None
    shadowed_days: int = 0  # candles: days whose bars come from ticks or finer candles stored for the symbol
    still_open: int = 0
    stored_with_id: int = 0  # trades: duplicates stored under the other kind of id (IngestResult's)
    stored_without_id: int = 0
    replaced: int = 0


def guess_kind(columns: list[str]) -> str:
    """candles when the columns hold OHLC, trades when price and amount/size, funding when a rate."""
    lower = {str(c).strip().lower() for c in columns}
    if {"funding_rate", "fundingrate"} & lower:
        return "funding"
    if {"open", "high", "low", "close"} <= lower:
        return "candles"
    if "price" in lower and ({"amount", "size", "qty", "quantity"} & lower):
        return "trades"
    if lower and all(_is_number(c) for c in lower):  # kraken's trades CSV: its first row is data
        raise ImportFileError("cannot tell candles, trades or funding apart: the file has no header row (its first "
                              "row is numbers); a headerless trades file (time, price, amount[, side]) imports "
                              "with --kind trades --symbol SYMBOL")
    raise ImportFileError(f"cannot tell candles, trades or funding apart from the columns {sorted(lower)}: pass --kind")


def _is_number(text: str) -> bool:
    """Whether a column name is a number (a data row read as the header)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _when(ms: int) -> pd.Timestamp:
    """Epoch ms as a UTC timestamp, for messages."""
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def _check_candle_times(path: Path, times: np.ndarray, tf: str, now: int) -> None:
    """Refuse bars that open before 2009 or after now: a unit or clock mix-up, not a market (a bar open at
    now, still forming, is left out instead: still_open)."""
    early, future = times < MIN_TS_MS, times > now
    if early.any():
        raise ImportFileError(f"{path}: the bar at {_when(int(times[early][0]))} opens before 2009 "
                              "(a unit mix-up, not a market)")
    if future.any():
        raise ImportFileError(f"{path}: the {tf} bar at {_when(int(times[future][0]))} has not opened yet "
                              f"(now is {_when(now)}): a clock or unit mix-up")


def still_open(times: np.ndarray, tf_ms: int, now: int) -> np.ndarray:
    """Bars that have not closed by now (open + timeframe after now, no clock allowance): their prices and volume
    still change, so storing one would keep a partial bar for good (a stored bar wins over the finished one)."""
    return times + tf_ms > now


def _step_ms(times: np.ndarray) -> int:
    """The greatest common divisor of the gaps between consecutive (sorted) candle times: the widest
    timeframe the file can be. Gaps do not change it (a 1m file that lacks a quarter of its minutes,
    as exchanges leave out candles without trades, still has gcd 1m), so a file of the timeframe it
    claims never exceeds that timeframe; a 1h file labelled 5m has gcd 1h. Only a file with no two
    candles one timeframe apart and every gap a multiple of a wider step could be refused wrongly."""
    return int(np.gcd.reduce(np.diff(times))) if len(times) > 1 else 0


def import_candles(paths: Paths, path: Path, symbol: str, timeframe: str | None, source: str,
                   now: int | None = None, guard: Guard = None) -> ImportResult:
    """OHLCV bars into lake/candles; bars must sit on their timeframe's UTC grid (what the rollups assume),
    be that timeframe apart (see _step_ms) and open after 2009 and by `now` (default: the clock); those that have
    not closed by then are left out and counted (still_open), as fetch-ohlcv and the backtests leave them."""
    given_ms = _timeframe_ms(timeframe) if timeframe else None  # lets a file of one candle say its length
    try:
        bars, bar_ms = read_ohlcv(path, symbol, given_ms)
    except OhlcvFileError as exc:
        raise ImportFileError(str(exc)) from None
    tf = timeframe or timeframe_label(bar_ms)
    tf_ms = _timeframe_ms(tf)
    if tf not in TIMEFRAME_MS:  # the bars read candles of their own timeframe: these would make none
        raise ImportFileError(f"{path}: {tf} candles make no bars here (bars are {', '.join(TIMEFRAME_MS)}): "
                              "import candles of one of those timeframes")
    if bar_ms < tf_ms:
        raise ImportFileError(f"{path}: bars are {timeframe_label(bar_ms)} apart but the timeframe is {tf}")
    if off_grid := off_grid_bar(bars["bar_at_ms"].to_numpy(), tf, tf_ms):
        row, grid = off_grid
        when = pd.Timestamp(int(bars["bar_at_ms"].iloc[row]), unit="ms", tz="UTC")
        raise ImportFileError(f"{path}: bar {row + 1} opens at {when}, not on {grid}")
    times = bars["bar_at_ms"].to_numpy()
    step = _step_ms(times)
    if step > tf_ms:
        raise ImportFileError(f"{path}: every gap between bars is a multiple of {timeframe_label(step)}, so these are "
                              f"not {tf} candles: pass the file's own timeframe")
    now = now if now is not None else now_ms()
    _check_candle_times(path, times, tf, now)
    too_high = (bars[["open", "high", "low", "close"]] > MAX_PRICE).any(axis=1).to_numpy()
    if too_high.any():  # the trades' bound: beyond any listed asset, a unit or parsing mix-up
        raise ImportFileError(f"{path}: the bar at {_when(int(times[too_high][0]))} has a price above {MAX_PRICE:g}")
    forming = still_open(times, tf_ms, now)
    closed, times = bars[~forming], times[~forming]
    frame = closed[["bar_at_ms", "open", "high", "low", "close", "volume"]].assign(source=source)
    stats = write_candles(paths, symbol, tf, frame, guard=guard)
    result = _result(path, "candles", symbol, tf, len(bars), stats, closed["bar_at_ms"], left_out=int(forming.sum()))
    return replace(result, shadowed_days=shadowed_days(paths, symbol, tf, times), still_open=int(forming.sum()))


def shadowed_days(paths: Paths, symbol: str, timeframe: str, times: np.ndarray) -> int:
    """How many UTC days of these candles hold ticks or finer candles of the symbol: the bars of such a day
    come from those (ticks > 1m > 5m ...), so the candles are stored but unused there (a 1h file imported
    beside a 5m one was reported '100 new' and never read)."""
    finer = [tf for tf, ms in TIMEFRAME_MS.items() if ms < TIMEFRAME_MS[timeframe]]
    days = {str(d) for d in pd.to_datetime(np.unique(times // DAY_MS * DAY_MS), unit="ms").date}
    base = paths.candles / f"symbol={symbol}"
    return sum(trades_partition(paths, symbol, pd.Timestamp(d).date()).exists()
               or any((base / f"timeframe={tf}" / f"date={d}" / "candles.parquet").exists() for tf in finer)
               for d in days)


def import_funding(paths: Paths, path: Path, symbol: str, source: str, now: int | None = None,
                   guard: Guard = None) -> ImportResult:
    """Funding settlements (a time column and funding_rate, or freqtrade's rate-in-`open` file) into lake/funding;
    times from 2009 up to `now` (default: the clock, no allowance: a rate stamped later has not been settled, as
    fetch-funding stores none); a symbol column naming another market refuses the file."""
    raw = read_table(path)
    lower = columns_by_name(raw.columns, path, ImportFileError)
    check_symbol_column(path, raw, symbol, ImportFileError)
    time_col = next((lower[c] for c in ("date", "funding_time", "fundingtime", "timestamp", "time", "ts") if c in lower), None)
    rate_col = next((lower[c] for c in FUNDING_RATE_COLUMNS if c in lower), None)
    if time_col is None or rate_col is None:
        raise ImportFileError(f"{path}: needs a time column and a funding rate column ({'/'.join(FUNDING_RATE_COLUMNS)}); has {list(raw.columns)}")
    ts = parse_timestamps_ms(raw[time_col])
    rate = pd.to_numeric(raw[rate_col], errors="coerce").astype("float64")
    bad = ts.isna().to_numpy() | ~np.isfinite(rate.to_numpy()) | (rate.abs() > MAX_ABS_FUNDING_RATE).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ImportFileError(f"{path}: row {row + 1} has an unparsable time or a funding rate that is missing or beyond "
                           f"±{MAX_ABS_FUNDING_RATE}: {raw.iloc[row].to_dict()}")
    now = now if now is not None else now_ms()
    out_of_time = ((ts < MIN_TS_MS) | (ts > now)).to_numpy(dtype=bool)
    if out_of_time.any():
        row = int(np.flatnonzero(out_of_time)[0])
        raise ImportFileError(f"{path}: row {row + 1} has a time before 2009 or in the future "
                              f"({_when(int(ts.iloc[row]))}): {raw.iloc[row].to_dict()}")
    frame = pd.DataFrame({"funding_ts": ts.astype("int64"), "funding_rate": rate}).sort_values("funding_ts", kind="stable")
    repeated = frame["funding_ts"].map(second_of).duplicated()  # one settlement stamped twice, a few ms apart or not
    if repeated.any():
        dup = int(frame.loc[repeated, "funding_ts"].iloc[0])
        raise ImportFileError(f"{path}: two funding rates for the settlement at {pd.Timestamp(dup, unit='ms', tz='UTC')}")
    stats = write_funding(paths, symbol, frame, guard=guard)
    return _result(path, "funding", symbol, None, len(frame), stats, frame["funding_ts"])


def import_trades(paths: Paths, path: Path, symbol: str, progress: bool = False, guard: Guard = None) -> ImportResult:
    """Trade ticks through the regular ingestion (validation, quarantine, dedup on trade id)."""
    r = ingest_file(paths, path, symbol, progress=progress, guard=guard)
    return ImportResult(str(path), "trades", r.symbol, None, r.rows_read, r.rows_added, r.duplicates, None, None,
                        r.quarantined, r.reasons, r.quarantine_file, stored_with_id=r.stored_with_id,
                        stored_without_id=r.stored_without_id)


def import_file(paths: Paths, path: Path | str, kind: str | None = None, symbol: str | None = None,
                timeframe: str | None = None, progress: bool = False) -> ImportResult:
    """Import one file; kind, symbol and timeframe default to what a freqtrade file name says (`progress`:
    a large trades file reports its steps)."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    guess = guess_from_name(path)
    if guess.kind in ("mark", "index", "premiumIndex"):
        raise ImportFileError(f"{path}: {guess.kind} price candles are not traded prices; import the -futures candles instead")
    try:
        kind = kind or guess.kind or guess_kind(table_columns(path))
    except (ImportFileError, OhlcvFileError) as exc:  # name the file: `import *.csv` prints one line per file
        raise ImportFileError(f"{path}: {exc}" if not str(exc).startswith(str(path)) else str(exc)) from None
    if kind not in KINDS:
        raise ImportFileError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    if not (symbol or guess.symbol):
        raise ImportFileError(f"{path}: the file name does not name a pair (freqtrade's PAIR-TF.feather): pass --symbol")
    symbol = user_symbol(paths, symbol or guess.symbol)  # BTCUSDT is BTC-USDT, but a lake's own BTCUSDT folder

    same_market = file_market_guard(paths, path, kind, symbol)  # checks now: a refused file is never read
    source = f"{IMPORT_SOURCE_PREFIX}{path.name}"
    if kind == "candles":
        return import_candles(paths, path, symbol, timeframe or guess.timeframe, source, guard=same_market)
    if kind == "funding":
        return import_funding(paths, path, symbol, source, guard=same_market)
    return import_trades(paths, path, symbol, progress, guard=same_market)


def stored_market(paths: Paths, symbol: str) -> tuple[str, str] | None:
    """('perp' or 'spot', what says so) for the data a symbol already holds: the market recorded for it by the
    first writer that knew it (record_market), else what its data tells (_inferred_market); None when nothing tells."""
    return recorded_market(paths, symbol) or _inferred_market(paths, symbol)


def lake_markets(paths: Paths) -> dict[str, str]:
    """{lake symbol: 'spot' or 'perp'} for each symbol whose market is recorded or told by its data (stored_market),
    or by its name (a -SPOT symbol): what backtests, research and the portfolio are handed, so a spot symbol is
    traded long only, unlevered and unfunded."""
    found = {s: stored_market(paths, s) for s in lake_symbol_names(paths)}
    return {s: m[0] if m else "spot" for s, m in found.items() if m or s.endswith("-SPOT")}


def _inferred_market(paths: Paths, symbol: str) -> tuple[str, str] | None:
    """A symbol's market from its data alone (a lake from before markets were recorded): funding rates
    (perpetual swaps only), candles imported from a freqtrade file whose name tells its market, or candles
    fetched from an exchange (their source names the market: fetched_source)."""
    if has_funding(paths, symbol):
        return "perp", "funding rates"
    sources = stored_candle_sources(paths, symbol)
    for source in sorted(s for s in sources if s.startswith(IMPORT_SOURCE_PREFIX)):
        name = source.removeprefix(IMPORT_SOURCE_PREFIX)
        if market := market_from_name(Path(name)):
            return market, f"candles from {name}"
    fetched = sorted(s for s in sources if fetched_market(s) is not None)
    if not fetched:
        return None
    market = fetched_market(fetched[0])
    exchange = fetched[0].removesuffix(SPOT_SOURCE_SUFFIX)
    return market, f"candles fetched from {exchange}'s {'spot' if market == 'spot' else 'swap'} market"


def claim_market(paths: Paths, symbol: str, market: str, by: str) -> tuple[str, str] | None:
    """With the symbol's lake lock held, before a write of `market` data: the other market's (market, what says
    so) when the symbol holds it; else None, having recorded the symbol's market if nothing had (this write's
    market, or what its data already tells), so that later writers read it instead of scanning the data."""
    recorded = recorded_market(paths, symbol)
    held = recorded or _inferred_market(paths, symbol)
    if held is not None and held[0] != market:
        return held
    if recorded is None:
        record_market(paths, symbol, *(held or (market, by)))
    return None


MARKET_LABELS = {"spot": "spot", "perp": "perpetual-swap"}


def file_market_guard(paths: Paths, path: Path, kind: str, symbol: str) -> Guard:
    """The market check of a file of `kind` for `import`, `ingest` and the inbox: refused now (before the file is
    read) when the symbol holds the other market's data, and a guard that checks again and records the file's
    market under the symbol's lock as it is written (another writer cannot slip in between); None for a file
    whose market is unknown (no freqtrade name and no funding): not judged. A symbol holding synthetic data is
    refused now too, whatever the file (the store refuses it again under the lock: claim_origin), after a missing
    file is said so (a mistyped name is the first thing to fix)."""
    path, symbol = Path(path), normalize_symbol(symbol)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    if refusal := synthetic_refusal(paths, symbol):
        raise ImportFileError(f"{path}: not read: {refusal}")
    if kind != "funding" and market_from_name(path) is None:
        return None

    def guard(claim: bool = True) -> None:
        if problem := market_clash(paths, path, kind, symbol, claim):
            raise ImportFileError(problem)

    guard(claim=False)
    return guard


def perp_guard(paths: Paths, symbol: str, by: str, what: str, refusal: type[Exception], real: bool = True) -> Guard:
    """A guard for writers of perpetual-swap data (the synthetic market, the recorders' merges): refuses a
    symbol that holds spot data with `refusal` (naming `what` was refused), records the swap for it otherwise
    (claim_market, `by`: what says so); a `real` writer (not the generator) is refused a symbol holding
    synthetic data too, with the same exception."""
    def guard() -> None:
        if real and (held_synthetic := synthetic_refusal(paths, symbol)):
            raise refusal(held_synthetic)
        if held := claim_market(paths, symbol, "perp", by):
            raise refusal(f"{symbol}: holds spot data ({held[1]}); {what} would mix perpetual-swap prices into it: "
                          "use another data dir")
    return guard


def recording_refusals(paths: Paths, symbols: list[str]) -> dict[str, str]:
    """{lake symbol: why not} for the symbols that hold spot data (BloFin's recorders record the perpetual swap,
    whose trades under the same name would mix two price series into its bars, as an import of its file is
    refused) or synthetic data (real trades never join it): said before the recorder connects."""
    held = {s: stored_market(paths, s) for s in symbols}
    spot = {s: f"{s}: holds spot data ({found[1]}); the recorder records the perpetual swap, whose trades would mix "
               "with it: record it into another data dir" for s, found in held.items() if found and found[0] == "spot"}
    synthetic = {s: refusal for s in symbols if s not in spot and (refusal := synthetic_refusal(paths, s))}
    return {s: spot.get(s) or synthetic[s] for s in symbols if s in spot or s in synthetic}


def market_clash(paths: Paths, path: Path, kind: str, symbol: str, claim: bool = False) -> str | None:
    """Why a file of one market (spot or perpetual swap, from a freqtrade name; any funding file is a swap's)
    cannot go into a symbol that holds the other's data, or None: spot and perp prices differ (basis, funding), so one symbol of both would mix two
    price series into the same bars (XRP_USDT-5m and XRP_USDT_USDT-5m-futures both name XRP-USDT).
    `claim` (under the symbol's lock, just before the write): record the file's market for the symbol (claim_market)."""
    market = "perp" if kind == "funding" else market_from_name(path)  # funding rates exist for swaps only
    if market is None:
        return None
    said = "funding rates" if kind == "funding" else f"{kind} from {path.name}"
    stored = claim_market(paths, symbol, market, said) if claim else stored_market(paths, symbol)
    if stored is None or stored[0] == market:
        return None
    other = f"{symbol}-{'SPOT' if market == 'spot' else 'PERP'}"
    label = MARKET_LABELS
    return (f"{path}: {label[market]} {kind} of {symbol}, but {symbol} already holds {label[stored[0]]} data "
            f"({stored[1]}); spot and swap prices differ, so import this file under another symbol: --symbol {other}")


def _timeframe_ms(tf: str) -> int:
    units = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": WEEK_MS}
    m = re.fullmatch(r"(\d+)([smhdw])", tf)
    if not m:
        raise ImportFileError(f"invalid timeframe {tf!r}: use e.g. 1m, 5m, 1h, 1d")
    return int(m[1]) * units[m[2]]


def _result(path: Path, kind: str, symbol: str, tf: str | None, read: int, stats: WriteStats, times: pd.Series,
            left_out: int = 0) -> ImportResult:
    """The ImportResult of a candle or funding write: duplicates are the rows read neither added, conflicting,
    replacing a stored unknown rate nor left out."""
    clashes, swapped = len(stats.conflicts), len(stats.replaced)
    return ImportResult(str(path), kind, symbol, tf, read, stats.added, read - stats.added - clashes - swapped - left_out,
                        int(times.min()) if len(times) else None, int(times.max()) if len(times) else None,
                        conflicts=clashes, first_conflict_ms=int(min(stats.conflicts)) if clashes else None,
                        replaced=swapped)
