"""One research day: design -> tune -> evaluate -> rank -> lifecycle, with every table replaced for
that day (a rerun is idempotent) and the state (designs, tuned parameters, statuses, trial count)
read from the days before."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np

from python_assets.backtest.engine import Costs
from python_assets.backtest.markets import SPOT, market_of
from python_assets.backtest.periods import periods_per_year_of_times
from python_assets.platform.fanout import Mapper, map_in_process
from python_assets.platform.progress import track
from python_assets.research import robustness
from python_assets.research.design_specs import (DesignUnavailable, catalog_rows, design_strategy, strategies, timeframe_note,
                                                 unavailable_note)
from python_assets.research.designer import SIDES, Design, canonical, propose, spec_dict, usable_atoms
from python_assets.research.montecarlo import MonteCarloConfig
from python_assets.research.ranker import RankConfig, next_status, rank, score
from python_assets.research.tuner import UNRUNNABLE, Market, TuneTask, condition_columns, evaluate, tune_designs
from python_assets.platform.timeframes import DAY_MS

# A design belongs to the day that proposed it: (created_date, design_id) is the key, so a day
# backfilled after later days may propose a design a later day already holds without touching it.
DESIGNS_DDL = """create table if not exists {name} (design_id varchar not null, design_key varchar not null,
        origin varchar not null, parents json not null, spec json not null, timeframe varchar not null,
        created_date date not null, primary key (created_date, design_id))"""
DDL = (
    DESIGNS_DDL.format(name="strategy_designs"),
    """create table if not exists tuning_trials (run_date date not null, design_id varchar not null,
        trial_no integer not null, params json not null, is_sharpe double, is_trades integer, oos_sharpe double,
        oos_return double, oos_trades integer, seconds double, primary key (run_date, design_id, trial_no))""",
    """create table if not exists strategy_tuning (run_date date not null, design_id varchar not null,
        best_params json not null, is_sharpe double, is_end_ms bigint not null, n_trials integer not null,
        oos_start_ms bigint, primary key (run_date, design_id))""",
    # added later: warehouses made before it get the column (NULL there: out of sample from is_end_ms)
    """alter table strategy_tuning add column if not exists oos_start_ms bigint""",
    # ...where a bred design's row is then filled once, as oos_start_ms() would have (its tuning day is the day
    # that proposed it); without it a mutation stored before the column was scored and traded from is_end_ms
    """update strategy_tuning set oos_start_ms = greatest(strategy_tuning.is_end_ms,
        epoch_ms(cast(d.created_date as timestamp))) from strategy_designs d
        where strategy_tuning.oos_start_ms is null and d.design_id = strategy_tuning.design_id
        and d.created_date = strategy_tuning.run_date and json_array_length(d.parents) > 0""",
    """create table if not exists ranking_history (run_date date not null, design_id varchar not null,
        rank integer not null, n_ranked integer not null, score double not null, deflated_sharpe double,
        sr0 double, oos_sharpe double, oos_sharpe_annual double, oos_return double, oos_trades integer,
        n_trials_total bigint not null, status varchar not null, status_reason varchar,
        primary key (run_date, design_id))""",
)
DAY_TABLES = ("tuning_trials", "strategy_tuning", "ranking_history", *robustness.TUNING_TABLES, *robustness.RANKING_TABLES)


class ResearchBudgetError(RuntimeError):
    """Tuning ran past its wall-clock guard: the trial counts are too large for this machine."""


@dataclass(frozen=True)
class ResearchConfig:
    seed: int = 7
    timeframe: str = "1h"
    trials_per_design: int = 12
    new_designs_min: int = 4
    new_designs_max: int = 150  # designs a day may propose, all rounds together, catalog specs aside (a count)
    max_rounds: int = 5  # design -> tune -> rank rounds a day runs while fewer than target_active are active
    budget_seconds: float = 900.0  # a guard, not a budget: tuning past it fails the step loudly
    include_catalog: bool = True
    rank: RankConfig = RankConfig()
    monte_carlo: MonteCarloConfig = MonteCarloConfig()

    def __post_init__(self) -> None:
        """max_rounds counts the day's first round: 0 would leave the day's old rows in place, unranked."""
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds is {self.max_rounds}: a research day runs at least its first round")


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in (*DDL, *robustness.DDL):
        con.execute(ddl)
    _rekey_designs(con)


def _rekey_designs(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses made before designs were keyed by day had design_id alone as the key: copy the
    rows into the new shape once (DuckDB cannot alter a primary key in place)."""
    keys = con.execute("select constraint_column_names from duckdb_constraints() where table_name = 'strategy_designs' "
                       "and constraint_type = 'PRIMARY KEY'").fetchall()
    if not keys or list(keys[0][0]) != ["design_id"]:
        return
    con.execute("begin transaction")
    con.execute(DESIGNS_DDL.format(name="strategy_designs_rekeyed"))
    con.execute("insert into strategy_designs_rekeyed select design_id, design_key, origin, parents, spec, timeframe, "
                "created_date from strategy_designs")
    con.execute("drop table strategy_designs")
    con.execute("alter table strategy_designs_rekeyed rename to strategy_designs")
    con.execute("commit")


