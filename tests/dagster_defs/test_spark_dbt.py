"""The Spark dbt path without starting Spark: the spark target's profile as dbt renders it, what
blofin-dbt-spark sets before dbt starts, its lock on the Spark dir, its command line, and which
profiles.yml targets the Dagster graph runs on (tests/dbt/test_spark_parity.py builds on Spark)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from dbt.config.profile import read_profile
from dbt.config.renderer import ProfileRenderer
from dbt_common.context import set_invocation_context

from dagster_defs.dbt import spark_dbt
from dagster_defs.dbt.project import dbt_engine, target_engine
from dagster_defs.resources import Warehouse
from python_assets.config import DBT_PROJECT_DIR, Paths, SettingError, pin_spark_session_env

AWKWARD_DIR = "/tmp/a b/it's \"q\"\\x"  # a space, a quote, double quotes and a backslash


def spark_profile() -> dict:
    """The spark target of profiles.yml rendered as dbt renders it, with this process's environment."""
    set_invocation_context(dict(os.environ))
    raw = read_profile(str(DBT_PROJECT_DIR))["blofin_stack"]["outputs"]["spark"]
    return ProfileRenderer({}).render_data(raw)


def test_the_java_options_keep_a_spark_dir_with_a_space_in_one_option(monkeypatch):
    """Spark splits extraJavaOptions at spaces outside quotes (shell rules, as shlex): a Spark dir with a space
    once split the option and the JVM took the rest for its main class ("Could not find or load main class")."""
    monkeypatch.setenv("BLOFIN_SPARK_DIR", AWKWARD_DIR)
    options = shlex.split(spark_profile()["server_side_parameters"]["spark.driver.extraJavaOptions"])
    assert options[0] == f"-Dderby.system.home={AWKWARD_DIR}"
    assert options[1:] == ["-Dlog4j2.level=error", "-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m"]


def test_shuffle_partitions_follow_the_cores(monkeypatch):
    monkeypatch.setenv("BLOFIN_SPARK_CORES", "3")
    params = spark_profile()["server_side_parameters"]
    assert (params["spark.master"], params["spark.sql.shuffle.partitions"], params["spark.default.parallelism"]) == (
        "local[3]", "3", "3")


def test_the_spark_dir_is_pinned_absolute_and_pyspark_gets_this_interpreter(monkeypatch, tmp_path):
    """A relative BLOFIN_SPARK_DIR is made absolute against the dbt call's cwd (what the profile and the lock
    then both use); PYSPARK_PYTHON is this interpreter when unset (Spark's workers ran python3 from PATH and
    feat_recursive failed without this venv's packages), kept when set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BLOFIN_SPARK_DIR", "rel/spark")
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    monkeypatch.delenv("BLOFIN_SPARK_CORES", raising=False)
    assert pin_spark_session_env() == tmp_path / "rel" / "spark"
    assert os.environ["BLOFIN_SPARK_DIR"] == str(tmp_path / "rel" / "spark")
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/py/bin/python")
    monkeypatch.delenv("BLOFIN_SPARK_DIR")
    monkeypatch.delenv("BLOFIN_DATA_DIR", raising=False)
    assert pin_spark_session_env() == tmp_path.parent / "data" / "spark"  # the profile's default, ../data
    assert os.environ["PYSPARK_PYTHON"] == "/opt/py/bin/python"


@pytest.mark.parametrize("raw", ["0", "two", "1.5"])
def test_bad_spark_cores_are_one_line_and_exit_2(monkeypatch, tmp_path, capsys, raw):
    monkeypatch.setenv("BLOFIN_SPARK_DIR", str(tmp_path))
    monkeypatch.setenv("BLOFIN_SPARK_CORES", raw)
    assert spark_dbt.main(["run", "--target", "spark"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BLOFIN_SPARK_CORES must be a whole number >= 1" in err


def test_export_without_a_directory_is_one_line_and_exit_2(capsys):
    """`--export` last on the line once raised IndexError with a traceback."""
    assert spark_dbt.main(["build", "--export"]) == 2
    assert spark_dbt.main(["build", "--export", "--select", "x"]) == 2
    assert capsys.readouterr().err == "blofin-dbt-spark: --export needs a directory: --export DIR\n" * 2
    assert spark_dbt.split_export(["build", "--export", "out", "-s", "m"]) == (Path("out"), ["build", "-s", "m"])


class _BarrierSpark:
    """A stand-in SparkSession whose Parquet writes each wait for a second write to start (10 s at most)."""

    def __init__(self) -> None:
        self.barrier, self.written, self.conf = threading.Barrier(2, timeout=10), [], self

    def set(self, key: str, value: str) -> None:
        assert (key, value) == ("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")

    def table(self, name: str):
        return self

    def coalesce(self, n: int):
        return self

    @property
    def write(self):
        return self

    def mode(self, how: str):
        return self

    def parquet(self, path: str) -> None:
        self.barrier.wait()  # BrokenBarrierError when the writes run one after another
        self.written.append(Path(path).name)


def test_the_export_writes_two_models_at_a_time_on_two_cores(monkeypatch, tmp_path):
    """A small model's export is mostly per-job overhead: two side by side on two cores, every model written."""
    import pyspark.sql

    spark = _BarrierSpark()
    monkeypatch.setattr(pyspark.sql.SparkSession, "builder", type("B", (), {"getOrCreate": staticmethod(lambda: spark)}))
    monkeypatch.setenv("BLOFIN_SPARK_CORES", "2")
    spark_dbt.export_models(["a", "b", "c", "d"], "blofin", tmp_path)
    assert sorted(spark.written) == ["a", "b", "c", "d"]


