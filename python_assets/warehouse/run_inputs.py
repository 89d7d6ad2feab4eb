"""What a day's run read, as one fingerprint per day: the lake files dated up to that day (path, size,
modification time), the code (every source file of the packages and the dbt project, and the versions
of the libraries that compute), the settings that shape results and the run config. A day whose
fingerprint equals the one stored by its last successful run, with nothing run since on that day or an
earlier one (checked by the caller in the Dagster instance), is unchanged: rerunning it would give the
same bits (runs are deterministic), so the CLI says so instead of spending minutes on it.

Modification times make the check conservative: a file rewritten with the same bytes reads as changed
(one rerun), never the reverse. The store (`run_inputs` table) is a landing table declared to dbt."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone

import duckdb

from python_assets.config import Paths
from python_assets.lake.sources import MARKETS_DIR
from python_assets.ml.artifacts import model_pointers
from python_assets.platform.timeframes import TIMEFRAMES
from python_assets.warehouse.connection import WarehouseBusy, connect_warehouse, table_exists

_DATE_PART = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})(?:/|$)")

# lake_day_fingerprint came later: last in the create, and an `add column if not exists` for older warehouses;
# input_fingerprint became nullable (a day a first build built beyond its run's window has only the lake one)
RUN_INPUTS_DDL = (
    """create table if not exists run_inputs (
    partition_date date primary key,
    input_fingerprint varchar,
    run_id varchar not null,
    recorded_at timestamptz not null,
    lake_day_fingerprint varchar
)""",
    """alter table run_inputs add column if not exists lake_day_fingerprint varchar""",
    """alter table run_inputs alter column input_fingerprint drop not null""",
)


# ---- gather (I/O) -------------------------------------------------------------------------------------
DERIVED_TREES = ("trade_index",)  # lake folders derived from files that are fingerprinted themselves


def lake_entries(paths: Paths) -> list[tuple[str, int, int]]:
    """(path relative to the data dir, size, mtime_ns) of every lake file a run reads, sorted, with the
    symbols' market records (<data>/.lake-markets: spot or perp decides how a symbol is traded; no day). The
    trade-id index is left out: ingest keeps it beside the trades, no run reads it, and it has no day, so
    every ingest of any day changed every day's fingerprint."""
    derived = tuple(paths.lake / tree for tree in DERIVED_TREES)
    out = []
    for f in [*paths.lake.rglob("*"), *(paths.data_dir / MARKETS_DIR).glob("*.json")]:
        if f.name.startswith(".tmp-") or any(f.is_relative_to(d) for d in derived):
            continue  # a write in progress (renamed into place when done), or a derived index
        try:
            if f.is_file():
                st = f.stat()
                out.append((f.relative_to(paths.data_dir).as_posix(), st.st_size, st.st_mtime_ns))
        except FileNotFoundError:  # replaced between the listing and the stat (a live recorder)
            continue
    return sorted(out)


# ---- pure ---------------------------------------------------------------------------------------------
def file_day(relative: str) -> date | None:
    """The day of a lake file from its hive `date=` folder; None for files of no day (read by every day)."""
    found = _DATE_PART.search(relative)
    return date.fromisoformat(found.group(1)) if found else None


def day_fingerprints(entries: Iterable[tuple[str, int, int]], days: Iterable[date], code: str,
                     settings: dict[str, str], run_config: dict | None) -> dict[date, str]:
    """{day: sha256} over the lake files dated <= day (and those of no day), the code, the settings, the
    run config and whether the day ends its run's window (models train and score for a run's last day
    only, so a day inside a range run differs from the same day run alone): equal fingerprints mean the
    day's run read the same inputs with the same code in the same role."""
    entries = [(rel, size, mtime, file_day(rel)) for rel, size, mtime in sorted(entries)]
    fixed = json.dumps({"code": code, "settings": sorted(settings.items()), "run_config": run_config},
                       sort_keys=True, default=str)
    days = sorted(set(days))
    out = {}
    for day in days:
        h = hashlib.sha256(fixed.encode())
        h.update(b"last of its run\n" if day == days[-1] else b"inside its run\n")
        for rel, size, mtime, d in entries:
            if d is None or d <= day:
                h.update(f"{rel}\0{size}\0{mtime}\n".encode())
        out[day] = h.hexdigest()
    return out