# Each design as first proposed on or before a day (one row per design_id).
DESIGNS_AS_OF = """(select design_id, design_key, origin, parents, spec, timeframe from strategy_designs where created_date {op} ?
    qualify row_number() over (partition by design_id order by created_date) = 1)"""


# Where a design's out-of-sample evaluation starts (strategy_tuning; NULL, in an unbred design's row from before
# the column: is_end_ms).
OOS_START = "coalesce(oos_start_ms, is_end_ms)"


def oos_start_sql(con: duckdb.DuckDBPyConnection) -> str:
    """OOS_START for a query of strategy_tuning; is_end_ms where the table predates oos_start_ms (a warehouse
    made before the column, read by the portfolio or the fill stress before research or dbt added it)."""
    found = con.execute("select count(*) from information_schema.columns where table_name = 'strategy_tuning' "
                        "and column_name = 'oos_start_ms'").fetchone()[0]
    return OOS_START if found else "is_end_ms"


def oos_start_ms(is_end_ms: int, parents: list[str], day: date) -> int:
    """Where a design's out-of-sample evaluation starts: the end of its tuning window; for a design bred from
    ranked designs (parents) no earlier than the day that proposed it, as its parents were chosen for their
    out-of-sample results on the days before: that data is not out of sample for their offspring."""
    if not parents:
        return is_end_ms
    return max(is_end_ms, (day - date(1970, 1, 1)).days * DAY_MS)


