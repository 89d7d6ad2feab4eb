"""blofin-dbt ends without the teardown of dbt's modules (~0.5 s a call that dagster-dbt waits for) once the
warehouse is closed, its WAL checkpointed into the file (the snapshot copies the file), and with dbt's exit
status and flushed output; where a DuckDB file is still open it exits as the interpreter does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from conftest import dbt_bin, seed_partial_parse
from test_instruments import D0, write_snapshot

from python_assets.config import DBT_PROJECT_DIR, DBT_SERVER_ENV, REPO_ROOT, Paths


def own_dbt(paths: Paths, *args: str) -> subprocess.CompletedProcess:
    """blofin-dbt running dbt itself (no warm server: the process that ends as dbt ends)."""
    target = paths.data_dir / "dbt_target"
    seed_partial_parse(target)
    env = {k: v for k, v in os.environ.items() if k != DBT_SERVER_ENV} | {"BLOFIN_DATA_DIR": str(paths.data_dir)}
    return subprocess.run([dbt_bin(), *args, "--profiles-dir", ".", "--target-path", str(target), "--log-path",
                           str(paths.data_dir / "dbt_logs")], cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)


def test_a_call_ends_with_dbts_status_its_output_flushed_and_the_warehouse_checkpointed(data_dir: Paths):
    good = ("BTC-USDT", D0 + 60_000, 0.001, 1.0, 1.0, 0.1, 100.0, 8, "live")
    write_snapshot(data_dir, "2025-03-10", [good])
    built = own_dbt(data_dir, "build", "--select", "stg_instruments", "dim_instruments")
    assert built.returncode == 0, built.stdout[-3000:]
    assert "Completed successfully" in built.stdout
    assert not data_dir.warehouse.with_name(data_dir.warehouse.name + ".wal").exists()
    # dbt's debug file log, closed by the exit handlers: its last event is the command's end (no usage events are
    # sent after it: dbt_project.yml's flags)
    log = (data_dir.data_dir / "dbt_logs" / "dbt.log").read_text()
    assert "Command `dbt build` succeeded" in log.splitlines()[-2] and "Flushing usage events" in log.splitlines()[-1]
    assert "Sending event" not in log and "error was encountered while trying to flush" not in log
    write_snapshot(data_dir, "2025-03-10", [good, ("ETH-USDT", D0, 0.01, 0.0, 1.0, 0.01, 50.0, 8, "live")])
    failed = own_dbt(data_dir, "build", "--select", "stg_instruments")
    assert failed.returncode == 1 and "stg_instruments_row_rules" in failed.stdout
    assert own_dbt(data_dir, "build", "--no-such-option").returncode == 2


PROBE = textwrap.dedent("""
    import atexit, builtins, sys
    from pathlib import Path
    import duckdb
    from dagster_defs.dbt.duckdb_dbt import end_without_teardown
    here, mode = Path(sys.argv[1]), sys.argv[2]

    class Late:  # finalized only by the interpreter's teardown
        def __del__(self):
            (here / "torn_down").write_text("yes")

    builtins._probe = Late()
    atexit.register(lambda: (here / "exit_handlers").write_text("yes"))
    con = duckdb.connect(str(here / "w.db"))  # a warehouse of another name (BLOFIN_WAREHOUSE): its WAL is w.db.wal
    con.execute("create table t as select range as i from range(100000)")
    if mode == "garbage":  # what the adapter leaves: reachable from nothing, in a cycle
        class Holder: pass
        h = Holder(); h.me = h; h.con = con
        del h, con
    end_without_teardown(SystemExit(3))
    print("returned")
""")


def test_the_teardown_is_skipped_only_once_every_duckdb_file_is_closed(tmp_path):
    for mode in ("garbage", "held"):
        here = tmp_path / mode
        here.mkdir()
        done = subprocess.run([sys.executable, "-c", PROBE, str(here), mode], cwd=REPO_ROOT, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        left = sorted(p.name for p in here.iterdir())
        if mode == "garbage":  # closed by the collection: dbt's status, exit handlers run, no teardown, no WAL
            assert (done.returncode, done.stdout, left) == (3, "", ["exit_handlers", "w.db"]), done.stderr
        else:  # still open: back to the caller, then the interpreter's own exit (teardown; the WAL checkpointed)
            assert (done.returncode, done.stdout.strip()) == (0, "returned") and left == ["exit_handlers", "torn_down",
                                                                                        "w.db"], done.stderr
