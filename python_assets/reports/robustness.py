"""Report sections on overfitting and path risk, read from the marts strategy_overfitting,
search_overfitting and strategy_monte_carlo: the top designs' probability of backtest overfitting beside
their deflated Sharpe, the PBO of the day's whole search, and the Monte Carlo 5 % quantiles of the top
strategies' final return and (bar bootstrap only) max drawdown."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import duckdb

from python_assets.reports.sections import rows, table_exists
from python_assets.research.daily import DESIGNS_AS_OF
from python_assets.research.pbo import MAX_BLOCKS
from python_assets.research.ranker import RankConfig


def pbo_explained(cfg: RankConfig = RankConfig()) -> str:
    """What the PBO column means and when the ranker acts on it, from the ranker's own thresholds (the
    sentence said "above 0.5 ... archived" of every design, though fewer than min_pbo_trials never are)."""
    return (f"PBO (probability of backtest overfitting): the tuning window's days cut into up to {MAX_BLOCKS} equal "
            "blocks (the oldest few days left out so they divide evenly); over every split of those blocks into "
            "in-sample and out-of-sample halves, how often the tuning's best in-sample trial ranks at or below the "
            f"median out of sample. A design whose tuning has a PBO above {cfg.max_pbo:.2f} (the search mostly "
            f"fitting noise) over at least {cfg.min_pbo_trials} trials is archived; over fewer trials the PBO is "
            "too coarse to act on.")


EXPLAINED = {
    "deflated_sharpe": "Deflated Sharpe: the probability that the design's true out-of-sample Sharpe beats the best "
                       "Sharpe that luck alone would give over all the trials tried so far; a dash where it is not available "
                       "(flat returns, or several trials but fewer than two with an out-of-sample Sharpe to measure "
                       "luck's spread by).",
    "pbo": pbo_explained(),
    "search_pbo": "Search PBO: the same test over every trial of every design tuned that day, so the in-sample winner "
                  "is what the whole day's search liked best; around 0.5 when there is nothing to find, near 0 "
                  "when the best configuration keeps its place out of sample (a real edge, or a trend that lasted the "
                  "whole window: only later days tell those apart).",
    "monte_carlo": "Monte Carlo: each top strategy's out-of-sample trades resampled with replacement (trades) and its "
                   "bar returns resampled in blocks of consecutive bars (bars); 1 path in 20 ends below the 5 % quantile. "
                   "The drawdown is the bars method's only: trades compounded one after another leave out the losses "
                   "while a trade is open and the trades held at the same time on several symbols, so their drawdown "
                   "would read far milder than the strategy's own. A row with fewer than two different returns to "
                   "draw from has no quantiles: every path would be the same (its note says how many).",
}


def empty() -> dict[str, Any]:
    return {"overfitting": {"designs": [], "search": None, "explained": EXPLAINED}, "monte_carlo": []}


def overfitting(con: duckdb.DuckDBPyConnection, day: date, top: int = 10) -> dict[str, Any]:
    """The day's top-ranked designs with PBO, trials and deflated Sharpe (from strategy_overfitting)."""
    if not table_exists(con, "strategy_overfitting"):
        return empty()["overfitting"]
    return {"designs": rows(con, f"""select o.rank, o.design_id, d.design_key, o.pbo, o.n_trials, o.n_combinations,
                                    o.deflated_sharpe, o.status, o.status_reason from strategy_overfitting o
                                    join {DESIGNS_AS_OF.format(op='<=')} d using (design_id)
                                    where o.run_date = ? order by o.rank limit ?""", [day, day, top]),
            "search": search(con, day), "explained": EXPLAINED}


def search(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any] | None:
    """The day's search PBO beside the #1 and the significant count (search_overfitting); None before it."""
    if not table_exists(con, "search_overfitting"):
        return None
    found = rows(con, """select n_designs, n_trials, n_combinations, search_pbo, logit_median, best_design_id,
                         best_design_pbo, best_deflated_sharpe, n_ranked, n_significant
                         from search_overfitting where run_date = ?""", [day])
    return found[0] if found else None


