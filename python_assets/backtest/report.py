"""A backtest run as text in the units traders read (freqtrade's summary, exit-reason and trade tables,
backtesting.py's `stats._trades`): ledger rows in, text out; no I/O.

Inputs are the run's strategy_backtest_results rows (dicts), and its backtest_trades / backtest_equity
rows (frames) with backtest_id; percentages are printed as %, durations as days and hours.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from python_assets.platform.timeframes import DAY_MS, MINUTE_MS

SUMMARY_COLUMNS_PER_BLOCK = 5


def _num(v) -> float | None:
    """A float, or None for NULL/NaN."""
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def pct(v, digits: int = 2) -> str:
    """0.1234 -> '12.34'; '-' for NULL."""
    f = _num(v)
    return "-" if f is None else f"{f * 100:.{digits}f}"


def num(v, digits: int = 2) -> str:
    """A number to fixed decimals with thousands separators; '-' for NULL."""
    f = _num(v)
    return "-" if f is None else ("inf" if math.isinf(f) else f"{f:,.{digits}f}")


def price(v) -> str:
    """A price to 6 significant digits (0.00213456 and 65432.1 alike)."""
    f = _num(v)
    return "-" if f is None else f"{f:.6g}"


def when(ms) -> str:
    """Epoch ms -> '2025-03-10 14:05' (UTC)."""
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return "-"
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def duration(ms) -> str:
    """Milliseconds -> '3d 04:30' or '04:30' (hours:minutes)."""
    f = _num(ms)
    if f is None:
        return "-"
    minutes = int(round(f / MINUTE_MS))
    days, rest = divmod(minutes, 1440)
    hm = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}d {hm}" if days else hm


def _ms(ts) -> int:
    """A timestamp (datetime, pandas Timestamp or epoch ms) as epoch ms."""
    if isinstance(ts, (int, np.integer)):
        return int(ts)
    return int(pd.Timestamp(ts).value // 1_000_000)


def table(heads: list[str], rows: list[list[str]], left: int | set[int] = 1) -> str:
    """Aligned text: the first `left` columns (or those indices) left-aligned, the rest right-aligned."""
    lefts = set(range(left)) if isinstance(left, int) else left
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(heads)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i in lefts else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join(line.rstrip() for line in [fmt(heads), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _trade_stats(trades: pd.DataFrame) -> dict[str, str]:
    """Best/worst/average trade and holding times of one backtest's trades."""
    if trades.empty:
        return {k: "-" for k in ("best", "worst", "avg", "avg_dur", "max_dur")}
    held = trades["exit_at_ms"] - trades["entry_at_ms"]
    r = trades["return_pct"]
    return {"best": pct(r.max()), "worst": pct(r.min()), "avg": pct(r.mean()),
            "avg_dur": duration(held.mean()), "max_dur": duration(held.max())}


