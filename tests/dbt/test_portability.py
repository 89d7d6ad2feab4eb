"""The dbt project stays portable: DuckDB-only SQL lives only in `duckdb__` implementations of
dispatched macros, so the models can run on Spark or Trino by adding `spark__`/`trino__` versions
(engine-specific bodies too: they are skipped like the `duckdb__` ones; tests/dbt/test_spark_parity.py
runs the Spark ones).

The scan lists every function DuckDB knows (duckdb_functions()) that is not on the short list of
functions with the same name and meaning in ANSI SQL, Spark SQL and Trino, plus DuckDB-only syntax
(`::` casts, `* exclude`, lambdas, ASOF joins, list and struct literals, `//`, `^`, a quoted file as a
table, DuckDB-only type names, ...), in the SQL of every model, macro and generic test once the `duckdb__`
macro bodies, Jinja, comments and string literals are taken out.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import run_dbt
from python_assets.config import DBT_PROJECT_DIR, Paths

# Same name, arguments and meaning in DuckDB, Spark SQL (3.4+) and Trino.
PORTABLE_FUNCTIONS = frozenset("""
    abs avg ceil ceiling coalesce corr count covar_pop covar_samp cume_dist dense_rank exp
    first_value floor greatest lag last_value lead least ln lower max max_by min min_by mod
    nullif ntile percent_rank pow power rank round row_number sign sqrt stddev_pop stddev_samp
    sum upper var_pop var_samp filter concat_ws
""".split())  # concat_ws: the separator, then strings, NULLs skipped, in all three (tests/generic/row_rules.sql)

DUCKDB_SYNTAX = {
    "'::' cast": r"::",
    "select * exclude": r"\bexclude\s*\(",
    "qualify": r"\bqualify\b",
    "asof join": r"\basof\b",
    "lambda": r"\blambda\b|->",
    "union by name": r"\bby\s+name\b",
    "positional join": r"\bpositional\s+join\b",
    "using sample": r"\busing\s+sample\b",
    # Spark's VARCHAR needs a length and a named window cannot take a frame: sql_type('varchar'), the
    # window spelled out (both found by building the research and report marts on Spark)
    "cast to varchar": r"\bas\s+varchar\b",
    "named window with a frame": r"\bover\s*\(\s*\w+\s+(rows|range)\b",
    # list literals and subscripts (Spark's are 0-based, DuckDB's 1-based), struct literals ({'a': 1} once
    # string literals are emptied)
    "list literal or subscript": r"\[",
    "struct literal": r"\{\s*''\s*:",
    "integer division '//'": r"//",
    # power in DuckDB, bitwise XOR in Spark: silently wrong, not an error
    "'^' or '**' power": r"\^|\*\*",
    "quoted file as a table": r"\b(from|join)\s+(''|\"[^\"]*\.(parquet|csv|tsv|json|ndjson)\w*\")",
    "similar to": r"\bsimilar\s+to\b",
    "limit percent": r"\blimit\s+[\d.]+\s*(%|percent\b)",
    "DuckDB-only type": r"\bas\s+(u?hugeint|ubigint|uinteger|usmallint|utinyint|varint|bignum|u?int(1|2|4|8|16|32|64|128)"
                        r"|float[48]|timestamp_(s|ms|us|ns)|timestamptz(_ns)?|timetz|time_ns|bitstring|bytea|bpchar)\b",
}


def duckdb_function_names() -> frozenset[str]:
    with duckdb.connect() as con:
        return frozenset(r[0].lower() for r in con.execute("select distinct function_name from duckdb_functions()").fetchall())


def dispatched_macros_in(text: str) -> set[str]:
    """Names X of macros that route through adapter.dispatch('X', ...)."""
    return set(re.findall(r"adapter\.dispatch\(\s*'(\w+)'", text))


def dispatched_macros(sql_files: list[Path]) -> set[str]:
    """Names X dispatched by the project's macros or by dbt's own (a duckdb__X of the project overrides dbt's
    default__X for DuckDB, as macros/persist_docs.sql does)."""
    return dispatched_macros_in("\n".join([*(p.read_text() for p in sql_files), dbt_global_macros()]))


@lru_cache(maxsize=1)
def dbt_global_macros() -> str:
    """The text of dbt's global project's macro files (dbt-adapters' include/global_project)."""
    import dbt.include.global_project as global_project

    return "\n".join(p.read_text() for p in sorted(Path(global_project.__file__).parent.glob("macros/**/*.sql")))


def strip_allowed(text: str, dispatched: set[str]) -> str:
    """The SQL every adapter without its own implementation would run: the engine-specific bodies
    (duckdb__, spark__, databricks__, trino__) of dispatched macros, Jinja tags, comments and string
    literals removed."""
    def drop_duckdb_body(m: re.Match) -> str:
        return " " if m.group(1) in dispatched else m.group(0)

    text = re.sub(r"\{%-?\s*macro\s+(?:duckdb|spark|databricks|trino)__(\w+).*?\{%-?\s*endmacro\s*-?%\}", drop_duckdb_body, text, flags=re.S)
    text = re.sub(r"\{#.*?#\}", " ", text, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.S)
    text = re.sub(r"--[^\n]*", " ", text)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"'[^']*'", "''", text)