def own_day_fingerprints(entries: Iterable[tuple[str, int, int]], days: Iterable[date]) -> dict[date, str]:
    """{day: sha256 over the lake files dated that day}: what the warehouse holds of the day once a run built
    it, so a later day's run can tell that an earlier day's files changed (a re-import, late ticks) since."""
    out = {day: hashlib.sha256() for day in sorted(set(days))}
    for rel, size, mtime in sorted(entries):
        h = out.get(file_day(rel))
        if h is not None:
            h.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return {day: h.hexdigest() for day, h in out.items()}


def changed_since_built(current: dict[date, str], built: dict[date, str]) -> list[date]:
    """The days whose own lake files differ from those their last successful run built (sorted)."""
    return sorted(d for d, fp in built.items() if current.get(d) != fp)


def changed_outside(before: Iterable[tuple[str, int, int]], after: Iterable[tuple[str, int, int]],
                    first: date, last: date) -> bool:
    """Whether a lake file changed between two listings that is undated or dated outside first..last: a
    writer other than the run's own lake step (which writes only its window's days) touched the lake."""
    moved = set(before) ^ set(after)
    return any(file_day(rel) is None or not first <= file_day(rel) <= last for rel, _, _ in moved)


def window_digest(entries: Iterable[tuple[str, int, int]], first: date, last: date) -> str:
    """sha256 over the lake files dated first..last (path, size, mtime): what a run's lake step left of its
    window (its lake_trades metadata), to tell the step's own writes from another writer's later ones."""
    h = hashlib.sha256()
    for rel, size, mtime in sorted(entries):
        day = file_day(rel)
        if day is not None and first <= day <= last:
            h.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()


def window_as_read(before: list[tuple[str, int, int]], after: list[tuple[str, int, int]], step_digest: str | None,
                   first: date, last: date) -> list[tuple[str, int, int]]:
    """The listing whose files of first..last a run read: the one after it when they are as before it or as
    its lake step left them (step_digest); else the one before it. Another writer (ingest, import, the inbox
    sensor, the recorder's hour merge: none takes the run's lock) changed one after the lake step, maybe after
    the build read the lake: recorded as before, the day reads as changed to its next request, which rebuilds it."""
    now = window_digest(after, first, last)
    return after if now in (window_digest(before, first, last), step_digest) else before


def unchanged_days(current: dict[date, str], stored: dict[date, tuple[str, str]]) -> dict[date, str]:
    """{day: run_id of its stored run} for the days whose stored fingerprint equals the current one."""
    return {d: stored[d][1] for d, fp in current.items() if d in stored and stored[d][0] == fp}


# ---- store --------------------------------------------------------------------------------------------
def stored_fingerprints(paths: Paths, days: Iterable[date]) -> dict[date, tuple[str, str]]:
    """{day: (fingerprint, run_id)} stored for these days, with a report row for that day too (no
    warehouse, no table, no report or a warehouse that cannot be read: nothing is stored, so the run
    goes ahead and says what is wrong itself)."""
    days = sorted(set(days))
    if not paths.warehouse.exists() or not days:
        return {}
    try:
        with connect_warehouse(paths.warehouse, read_only=True) as con:
            tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
            if not {"run_inputs", "daily_reports"} <= tables:
                return {}
            rows = con.execute("select i.partition_date, i.input_fingerprint, i.run_id from run_inputs i "
                               "join daily_reports r on r.report_date = i.partition_date "
                               "where i.partition_date in (select unnest(?::date[]))", [days]).fetchall()
    except (duckdb.Error, WarehouseBusy):
        return {}
    return {d: (fp, run_id) for d, fp, run_id in rows}