def search_line(found: dict[str, Any] | None) -> str:
    """One sentence on the day's search: its PBO over how many trials, and whether anything is significant."""
    if not found:
        return ""
    p = found["search_pbo"]
    value = "n/a" if p is None else f"{p:.2f}"
    verdict = ("" if p is None else " (high: what the search liked best in sample is no better than a coin toss out of "
               "sample)" if p >= 0.5 else " (low)" if p <= 0.1 else " (moderate)")
    return (f"Search PBO of the day: {value}{verdict} over {found['n_trials']:,} trials of {found['n_designs']:,} designs; "
            f"{found['n_significant']:,} of {found['n_ranked']:,} ranked designs significant (deflated Sharpe >= 0.95 on enough "
            "out-of-sample trades to be scored).")


def monte_carlo(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """The day's Monte Carlo quantiles per top strategy and method (from strategy_monte_carlo): the drawdown of
    bars rows only and no quantile of a single trade or bar, as the mart has them (also read from a mart built
    before that rule, which `blofin-stack report` does not rebuild)."""
    if not table_exists(con, "strategy_monte_carlo"):
        return []
    drawdown = "case when m.method = 'bars' and m.n_steps >= 2 then m.{0} end as {0}"
    spread = "case when m.n_steps >= 2 then m.{0} end as {0}"
    return rows(con, f"""select m.rank, m.design_id, d.design_key, m.method, m.n_paths, m.n_steps,
                         {drawdown.format('max_drawdown_p05')}, {drawdown.format('max_drawdown_p50')},
                         {spread.format('final_return_p05')}, {spread.format('final_return_p50')}
                         from strategy_monte_carlo m join {DESIGNS_AS_OF.format(op='<=')} d using (design_id)
                         where m.run_date = ? order by m.rank, m.method""", [day, day])


def monte_carlo_note(row: dict[str, Any]) -> str | None:
    """Why a row has no quantiles ('1 trade: no spread to resample'); None for a row that has them."""
    if row.get("final_return_p05") is not None:
        return None
    n, unit = row.get("n_steps"), "trade" if row.get("method") == "trades" else "bar"
    if not isinstance(n, int):
        return "no spread to resample"
    alike = ", all the same return" if n >= 2 else ""
    return f"{n:,} {unit}{'' if n == 1 else 's'}{alike}: no spread to resample"


def load(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    return {"overfitting": overfitting(con, day), "monte_carlo": monte_carlo(con, day)}


def render(report: dict[str, Any], table) -> str:
    """The two HTML sections; `table` is html.table (passed in: html.py imports this module)."""
    over = report.get("overfitting") or empty()["overfitting"]
    notes = "".join(f"<p>{html.escape(EXPLAINED[k])}</p>" for k in ("pbo", "search_pbo", "deflated_sharpe"))
    line = search_line(over.get("search"))
    return ("<h2>Overfitting</h2>" + notes + (f"<p><b>{html.escape(line)}</b></p>" if line else "")
            + table(over["designs"], ["rank", "design_key", "pbo", "n_trials", "deflated_sharpe", "status"],
                    headers={"design_key": "design", "pbo": "PBO", "n_trials": "trials"})
            + "<h2>Monte Carlo of the top strategies</h2>" + f"<p>{html.escape(EXPLAINED['monte_carlo'])}</p>"
            + table([{**m, "note": monte_carlo_note(m)} for m in report.get("monte_carlo") or []],
                    ["rank", "design_key", "method", "n_paths", "n_steps", "max_drawdown_p05", "max_drawdown_p50",
                     "final_return_p05", "final_return_p50", "note"],
                    headers={"design_key": "design", "n_paths": "paths", "n_steps": "steps",
                             "max_drawdown_p05": "max drawdown 5 % (bars)", "max_drawdown_p50": "max drawdown median (bars)",
                             "final_return_p05": "final return 5 %", "final_return_p50": "final return median"}))