def duckdb_only_uses(text: str, known: frozenset[str], dispatched: set[str]) -> list[str]:
    """'name' for each DuckDB-only function or syntax the text uses outside duckdb__ macros."""
    sql = strip_allowed(text, dispatched)
    found = {m.group(1).lower() for m in re.finditer(r"\b([a-z_][a-z0-9_]*)\"?\s*\(", sql, flags=re.I)}  # "f"(x) too
    hits = sorted(f"{name}()" for name in found if name in known and name not in PORTABLE_FUNCTIONS)
    hits += [label for label, pattern in DUCKDB_SYNTAX.items() if re.search(pattern, sql, flags=re.I)]
    return hits


def project_sql() -> list[Path]:
    """Every model, macro and generic test of the project."""
    return sorted(p for d in ("models", "macros", "tests") for p in DBT_PROJECT_DIR.glob(f"{d}/**/*.sql"))


def test_no_duckdb_only_sql_outside_dispatched_macros():
    files = project_sql()
    known, dispatched = duckdb_function_names(), dispatched_macros(files)
    offenders = {str(p.relative_to(DBT_PROJECT_DIR)): hits for p in files
                 if (hits := duckdb_only_uses(p.read_text(), known, dispatched))}
    assert not offenders, f"DuckDB-only SQL outside duckdb__ dispatched macros: {offenders}"


def test_the_scan_covers_models_macros_and_generic_tests():
    """A generic test's SQL runs on every engine too, so it is scanned like a model."""
    scanned = {p.relative_to(DBT_PROJECT_DIR).parts[0] for p in project_sql()}
    assert scanned == {"models", "macros", "tests"}


def test_every_duckdb_implementation_has_a_portable_default():
    files = project_sql()
    text = "\n".join(p.read_text() for p in files)
    duck = set(re.findall(r"macro\s+duckdb__(\w+)", text))
    default = set(re.findall(r"macro\s+default__(\w+)", text + "\n" + dbt_global_macros()))
    dispatched = dispatched_macros(files)
    assert duck, "expected dispatched duckdb__ macros"
    assert duck <= dispatched, f"duckdb__ macros nobody dispatches to: {duck - dispatched}"
    assert duck <= default, f"no default__ for: {duck - default}"
    spark = set(re.findall(r"macro\s+spark__(\w+)", text))
    assert spark <= dispatched, f"spark__ macros nobody dispatches to: {spark - dispatched}"