def record_fingerprints(paths: Paths, fingerprints: dict[date, str], run_id: str,
                        lake_days: dict[date, str] | None = None) -> None:
    """Store each day's fingerprint with the run that consumed it, and the fingerprint of the day's own lake
    files it built (own_day_fingerprints; none: not known), a rerun replacing the day's row. A day of lake_days
    outside fingerprints (its first build's earlier days) gets only its lake fingerprint: no input one, so a
    later request of that day is never 'unchanged' (its models, backtests and report were not run)."""
    if not fingerprints:
        return
    now = datetime.now(timezone.utc).replace(microsecond=0)
    lake_days = lake_days or {}
    history = sorted((d, fp) for d, fp in lake_days.items() if d not in fingerprints)
    with connect_warehouse(paths.warehouse) as con:
        for statement in RUN_INPUTS_DDL:
            con.execute(statement)
        con.execute("begin transaction")
        try:
            con.execute("delete from run_inputs where partition_date in (select unnest(?::date[]))",
                        [sorted(fingerprints)])
            con.executemany("insert into run_inputs (partition_date, input_fingerprint, run_id, recorded_at, "
                            "lake_day_fingerprint) values (?, ?, ?, ?, ?)",
                            [[d, fp, run_id, now, lake_days.get(d)] for d, fp in sorted(fingerprints.items())])
            if history:
                con.executemany("insert into run_inputs (partition_date, run_id, recorded_at, lake_day_fingerprint) "
                                "values (?, ?, ?, ?) on conflict (partition_date) "
                                "do update set lake_day_fingerprint = excluded.lake_day_fingerprint",
                                [[d, run_id, now, fp] for d, fp in history])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def built_lake_days(paths: Paths, before: date) -> dict[date, str]:
    """{day: the fingerprint of its own lake files its last successful run built} for the days before
    `before` that have one (none: no warehouse, no table or column yet, or one that cannot be read now)."""
    if not paths.warehouse.exists():
        return {}
    try:
        with connect_warehouse(paths.warehouse, read_only=True) as con:
            columns = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                                 "where table_name = 'run_inputs'").fetchall()}
            if "lake_day_fingerprint" not in columns:
                return {}
            rows = con.execute("select partition_date, lake_day_fingerprint from run_inputs where partition_date < ? "
                               "and lake_day_fingerprint is not null", [before]).fetchall()
    except (duckdb.Error, WarehouseBusy):
        return {}
    return dict(rows)


def bar_days(paths: Paths) -> set[date]:
    """The days any bars table holds, bars_1m .. bars_1d (none: no warehouse or table yet, or one that cannot
    be read now): a day held after a run and not before it was built by that run, inside its window or by its
    first build. Every timeframe, not bars_1m alone: a day of 5m candles only (a freqtrade import) is in
    bars_5m and up, and read from bars_1m it never got its own lake files recorded, so a re-import went unnamed."""
    if not paths.warehouse.exists():
        return set()
    try:
        with connect_warehouse(paths.warehouse, read_only=True) as con:
            tables = [t for t in (f"bars_{tf}" for tf in TIMEFRAMES) if table_exists(con, t)]
            if not tables:
                return set()
            query = " union ".join(f"select distinct bar_date from {t}" for t in tables)
            return {r[0] for r in con.execute(query).fetchall()}
    except (duckdb.Error, WarehouseBusy):
        return set()


def earlier_days_changed(paths: Paths, entries: Iterable[tuple[str, int, int]], first: date) -> list[date]:
    """The days before `first` whose own lake files (in the listing entries) changed since their last
    successful run built them: a run of first.. continues from their old warehouse rows."""
    built = built_lake_days(paths, first)
    return changed_since_built(own_day_fingerprints(entries, built), built)


def model_versions_exist(paths: Paths, last: date) -> bool:
    """Whether every model version a stored model run of a day <= last names is still under models/:
    a deleted one would be refitted by a rerun, with other numbers."""
    return all(ref.get("version") and (paths.models / model / str(ref["version"])).is_dir()
               for model, ref in model_pointers(paths.ml_runs, last.isoformat()))


def report_files_exist(paths: Paths, days: Iterable[date]) -> bool:
    """Whether each day's report JSON and HTML are on disk (a deleted report is rebuilt by a run)."""
    from python_assets.reports.daily_report import report_path  # where the report lives, defined once there

    return all(p.is_file() for d in days for p in (report_path(paths, d), report_path(paths, d).with_suffix(".html")))