def _state(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    designs = {r[0]: {"key": r[1], "origin": r[2], "parents": json.loads(r[3]), "spec": json.loads(r[4])}
               for r in con.execute("select design_id, design_key, origin, parents, spec from "
                                    f"{DESIGNS_AS_OF.format(op='<')} order by design_id", [day]).fetchall()}
    history: dict[str, list[dict[str, Any]]] = {}
    for r in con.execute("select design_id, rank, n_ranked, oos_sharpe, oos_trades, status from ranking_history "
                         "where run_date < ? order by run_date", [day]).fetchall():
        history.setdefault(r[0], []).append({"rank": r[1], "n_ranked": r[2], "oos_sharpe": r[3], "oos_trades": r[4],
                                             "status": r[5]})
    trials = con.execute("select count(*) from tuning_trials where run_date < ?", [day]).fetchone()[0]
    return {"designs": designs, "history": history, "trials": trials}


def _design_of(design_id: str, row: dict[str, Any]) -> Design | None:
    if row["origin"] == "catalog":
        return None
    side, atoms = row["key"].split("|")
    return canonical(side, atoms.split("&"), row["origin"], row["parents"])


def _clear(con: duckdb.DuckDBPyConnection, day: date, tables: tuple[str, ...], designs: bool = False) -> None:
    con.execute("begin transaction")
    for t in tables:
        con.execute(f"delete from {t} where run_date = ?", [day])
    if designs:  # this day's designs only: later days' rows are theirs, whatever order days run in
        con.execute("delete from strategy_designs where created_date = ?", [day])
    con.execute("commit")


def design_day(con: duckdb.DuckDBPyConnection, columns: frozenset[str], day: date,
               cfg: ResearchConfig = ResearchConfig(), round_no: int = 0, sides: tuple[str, ...] = SIDES) -> list[str]:
    """Step 1: new designs for `day` (catalog specs once, then proposals: enough to expect to fill what
    target_active lacks at the pass rate seen so far; mutations/crossovers of the best active ones of the
    days before). Round 0 replaces the day's designs; a later round adds to them, fresh keys only, within
    new_designs_max for the day. Only designs and catalog specs of the sides the market trades
    (market_sides). Returns the new ids."""
    ensure_tables(con)
    if round_no == 0:
        _clear(con, day, DAY_TABLES, designs=True)
    st = _state(con, day)
    made_today = dict(con.execute("select design_key, origin from strategy_designs where created_date = ?", [day]).fetchall())
    rng = random.Random(f"{cfg.seed}:{day.isoformat()}" + (f":{round_no}" if round_no else ""))
    status = {d: h[-1]["status"] for d, h in st["history"].items()}
    new_rows: dict[str, dict[str, Any]] = {}
    if cfg.include_catalog and round_no == 0:  # each spec once per content (design_specs.py)
        new_rows.update(catalog_rows(st["designs"], cfg.timeframe, columns, sides))
    latest = _latest_ranking(con, day, today=round_no > 0)
    seen = {row["key"] for row in st["designs"].values()} | set(made_today)
    best_active = sorted((d for d in st["designs"] if status.get(d) == "active" and st["designs"][d]["origin"] != "catalog"),
                         key=lambda d: (st["history"][d][-1]["rank"], d))[:8]
    parents = [p for p in (_design_of(d, st["designs"][d]) for d in best_active) if p]
    n_new = round_size(latest, cfg, sum(origin != "catalog" for origin in made_today.values()), round_no == 0)
    for d in propose(rng, usable_atoms(columns), parents, seen, n_new, sides=sides):
        new_rows[d.design_id] = {"key": d.key, "origin": d.origin, "parents": list(d.parents),
                                 "spec": spec_dict(d, cfg.timeframe)}
    _write(con, day, new_rows, cfg.timeframe, [], [], [], 0)
    return sorted(new_rows)


def _latest_ranking(con: duckdb.DuckDBPyConnection, day: date, today: bool) -> tuple[int, int]:
    """(active, ranked) of the latest ranking: today's (a later round) or the last day's before `day`."""
    row = con.execute(f"select count(*) filter (where status = 'active'), count(*) from ranking_history where run_date = "
                      f"({'?' if today else '(select max(run_date) from ranking_history where run_date < ?)'})",
                      [day]).fetchone()
    return int(row[0]), int(row[1])


def round_size(latest: tuple[int, int], cfg: ResearchConfig, proposed_today: int, first: bool) -> int:
    """How many designs a round proposes: what target_active lacks divided by the share of ranked designs
    active in the latest ranking ((active + 1) / (ranked + 4): a quarter before any ranking), at least
    new_designs_min on a day's first round, 0 once the target is met on a later one; within what is left
    of new_designs_max for the day (proposals: the catalog specs entering once are not counted)."""
    active, ranked = latest
    lacking = max(cfg.rank.target_active - active, 0)
    wanted = math.ceil(lacking * (ranked + 4) / (active + 1))
    if first:
        wanted = max(cfg.new_designs_min, wanted)
    return max(0, min(wanted, cfg.new_designs_max - proposed_today))


def tune_day(con: duckdb.DuckDBPyConnection, market: Market, day: date, cfg: ResearchConfig = ResearchConfig(),
             costs: Costs = Costs(), map_batches: Mapper | None = None, design_ids: list[str] | None = None,
             started: float | None = None) -> dict[str, Any]:
    """Step 2: Optuna on each design created on `day` (or only design_ids, a later round's, added to the
    day's trials), trials_per_design trials each (a count, so a rerun stores the same trials); every trial
    stored. Returns the trials stored, those pruned because the design's spec does not run at their
    parameters (tuner.tune) and a note per design left out (its spec cannot be read: design_specs.py) or with
    such trials. The designs are tuned through map_batches (in-process by default, side by side on workers:
    python_assets/platform/fanout.py), stored in design order. budget_seconds is a guard, checked as each
    design is done: past it the step fails with a message instead of silently storing fewer trials on a
    slower machine; `started` (time.monotonic()) is when the day's first round began, so the guard spans them all."""
    ensure_tables(con)
    if design_ids is None:
        _clear(con, day, DAY_TABLES)
    started = time.monotonic() if started is None else started
    rows = con.execute("select design_id, design_key, origin, parents, spec from strategy_designs "
                       "where created_date = ? order by design_id", [day]).fetchall()
    if design_ids is not None:
        chosen = frozenset(design_ids)
        rows = [r for r in rows if r[0] in chosen]
    map_batches = map_batches or (lambda fn, items: map_in_process(fn, items))
    specs, notes = strategies(rows)
    rows = [r for r in rows if r[0] in specs]
    tasks = [TuneTask(market, specs[r[0]], cfg.trials_per_design, cfg.seed, costs) for r in rows]
    trials, tuning, invalid_trials = [], [], 0
    results = track(zip(rows, map_batches(tune_designs, tasks)), len(rows), f"tuning designs of {day}", every=0.25)
    for done, ((did, _, _, parents, _), (found, best, ev, invalid)) in enumerate(results, 1):  # design order, whichever worker ran it
        trials += [{**r, "design_id": did} for r in found]
        invalid_trials += len(invalid)
        if invalid:
            notes.append(f"{did}: {len(invalid)} of {cfg.trials_per_design} trials pruned, its spec does not run "
                         f"at their parameters (first: {invalid[0]})")
        if best is not None:
            tuning.append({"design_id": did, "best_params": best, "is_sharpe": ev.is_score,
                           "is_end_ms": market.is_window.end_ms, "n_trials": len(found),
                           "oos_start_ms": oos_start_ms(market.is_window.end_ms, json.loads(parents), day)})
        if time.monotonic() - started > cfg.budget_seconds and done < len(rows):
            raise ResearchBudgetError(
                f"tuning {day} passed its {cfg.budget_seconds:.0f} s guard after {done} of {len(rows)} designs "
                f"({cfg.trials_per_design} trials each): lower trials_per_design or new_designs_max, or raise budget_seconds")
    _write(con, day, {}, cfg.timeframe, trials, tuning, [], 0)
    robustness.write_trial_returns(con, day, trials)  # bounded: trials_per_design x days of the window per design
    robustness.pbo_day(con, day, designs=[r[0] for r in rows])
    return {"trials": len(trials), "invalid_trials": invalid_trials, "notes": notes}


def rank_day(con: duckdb.DuckDBPyConnection, market: Market, day: date, cfg: ResearchConfig = ResearchConfig(),
             costs: Costs = Costs(), evaluated: dict[tuple, Any] | None = None) -> dict[str, Any]:
    """Step 3: every tuned design evaluated out of sample (never before its tuning window ended),
    scored by deflated Sharpe over all trials so far, ranked; statuses updated with reasons. evaluated:
    the evaluations of an earlier round of the same day and market, reused (the same design, parameters
    and start give the same evaluation; only N and the Sharpes' variance, so the scores, change)."""
    ensure_tables(con)
    _clear(con, day, ("ranking_history", *robustness.RANKING_TABLES))
    st = _state(con, day)
    designs = {r[0]: {"key": r[1], "origin": r[2], "spec": json.loads(r[3]), "timeframe": r[4]} for r in con.execute(
        f"select design_id, design_key, origin, spec, timeframe from {DESIGNS_AS_OF.format(op='<=')}", [day]).fetchall()}
    tuned = {r[0]: (json.loads(r[1]), r[2]) for r in con.execute(
        f"select design_id, arg_max(best_params, run_date), arg_max({OOS_START}, run_date) from strategy_tuning "
        "where run_date <= ? group by design_id", [day]).fetchall()}
    # a design is ranked on the timeframe it was tuned on, and deflated among that timeframe's trials only
    other = timeframe_note({d: designs[d]["timeframe"] for d in tuned if d in designs}, market.timeframe)
    same = f"design_id in (select design_id from {DESIGNS_AS_OF.format(op='<=')} where timeframe = ?)"
    trials = con.execute(f"select oos_sharpe from tuning_trials where run_date <= ? and {same}",
                         [day, day, market.timeframe]).fetchall()
    # the Sharpes' spread: trials that have one, sorted so that the float sum does not depend on the order the
    # rows are stored in (a rerun of an earlier day appends its trials again: other bits of every later DSR)
    sharpes = np.sort(np.array([r[0] for r in trials if r[0] is not None], dtype=np.float64))
    # N counts every trial tried, one that never traded out of sample included: leaving those out shrank
    # the deflation's benchmark exactly when few trials trade
    n_total = len(trials)
    # fewer than two Sharpes: no spread to deflate by, the DSR is not available (NaN) unless N is 1
    variance = float(sharpes.var(ddof=1)) if len(sharpes) > 1 else math.nan
    bar_len_ms = next(iter(market.bars.values())).bar_len_ms
    status = {d: h[-1]["status"] for d, h in st["history"].items()}
    overfit = robustness.pbo_as_of(con, day)
    rows, evaluations, left_out = [], {}, [other] if other else []
    for did, (params, oos_start) in sorted(tuned.items()):
        if did not in designs or designs[did]["timeframe"] != market.timeframe:
            continue
        key = (did, json.dumps(params, sort_keys=True), oos_start)
        if evaluated is not None and key in evaluated:
            ev = evaluated[key]
        else:
            try:
                ev = evaluate(market, design_strategy(designs[did]["key"], designs[did]["origin"], designs[did]["spec"],
                                                      market.timeframe), params, costs, oos_start_ms=oos_start)
            except (DesignUnavailable, *UNRUNNABLE) as exc:  # not ranked today: no row, its trials still in N
                left_out.append(unavailable_note(did, exc))
                continue
            if evaluated is not None:
                evaluated[key] = ev
        s = score(ev.oos_returns, ev.oos_trades, n_total, variance, cfg.rank)
        # annualised by the bars the Sharpe is of, as strategy_backtest_results annualises a backtest (periods.py)
        bars_per_year = periods_per_year_of_times(ev.oos_bar_ms, bar_len_ms)
        evaluations[did] = ev
        pbo, pbo_trials = overfit.get(did, (None, 0))
        rows.append({"design_id": did, "oos_sharpe": ev.oos_sharpe, "oos_trades": ev.oos_trades,
                     "pbo": pbo, "pbo_trials": pbo_trials,
                     "oos_return": ev.oos_return, "oos_sharpe_annual": ev.oos_sharpe * bars_per_year ** 0.5, **s})
    ranked = rank(rows)
    for r in ranked:
        r["n_ranked"] = len(ranked)
        history = [*st["history"].get(r["design_id"], []), r]
        r["status"], r["status_reason"] = next_status(status.get(r["design_id"], "candidate"), history, len(ranked), cfg.rank)
    _write(con, day, {}, cfg.timeframe, [], [], ranked, n_total)
    robustness.write_monte_carlo(con, robustness.monte_carlo_rows(day, ranked, evaluations, cfg.monte_carlo))
    return {"ranked": len(ranked), "active": sum(r["status"] == "active" for r in ranked), "trials_total": n_total,
            **({"left_out": left_out} if left_out else {})}


def run_day(con: duckdb.DuckDBPyConnection, market: Market, day: date, cfg: ResearchConfig = ResearchConfig(),
            costs: Costs = Costs(), map_batches: Mapper | None = None) -> dict[str, Any]:
    """design -> tune -> rank for one day (what the three Dagster assets do in turn), in rounds: while
    fewer than target_active designs are active and max_rounds and new_designs_max allow, another round
    of fresh designs is tuned and the day ranked again (each round's designs are new keys, independent of
    the earlier rounds' out-of-sample results; the DSR's N counts every round's trials). The time guard spans
    the rounds and is checked before each later round too: a round begun past it would tune at least a design.
    Last, the PBO of the day's whole search (search_pbo) over every round's trials. A market without bars
    (none of the timeframe in the window) has nothing to tune: the day's rows are cleared, nothing is
    designed, tuned or ranked, and the summary's note says why."""
    if not market.bars:
        ensure_tables(con)
        _clear(con, day, DAY_TABLES, designs=True)  # a rerun of a day that had bars leaves none of its old rows
        return {"designs": 0, "trials": 0, "rounds": 0, "ranked": 0, "active": 0, "trials_total": _state(con, day)["trials"],
                "note": f"no {market.timeframe} bars in the research window ending {day}: nothing to tune"}
    made, trials, rounds, summary, started, evaluated, invalid, notes = 0, 0, 0, {}, time.monotonic(), {}, 0, []
    for round_no in range(cfg.max_rounds):
        designs = design_day(con, market.columns, day, cfg, round_no, market_sides(market))
        if round_no and not designs:
            break
        if round_no and time.monotonic() - started > cfg.budget_seconds:  # the step fails; a rerun clears the day
            raise ResearchBudgetError(
                f"research of {day} passed its {cfg.budget_seconds:.0f} s guard after {rounds} rounds ({made} designs, "
                f"{trials} trials), before round {round_no}'s {len(designs)} designs: lower trials_per_design, "
                "new_designs_max or max_rounds, or raise budget_seconds")
        made, rounds = made + len(designs), rounds + 1
        tuned = tune_day(con, market, day, cfg, costs, map_batches, designs if round_no else None, started)
        trials, invalid, notes = trials + tuned["trials"], invalid + tuned["invalid_trials"], notes + tuned["notes"]
        summary = rank_day(con, market, day, cfg, costs, evaluated)
        if summary["active"] >= cfg.rank.target_active:
            break
    search = robustness.search_pbo_day(con, day)  # once the day's rounds are done: every round's trials
    notes += summary.pop("left_out", [])  # the last ranking's: an earlier round's left out the same designs
    return {"designs": made, "trials": trials, "rounds": rounds, **summary, **({"search_pbo": search} if search is not None else {}),
            **({"invalid_trials": invalid} if invalid else {}), **({"notes": notes} if notes else {})}


def market_sides(market: Market) -> tuple[str, ...]:
    """The design sides worth proposing on a market: long only where every symbol is spot (held long only:
    backtest/markets.py), every side otherwise."""
    return ("long",) if market.bars and all(market_of(market.markets, s) == SPOT for s in market.bars) else SIDES


def _write(con, day, designs, timeframe, trials, tuning, ranked, n_total) -> None:
    con.execute("begin transaction")
    try:
        for did, row in sorted(designs.items()):
            con.execute("insert into strategy_designs values (?, ?, ?, ?, ?, ?, ?)",
                        [did, row["key"], row["origin"], json.dumps(row["parents"]), json.dumps(row["spec"]), timeframe, day])
        if trials:
            con.executemany("insert into tuning_trials values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                [day, t["design_id"], t["trial_no"], json.dumps(t["params"], sort_keys=True), _num(t["is_sharpe"]),
                 t["is_trades"], _num(t["oos_sharpe"]), _num(t["oos_return"]), t["oos_trades"], t["seconds"]] for t in trials])
        if tuning:
            con.executemany("insert into strategy_tuning values (?, ?, ?, ?, ?, ?, ?)", [
                [day, t["design_id"], json.dumps(t["best_params"], sort_keys=True), _num(t["is_sharpe"]), t["is_end_ms"],
                 t["n_trials"], t["oos_start_ms"]] for t in tuning])
        if ranked:
            con.executemany("insert into ranking_history values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                [day, r["design_id"], r["rank"], r["n_ranked"], r["score"], _num(r["deflated_sharpe"]), _num(r["sr0"]),
                 _num(r["oos_sharpe"]), _num(r["oos_sharpe_annual"]), _num(r["oos_return"]), r["oos_trades"], n_total,
                 r["status"], r["status_reason"]] for r in ranked])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _num(v: Any) -> float | None:
    return None if v is None or v != v else float(v)


def warehouse_columns(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The condition columns of the features view without loading any rows (what the designer needs)."""
    described = con.execute("select * from features limit 0").description
    return condition_columns((d[0] for d in described), (d[0] for d in described if str(d[1]) == "VARCHAR"))