@pytest.mark.parametrize("snippet, expected", [
    ("select epoch_ms(ts) from t", ["epoch_ms()"]),
    ("select x::bigint, list_sum(l) from t", ["list_sum()", "'::' cast"]),
    ("select a.* exclude (b) from a", ["select * exclude"]),
    ("select sum(x), ln(y), lag(x) over (order by t) from t", []),
    ("{% macro f(x) %}{{ return(adapter.dispatch('f', 'p')(x)) }}{% endmacro %}"
     "{% macro default__f(x) %}min_by(x, y){% endmacro %}"
     "{% macro duckdb__f(x) %}arg_min(x, y)::int{% endmacro %}", []),
    ("{% macro duckdb__g(x) %}arg_min(x, y){% endmacro %}", ["arg_min()"]),  # not dispatched: counts
    ("{% macro f(x) %}{{ return(adapter.dispatch('f', 'p')(x)) }}{% endmacro %}"
     "{% macro spark__f(x) %}substring(x, 2){% endmacro %}", []),
    ("{% macro spark__h(x) %}substring(x, 2){% endmacro %}", ["substring()"]),  # not dispatched: counts
    ("select 'epoch_ms(' as s -- list_sum(x)\n from t", []),
    ("select [1, 2, 3] as l from t", ["list literal or subscript"]),
    ("select l[1] from t", ["list literal or subscript"]),
    ("select {'a': 1} as s from t", ["struct literal"]),
    ("select x // 60000 from t", ["integer division '//'"]),
    ("select x ^ 2, y ** 2 from t", ["'^' or '**' power"]),
    ("select * from 'lake/x.parquet'", ["quoted file as a table"]),
    ('select * from a join "lake/x.parquet" using (k)', ["quoted file as a table"]),
    ("select * from glob('lake/*')", ["glob()"]),
    ("select x similar to 'a.*' from t", ["similar to"]),
    ("select * from t limit 10%", ["limit percent"]),
    ("select * from t limit 10 percent", ["limit percent"]),
    ('select "epoch_ms"(ts) from t', ["epoch_ms()"]),
    *[(f"select cast(x as {t}) from t", ["DuckDB-only type"])
      for t in ("hugeint", "uhugeint", "ubigint", "uinteger", "usmallint", "utinyint", "varint", "int128", "timestamp_ns")],
    ("select cast(x as bigint) as n, cast(y as double) as d, x / 60000 as m from t /* a // b ^ c */", []),
    ("select date_trunc('day', ts) as d, {{ x[0] }} from t", ["date_trunc()"]),
])
def test_the_scan_catches_duckdb_only_sql(snippet, expected):
    dispatched = dispatched_macros_in(snippet)
    assert duckdb_only_uses(snippet, duckdb_function_names(), dispatched) == expected


# Higher bars every 7 s with gaps (every third missing), lower bars closing every second.
TWO_TIMEFRAMES = """with lower as (select 'S' || (i % 2) as symbol, i * 1000 as closes_at_ms from range(60) as t(i)),
higher as (select 'S' || (i % 2) as symbol, i * 7000 as closes_at_ms, i as val from range(10) as t(i) where i % 3 <> 1)"""


def test_portable_defaults_give_the_duckdb_results(tmp_path):
    """The default__ range join (what Spark/Trino run) joins what DuckDB's ASOF join does: both compiled by
    dbt and run here. (The rolling folds, percent rank, mean absolute deviation and rows since an extreme
    are one portable lag form on every engine; test_spark_parity.py compares them on Spark.)"""
    joins = [f"{TWO_TIMEFRAMES} select lower.symbol, lower.closes_at_ms, higher.val from lower "
             f"{{{{ context['{impl}__join_last_closed']('lower', 'higher') }}}}" for impl in ("duckdb", "default")]
    compiled = run_dbt(Paths(tmp_path), "compile", "--quiet", "--inline", ";\n".join(joins)).stdout
    duck_join, port_join = [s for s in compiled.split(";") if s.strip()]
    with duckdb.connect() as con:
        duck, port = (con.execute(q).df().sort_values(["symbol", "closes_at_ms"], ignore_index=True)
                      for q in (duck_join, port_join))
    assert duck["val"].notna().any() and duck["val"].isna().any()  # some lower bars precede any closed higher bar
    pd.testing.assert_frame_equal(duck, port)
