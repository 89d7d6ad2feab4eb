"""`blofin-stack query`: read-only, refuses writes with a clear message, three output formats."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest

from blofin_cli.main import main
from python_assets.warehouse.query import QueryRefused, check_read_only


@pytest.fixture
def warehouse(data_dir):
    with duckdb.connect(str(data_dir.warehouse)) as con:
        con.execute("create table t as select * from (values (1, 'a'), (2, 'b')) v(id, name)")
    return data_dir


@pytest.mark.parametrize(
    "sql",
    ["INSERT INTO t VALUES (3, 'c')", "update t set id = 1", "DELETE FROM t", "create table x (a int)",
     "ATTACH 'other.db'", "COPY t TO 'x.csv'", "select 1; drop table t", "with x as (select 1) insert into t select 1, 'z'"],
)
def test_writes_are_refused_with_a_clear_message(warehouse, capsys, sql):
    assert main(["query", sql]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ("read-only" in err or "one statement" in err)
    with duckdb.connect(str(warehouse.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from t").fetchall()[0][0] == 2


def test_select_prints_a_table_csv_and_json(warehouse, capsys):
    assert main(["query", "select * from t order by id"]) == 0
    assert "(2 rows)" in capsys.readouterr().out
    assert main(["query", "select * from t order by id", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["id,name", "1,a", "2,b"]
    assert main(["query", "select * from t where name = 'insert'", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_keywords_inside_strings_and_comments_do_not_count():
    check_read_only("select 'delete me' as x -- update later")
    with pytest.raises(QueryRefused):
        check_read_only("select 1 /* ok */; delete from t")


@pytest.mark.parametrize("sql", ["describe t", "show tables", "summarize t", "from t", "values (1)", "table t",
                                 "with x as (select 1) select * from x", "(select 1) union all (select 2)"])
def test_every_read_form_parses_as_one_select(sql):
    assert check_read_only(sql).type == duckdb.StatementType.SELECT


@pytest.mark.parametrize(("sql", "message"), [
    ("selec * from t", 'error: Parser Error: syntax error at or near "selec"\n'),
    ("  ; -- nothing", "error: empty query\n"),
    ("explain select 1", "error: the warehouse is read-only here: EXPLAIN statements are not allowed"),
])
def test_text_that_is_not_one_select_is_refused_in_one_line(warehouse, capsys, sql, message):
    assert main(["query", sql]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(message) and err.count("\n") == 1, err


def test_duckdb_errors_are_one_line_and_a_locked_setting_is_not_taken_for_a_busy_warehouse(warehouse, capsys):
    assert main(["query", "select * from no_such_table"]) == 1
    assert capsys.readouterr().err == "error: Catalog Error: Table with name no_such_table does not exist!\n"
    assert main(["query", "select * from enable_logging()"]) == 1
    err = capsys.readouterr().err
    assert "the configuration has been locked" in err and "being written by a run" not in err and err.count("\n") == 1


def test_query_works_while_another_process_writes_the_warehouse(warehouse, capsys):
    """A run in another process holds DuckDB's write lock; the query reads the published snapshot."""
    import subprocess
    import sys
    import time

    from python_assets.warehouse.snapshot import publish_snapshot

    publish_snapshot(warehouse)
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); c.execute(\"insert into t values (3, 'c')\");"
         " print('locked', flush=True); time.sleep(30)", str(warehouse.warehouse)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        with pytest.raises(duckdb.Error):  # the live file is locked by the writer
            duckdb.connect(str(warehouse.warehouse), read_only=True)
        assert main(["query", "select 1", "--database", str(warehouse.warehouse)]) == 1  # the live file: a clear line
        assert "being written by a run" in capsys.readouterr().err
        t0 = time.perf_counter()
        assert main(["query", "select count(*) as n from t", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out) == [{"n": 2}]  # the last published state
        assert time.perf_counter() - t0 < 10
    finally:
        writer.kill()
        writer.wait()
    publish_snapshot(warehouse)
    assert main(["query", "select count(*) as n from t", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 3}]


def test_decimals_are_json_numbers_and_floats_print_to_a_sensible_precision(warehouse, capsys):
    sql = ("select cast(12.50 as decimal(10, 2)) as d, cast(3 as decimal(10, 2)) as whole, 0.1234567891::double as f, "
           "65432.123456789::double as big, 1.2e-7::double as tiny, 'nan'::double as nan, [1.5::decimal(4,1)] as l")
    assert main(["query", sql, "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row == {"d": 12.5, "whole": 3, "f": 0.1234567891, "big": 65432.123456789, "tiny": 1.2e-7, "nan": None,
                   "l": [1.5]}
    assert isinstance(row["d"], float) and isinstance(row["whole"], int)
    assert main(["query", sql]) == 0
    values = capsys.readouterr().out.splitlines()[2].split()
    assert values[:6] == ["12.50", "3.00", "0.123457", "65432.123457", "1.2e-07", "nan"]


class Sink:
    """A stdout that keeps nothing (the streamed output's size must not count)."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_stream_in_batches_in_flat_memory(warehouse, monkeypatch, fmt):
    # the whole result was fetched and rendered in memory (4M rows: 2 GB RSS)
    import tracemalloc

    sink = Sink()
    monkeypatch.setattr("sys.stdout", sink)
    tracemalloc.start()
    try:
        assert main(["query", "select range as n, 'abc' as s, range * 0.5 as x from range(100000)", "--format", fmt]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # streamed: ~6-8 MB (one batch of 10,000 rows) whatever the row count; the whole result held: 26 MB (csv) and
    # 49 MB (json) at these 100,000 rows
    assert sink.chars > 100_000 * 10 and peak < 15_000_000, peak


def test_streamed_output_is_what_the_whole_result_renders_to(warehouse, capsys, monkeypatch):
    sql = ("select range as id, range * 1.5 as x, 'r' || range as s, date '2025-03-10' + range::int as d, "
           "[range, 2] as l, null as z, range % 3 = 0 as b, {'k': range, 'e': []} as st, "
           "case when range % 2 = 0 then 'é \"q\" \\ ' || chr(10) else null end as u, range / 7 as f, "
           "case range % 3 when 0 then 'inf'::double when 1 then -0.0 else 1e300 end as g from range(25003) order by id")
    streamed = {}
    for fmt in ("json", "csv"):
        assert main(["query", sql, "--format", fmt]) == 0
        streamed[fmt] = capsys.readouterr().out
    monkeypatch.setattr("python_assets.warehouse.query.BATCH_ROWS", 10**9)  # the whole result in one batch
    for fmt in ("json", "csv"):
        assert main(["query", sql, "--format", fmt]) == 0
        assert capsys.readouterr().out == streamed[fmt]
    rows = json.loads(streamed["json"], parse_float=Decimal)
    assert len(rows) == 25003 and rows[1] == {"id": 1, "x": Decimal("1.5"), "s": "r1", "d": "2025-03-11", "l": [1, 2],
                                              "z": None, "b": False, "st": {"k": 1, "e": []}, "u": None,
                                              "f": Decimal(repr(1 / 7)), "g": Decimal("-0.0")}
    out = streamed["csv"]
    assert out.count("\r\n") == 25004 and out.split("\r\n")[1].startswith("0,0.0,r0,2025-03-10,\"[0, 2]\",,true,")


def test_json_is_json_dumps_layout(warehouse, capsys):
    sql = "select 1 as a, [1.5::double, null] as l, {'k': 'v', 'e': {}} as st, [] as none, 'x' as s"
    assert main(["query", sql, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert out == json.dumps(json.loads(out), indent=2) + "\n"


# a repeated name and a timestamp: the query runs inside a subquery (shape), where `(select ...;)` was a syntax error
WRAPPED = "select id, name, timestamp '2020-01-01' + to_days(id) as ts, id as id, 'é€' as e from t order by id"


@pytest.mark.parametrize("end", [";", " ; -- done", ";;", " -- no end", " -- é ;", "; /* ü€ */"])
@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_closing_semicolon_or_comment_runs_as_without_it(warehouse, capsys, end, fmt):
    assert main(["query", WRAPPED, "--format", fmt]) == 0
    plain = capsys.readouterr().out
    assert main(["query", "/* a */ " + WRAPPED + end, "--format", fmt]) == 0
    assert capsys.readouterr().out == plain


def test_json_gives_a_repeated_column_name_duckdbs_own_distinct_name(warehouse, capsys):
    # json.dumps's dict kept one key per name: `select 1 a, 2 a` lost a column (a self-join: 76 columns -> 56 keys)
    assert main(["query", "select 1 as a, 2 as b, 3 as a, 4 as a_1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"a": 1, "b": 2, "a_1": 3, "a_1_1": 4}]
    assert main(["query", "select 1 as a, 2 as a", "--format", "csv"]) == 0  # CSV and the table keep the names
    assert capsys.readouterr().out.splitlines()[0] == "a,a"


def test_limit_caps_every_format_and_says_so(warehouse, capsys):
    sql = "select range as n from range(30)"
    assert main(["query", sql, "--format", "csv", "--limit", "5"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["n", "0", "1", "2", "3", "4"] and err == "note: the first 5 rows; more not shown (--limit 5)\n"
    assert main(["query", sql, "--format", "json", "--limit", "30"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 30 and err == ""
    assert main(["query", sql, "--limit", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("(the first 3 rows; more not shown")
    assert main(["query", "select range as n from range(10001)"]) == 0
    assert "(the first 10000 rows; more not shown" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["query", sql, "--limit", "0"])


def test_a_closed_pipe_stops_the_query_quietly_and_writes_nothing(warehouse, tmp_path):
    # `query ... | head -2` was a BrokenPipeError traceback saved to last_error.log, exit 1
    import os
    import subprocess
    import sys

    env = {**os.environ, "BLOFIN_DATA_DIR": str(warehouse.data_dir)}
    for fmt in ("csv", "json"):  # the table is one write, which a sandbox's pipe may take whole
        proc = subprocess.Popen([sys.executable, "-m", "blofin_cli", "query", "select range, repeat('x', 2000) as pad from range(300000)",
                                 "--format", fmt], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141 and err == "", err
    assert not (warehouse.data_dir / "last_error.log").exists()
    assert sorted(p.name for p in warehouse.data_dir.iterdir()) == ["warehouse.duckdb"]


@pytest.mark.parametrize("make", ["folder", "text", "empty"])
def test_a_database_that_is_no_duckdb_file_is_bad_input_naming_it(warehouse, tmp_path, capsys, make):
    # exit 1 and DuckDB's IO Error (or 'Cannot launch in-memory database in read-only mode!')
    path = tmp_path / f"not-{make}"
    if make == "folder":
        path.mkdir()
    else:
        path.write_text("hello" if make == "text" else "")
    assert main(["query", "select 1", "--database", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path} is not a DuckDB database file" + (" (a folder or a device)" if make == "folder" else "") + "\n"


def test_a_closed_stdout_is_exit_141_in_every_format(warehouse, monkeypatch, capsys):
    class Closed(Sink):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    for fmt in ("csv", "json", "table"):
        monkeypatch.setattr("sys.stdout", Closed())
        assert main(["query", "select range from range(10)", "--format", fmt]) == 141
    assert capsys.readouterr().err == ""
    assert not (warehouse.data_dir / "last_error.log").exists()


@pytest.mark.parametrize("sql", ["select sum(a.range * b.range) from range(600000) a, range(600000) b",
                                 "select a.range from range(600000) a, range(600000) b order by 1 desc limit 3"])
def test_ctrl_c_stops_a_long_query_at_once_with_exit_130(warehouse, sql):
    # run in the main thread, DuckDB looked at Ctrl-C only between its tasks: such a join ran on for
    # minutes, then ended as `error: RuntimeError: Query interrupted`, exit 1
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "BLOFIN_DATA_DIR": str(warehouse.data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "blofin_cli", "query", sql], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # started (~0.3 s) and inside the query, which takes many minutes
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("Ctrl-C did not stop the query within 15 s")
    assert (proc.returncode, out, err) == (130, "", "interrupted\n")


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_a_reader_that_closes_the_pipe_late_is_exit_141_for_the_table_too(warehouse, fmt):
    # the table was one big write, which could end without an error once the reader had gone: exit 0
    import os
    import shlex
    import subprocess
    import sys

    env = {**os.environ, "BLOFIN_DATA_DIR": str(warehouse.data_dir)}
    query = shlex.join([sys.executable, "-m", "blofin_cli", "query", "select range, repeat('x', 200) as pad from range(9000)",
                        "--format", fmt])
    proc = subprocess.run(["bash", "-c", f"{query} | (sleep 2; head -c 100 >/dev/null); echo ${{PIPESTATUS[0]}}"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (proc.stdout, proc.stderr) == ("141\n", "")


def test_a_closed_stdout_at_start_is_one_line_and_exit_1(warehouse):
    # `blofin-stack query "select 1" >&-`: 'NoneType' has no attribute 'write', then a traceback from entry()'s flush
    import os
    import subprocess
    import sys

    env = {**os.environ, "BLOFIN_DATA_DIR": str(warehouse.data_dir)}
    entry = "import sys; from blofin_cli.main import entry; sys.argv = ['blofin-stack', *sys.argv[1:]]; entry()"
    proc = subprocess.run([sys.executable, "-c", entry, "query", "select 1"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 1
    assert proc.stderr == "error: standard output is closed: redirect it (> FILE or > /dev/null) instead of closing it\n"


def test_query_and_report_say_the_same_line_when_there_is_no_warehouse(data_dir, capsys):
    # query said `run make run first`, report `blofin-stack demo` or `materialize`
    assert main(["query", "select 1"]) == 2
    query_line = capsys.readouterr().err
    assert main(["report", "--date", "2025-03-10"]) == 2
    assert query_line == capsys.readouterr().err
    assert query_line.startswith(f"error: there is no warehouse at {data_dir.warehouse} yet: build it with `blofin-stack demo`")


def test_the_table_escapes_terminal_controls_and_csv_and_json_keep_them(warehouse, capsys):
    # a cell's ESC [2J cleared the screen and ESC ]0;... BEL set the terminal's title; newlines, CR and U+202E
    # (bidi override) broke the alignment or reordered the text shown
    sql = "select chr(27) || '[2J' || chr(27) || ']0;pwned' || chr(7) as e, 'a' || chr(10) || 'b' || chr(13) as nl, " \
          "'x' || chr(8238) || 'y' || chr(0) as \"h\td\""
    assert main(["query", sql]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["e", "nl", "h\\td"]
    assert lines[2].split() == ["\\x1b[2J\\x1b]0;pwned\\x07", "a\\nb\\r", "x\\u202ey\\x00"]
    assert len(lines) == 4 and all(c.isprintable() for line in lines for c in line)
    assert main(["query", sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"e": "\x1b[2J\x1b]0;pwned\x07", "nl": "a\nb\r", "h\td": "x\u202ey\x00"}]


def test_json_decimals_are_exact_numbers(warehouse, capsys):
    # DECIMAL went through float: bars' volume 12346574.845000000030 read 12346574.845, a big one 1.23e+25
    sql = ("select 12346574.845000000030::decimal(38,12) as v, 12345678901234567890123456.5::decimal(38,1) as big, "
           "0::decimal(18,12) as zero, 7.00::decimal(5,2) as whole, [0.10::decimal(4,2)] as l")
    assert main(["query", sql, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert '"v": 12346574.845000000030' in out and '"big": 12345678901234567890123456.5' in out
    assert json.loads(out, parse_float=Decimal) == [{"v": Decimal("12346574.845000000030"),
                                                     "big": Decimal("12345678901234567890123456.5"), "zero": 0,
                                                     "whole": 7, "l": [Decimal("0.10")]}]


def test_values_read_as_duckdb_writes_them_not_as_python_reprs(warehouse, capsys):
    # BLOB as b'\x00..', lists as [1, 2, None] with Decimal('1.5'), interval '1 year' as '360 days, 0:00:00',
    # 'infinity'::timestamp as 9999-12-31T23:59:59.999999, -0.0 as 0, NULL and '' both an empty CSV field
    sql = ("select '\\x00a'::blob as b, [1, null] as l, {'k': 1.5::decimal(2,1)} as st, interval '1 year 2 days' as i, "
           "'infinity'::timestamp as inf, '-infinity'::timestamptz as ninf, 'infinity'::date as dinf, "
           "date '9999-12-31' as real_date, -0.0::double as z, '' as empty, null as nothing, true as t")
    assert main(["query", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "\\x00a,\"[1, NULL]\",{'k': 1.5},1 year 2 days,infinity,-infinity,infinity,9999-12-31,-0.0,\"\",,true")
    assert main(["query", sql]) == 0
    assert capsys.readouterr().out.splitlines()[2].split() == [
        "\\x00a", "[1,", "NULL]", "{'k':", "1.5}", "1", "year", "2", "days", "infinity", "-infinity", "infinity",
        "9999-12-31", "-0", "true"]
    assert main(["query", sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{
        "b": "\\x00a", "l": [1, None], "st": {"k": 1.5}, "i": "1 year 2 days", "inf": "infinity", "ninf": "-infinity",
        "dinf": "infinity", "real_date": "9999-12-31", "z": -0.0, "empty": "", "nothing": None, "t": True}]


def test_a_wrapped_query_keeps_its_order_and_a_trailing_comment(warehouse, capsys):
    sql = "select range as n, [range] as l, now() as at from range(30000) order by (range * 7919) % 30011 desc -- last"
    assert main(["query", sql, "--format", "csv"]) == 0
    got = [int(line.split(",")[0]) for line in capsys.readouterr().out.splitlines()[1:]]
    assert got == sorted(range(30000), key=lambda n: -((n * 7919) % 30011))


def test_json_writes_values_inside_lists_and_structs_as_duckdb_does(warehouse, capsys):
    # nested values went through Python: an infinite timestamp read 9999-12-31T23:59:59.999999, an interval
    # '360 days, 0:00:00' (second review); DuckDB's to_json writes them, decimals stay exact
    sql = ("select [timestamp 'infinity', timestamp '2020-01-02 03:04:05'] l, [interval 360 day] i, "
           "{'a': date '-infinity', 'd': 12345678901234567.25::decimal(38,2)} s, [cast('nan' as double), 1.5] f")
    assert main(["query", sql, "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out, parse_float=Decimal)[0]
    assert row == {"l": ["infinity", "2020-01-02 03:04:05"], "i": ["360 days"],
                   "s": {"a": "-infinity", "d": Decimal("12345678901234567.25")}, "f": [None, Decimal("1.5")]}