def summary_rows(result: dict, trades: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, value) pairs of one backtest in trader units."""
    start, end = _ms(result["window_start"]), _ms(result["window_end"])
    days = (end - start) / DAY_MS
    n = int(result["trade_count"] or 0)
    ts = _trade_stats(trades)
    return [
        ("Start", when(start)), ("End", when(end)), ("Duration", duration(end - start)),
        ("Return [%]", pct(result["total_return"])), ("Buy & hold [%]", pct(result["buy_and_hold_return"])),
        ("CAGR [%]", pct(result["cagr"])), ("Max drawdown [%]", pct(result["max_drawdown"])),
        ("Max DD duration", duration(None if result["max_drawdown_duration_days"] is None
                                     else result["max_drawdown_duration_days"] * DAY_MS)),
        ("Sharpe", num(result["sharpe"])), ("Sortino", num(result["sortino"])), ("Calmar", num(result["calmar"])),
        ("Trades", str(n)), ("Trades / day", num(n / days if days > 0 else None)),
        ("Win rate [%]", pct(result["win_rate"], 1)), ("Best trade [%]", ts["best"]), ("Worst trade [%]", ts["worst"]),
        ("Avg trade [%]", ts["avg"]), ("Avg trade duration", ts["avg_dur"]), ("Max trade duration", ts["max_dur"]),
        ("Profit factor", num(result["profit_factor"])), ("Expectancy", num(result["expectancy"])),
        ("Exposure [%]", pct(result["exposure"], 1)), ("Fees", num(result["fees_paid"])),
        ("Funding", num(result["funding_paid"])), ("Final equity", num(result["final_equity"])),
    ]


def summary_table(results: list[dict], trades: pd.DataFrame) -> str:
    """Metric x backtest, a block of at most SUMMARY_COLUMNS_PER_BLOCK columns at a time."""
    blocks = []
    for i in range(0, len(results), SUMMARY_COLUMNS_PER_BLOCK):
        chunk = results[i:i + SUMMARY_COLUMNS_PER_BLOCK]
        cols = [summary_rows(r, trades[trades["backtest_id"] == r["backtest_id"]]) for r in chunk]
        heads = [""] + [f"{r['symbol']} {r['timeframe']}" for r in chunk]
        rows = [[label] + [c[k][1] for c in cols] for k, (label, _) in enumerate(cols[0])]
        blocks.append(table(heads, rows))
    return "\n\n".join(blocks)


def exit_reason_table(trades: pd.DataFrame, initial_equity: float) -> str:
    """freqtrade's exit-reason table: trades, wins/draws/losses, average and total profit per reason; Total profit %
    is of initial_equity, the summed starting equity of the accounts the trades came from (freqtrade's one
    wallet; here each symbol trades its own)."""
    if trades.empty:
        return "no trades"
    rows = []
    for reason, g in sorted(trades.groupby("exit_reason"), key=lambda kv: -len(kv[1])):
        held = (g["exit_at_ms"] - g["entry_at_ms"]).mean()
        wins, losses = int((g["pnl"] > 0).sum()), int((g["pnl"] < 0).sum())
        rows.append([str(reason), str(len(g)), f"{wins}/{len(g) - wins - losses}/{losses}", pct(wins / len(g), 1),
                     pct(g["return_pct"].mean()), num(g["pnl"].sum()), pct(g["pnl"].sum() / initial_equity), duration(held)])
    return table(["Exit reason", "Trades", "W/D/L", "Win %", "Avg profit %", "Total pnl", "Total profit %",
                  "Avg duration"], rows)


def trade_list(trades: pd.DataFrame, limit: int) -> str:
    """The first `limit` trades by entry time (backtesting.py's `stats._trades`), and how many are left out."""
    if trades.empty:
        return "no trades"
    t = trades.sort_values(["entry_at_ms", "symbol", "trade_no"], kind="stable")
    rows = [[str(r.trade_no), r.symbol, r.side, when(r.entry_at_ms), when(r.exit_at_ms),
             duration(r.exit_at_ms - r.entry_at_ms), price(r.entry_price), price(r.exit_price), pct(r.return_pct),
             num(r.pnl), r.exit_reason] for r in t.head(limit).itertuples()]
    text = table(["#", "Symbol", "Side", "Entry (UTC)", "Exit (UTC)", "Held", "Entry", "Exit", "Return %", "Pnl",
                  "Exit reason"], rows, left={0, 1, 2, 3, 4, 10})
    more = len(t) - limit
    return text + (f"\n... {more} more trades (--trades N shows more; --export writes them all)" if more > 0 else "")


def chained_equity(equity: pd.DataFrame, backtest_ids: list[str], initial: float) -> np.ndarray:
    """Out-of-sample folds' equity curves chained: each fold starts where the previous one ended."""
    level, parts = initial, []
    for bid in backtest_ids:
        e = equity.loc[equity["backtest_id"] == bid].sort_values("bar_at_ms")["equity"].to_numpy(float)
        if len(e):
            parts.append(e / initial * level)
            level = parts[-1][-1]
    return np.concatenate(parts) if parts else np.zeros(0)


def out_of_sample_summary(results: list[dict], trades: pd.DataFrame, equity: pd.DataFrame) -> str:
    """One line per symbol: the out-of-sample folds as one chained test."""
    rows = []
    for symbol in sorted({r["symbol"] for r in results}):
        # in time order: the fold names sort as text (wf100 between wf10 and wf11 past 99 folds)
        folds = sorted((r for r in results if r["symbol"] == symbol), key=lambda r: _ms(r["window_start"]))
        initial = float(folds[0]["initial_equity"])
        curve = np.r_[initial, chained_equity(equity, [r["backtest_id"] for r in folds], initial)]
        dd = float((curve / np.maximum.accumulate(curve) - 1).min())
        t = trades[trades["backtest_id"].isin([r["backtest_id"] for r in folds])]
        days = sum((_ms(r["window_end"]) - _ms(r["window_start"])) for r in folds) / DAY_MS
        bh = float(np.prod([1 + (_num(r["buy_and_hold_return"]) or 0.0) for r in folds]) - 1)
        rows.append([symbol, str(len(folds)), f"{days:g}", pct(curve[-1] / initial - 1), pct(bh), pct(dd), str(len(t)),
                     num(len(t) / days if days else None), pct((t["pnl"] > 0).mean() if len(t) else None, 1)])
    return table(["Symbol", "Folds", "Days", "Return %", "B&H %", "Max DD %", "Trades", "Trades/day", "Win %"], rows)


def fold_table(results: list[dict]) -> str:
    """One row per symbol x fold: the in-sample pick and how it did out of sample."""
    by_key = {(r["symbol"], r["window_id"], r["window_kind"]): r for r in results}
    rows = []
    in_time = sorted(by_key.items(), key=lambda kv: (kv[0][0], _ms(kv[1]["window_start"]), kv[0][2]))
    for (symbol, wid, kind), oos in in_time:
        if kind != "out_of_sample":
            continue
        ins = by_key.get((symbol, wid, "in_sample"), {})
        rows.append([symbol, wid, f"{when(_ms(oos['window_start']))[:10]}..{when(_ms(oos['window_end']) - 1)[:10]}",
                     pct(ins.get("total_return")), pct(oos["total_return"]), pct(oos["buy_and_hold_return"]),
                     pct(oos["max_drawdown"]), str(oos["trade_count"]), num(oos["sharpe"]), oos["strategy_id"]])
    return table(["Symbol", "Fold", "Out-of-sample (UTC)", "IS ret %", "OOS ret %", "B&H %", "Max DD %", "Trades",
                  "Sharpe", "Chosen in sample"], rows, left={0, 1, 2, 9})


def format_run(results: list[dict], trades: pd.DataFrame, equity: pd.DataFrame, max_trades: int = 20) -> str:
    """The whole text report of one run: summary, exit reasons, trades, then walk-forward if any."""
    if not results:
        return "no backtests"
    full = [r for r in results if r["window_kind"] == "full"]
    full_ids = {r["backtest_id"] for r in full}
    ft = trades[trades["backtest_id"].isin(full_ids)]
    out = [f"strategy: {results[0]['strategy_id']}"]
    if full:
        # every symbol's account starts with its own equity: one symbol's overstated the total 3x with 3 symbols
        accounts = sum(float(r["initial_equity"]) for r in full)
        out += ["", summary_table(full, ft), "", "Exit reasons", exit_reason_table(ft, accounts)]
        if max_trades > 0:
            out += ["", f"Trades ({len(ft)})", trade_list(ft, max_trades)]
    oos = [r for r in results if r["window_kind"] == "out_of_sample"]
    if oos:
        out += ["", "Walk-forward: out-of-sample folds chained", out_of_sample_summary(oos, trades, equity),
                "", "Folds", fold_table(results)]
    # one line per factor: a warehouse run measures each symbol's bars (a thin market's are not 24/7's)
    factors: dict[tuple[float, str], list[str]] = {}
    for r in full or results:
        if r.get("annualisation"):
            factors.setdefault((float(r["bars_per_year"]), r["annualisation"]), []).append(str(r["symbol"]))
    for (bars_per_year, how), symbols in factors.items():
        who = f"{', '.join(dict.fromkeys(symbols))}: " if len(factors) > 1 else ""
        out.append(f"\n{who}Sharpe and Sortino annualised by {bars_per_year:,.6g} bars a year: {how}")
    return "\n".join(out)