def test_the_warehouse_hands_dbt_an_absolute_spark_dir(monkeypatch, tmp_path):
    """The graph's dbt child runs in dbt_project/: a relative BLOFIN_SPARK_DIR it read itself put the metastore
    inside dbt_project/ while the landing tables went to the caller's dir."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BLOFIN_SPARK_DIR", "relspark")
    paths = Paths(tmp_path / "data")
    paths.data_dir.mkdir()
    duckdb.connect(str(paths.warehouse)).close()
    with Warehouse(engine="spark").dbt_exchange(paths) as args:
        assert os.environ["BLOFIN_SPARK_DIR"] == str(tmp_path / "relspark")
        assert os.environ["BLOFIN_SPARK_LANDING"] == str(tmp_path / "relspark" / "landing")
        assert args == ["--export", str(tmp_path / "relspark" / "export")]
    assert os.environ["BLOFIN_SPARK_DIR"] == "relspark"


HOLD = """
import sys
from pathlib import Path
from dagster_defs.dbt.spark_dbt import lock_spark_dir
with lock_spark_dir(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes it
print("released", flush=True)
"""


def test_a_second_spark_dbt_call_on_one_spark_dir_waits_saying_so_in_one_line(tmp_path):
    """Derby admits one JVM per metastore: a second call at once printed thousands of lines of XSDB6 traces."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(spark_dbt.__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    first = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env)
    assert first.stdout.readline() == "held\n"
    second = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(1.5)
    assert second.poll() is None  # still waiting
    first.stdin.close()
    assert first.wait(timeout=30) == 0
    assert second.stdout.readline() == "held\n"
    out, err = second.communicate(input="", timeout=30)
    assert out == "released\n" and second.returncode == 0
    assert err == f"another Spark dbt call holds {tmp_path}; waiting\n"


OUTPUTS = {"dev": {"type": "duckdb"}, "spark": {"type": "spark", "method": "session"},
           "spark_cluster": {"type": "spark", "method": "thrift"}, "databricks": {"type": "databricks"}}


def test_the_graph_runs_on_duckdb_and_the_local_spark_session_only():
    """A cluster target added to profiles.yml once ran the graph as DuckDB, silently (only the name `spark`
    counted as Spark); now the target's type decides, and a target the graph cannot run on is one line."""
    assert [target_engine(t, "dev", OUTPUTS) for t in (None, "dev", "spark")] == ["duckdb", "duckdb", "spark"]
    assert target_engine("local", "dev", {**OUTPUTS, "local": {"type": "spark", "method": "session"}}) == "spark"
    for name in ("spark_cluster", "databricks"):
        with pytest.raises(SettingError, match=f"BLOFIN_DBT_TARGET='{name}' is a .* target.*by hand") as err:
            target_engine(name, "dev", OUTPUTS)
        assert "\n" not in str(err.value)
    with pytest.raises(SettingError, match=r"'sprak' is not a target of dbt_project/profiles.yml \(its targets: dev, spark,"):
        target_engine("sprak", "dev", OUTPUTS)
    assert (dbt_engine(None), dbt_engine("spark")) == ("duckdb", "spark")  # the project's own profiles.yml
