"""in_child (python_assets/platform/fanout.py): a call in a child process, its result or exception returned here,
the child gone with its caller (the demo generates its market that way, so the run after does not keep it).
Every case runs twice: the child an interpreter of its own, and forked by the test process's warm server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import alive, children_of, wait_until

from blofin_cli.errors import describe
from python_assets.config import DBT_SERVER_ENV
from python_assets.platform.fanout import in_child

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, params=["own", "served"])
def serving(request, monkeypatch) -> int | None:
    """The child an interpreter of its own (no server named: None), or forked by the test process's warm server
    (dagster_defs/dbt/warm_dbt.py, listening: its pid)."""
    if request.param == "own":
        monkeypatch.delenv(DBT_SERVER_ENV, raising=False)
        return None
    server = request.getfixturevalue("warm_dbt_server")
    if server is None:
        pytest.skip("the test process was given a server of its own, or none can serve here")
    socket_path = Path(os.environ[DBT_SERVER_ENV])
    assert wait_until(socket_path.exists, 120), "the warm server never listened"
    return server.pid


def call_children(caller: int, serving: int | None, before: set[int]) -> list[int]:
    """The children running a caller's in_child calls: its own, or those the server forked since `before`."""
    return children_of(caller) if serving is None else sorted(set(children_of(serving)) - before)


def server_children(serving: int | None) -> set[int]:
    return set(children_of(serving)) if serving is not None else set()


def test_the_call_runs_in_another_process_and_its_result_or_exception_comes_back(serving):
    assert in_child(os.getpid) != os.getpid()
    assert in_child(os.getppid) == (serving or os.getpid())  # served: forked by the server, not started here
    assert in_child(divmod, 17, 5) == (3, 2)
    with pytest.raises(ValueError, match="invalid literal") as raised:
        in_child(int, "x")
    # as if raised here: the CLI's one line names it (not a remote traceback chained to it)
    assert describe(raised.value) == "ValueError: invalid literal for int() with base 10: 'x'"


def test_large_arrays_travel_both_ways_and_a_child_without_a_result_says_how_it_ended():
    import threading

    import numpy as np

    big = np.arange(6_000_000, dtype=np.float64)  # 48 MB each way
    assert np.array_equal(in_child(np.negative, big), -big)
    with pytest.raises(ChildProcessError, match=r"_exit ended in its child process \(exit code 3\) without a result"):
        in_child(os._exit, 3)
    with pytest.raises(RuntimeError, match="result cannot be sent back"):
        in_child(threading.Lock)


def test_no_resource_tracker_is_left_beside_the_caller():
    """multiprocessing's spawn would start its resource tracker, a process of its own for the rest of the
    caller's life (the demo's whole run, or a dbt call's): in_child does without it."""
    code = ("import multiprocessing.resource_tracker as rt\nfrom python_assets.platform.fanout import in_child\n"
            "assert in_child(divmod, 7, 2) == (3, 1)\nprint('tracker', rt._resource_tracker._pid)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "tracker None", out.stderr[-2000:]


def exit_slowly(marker: str) -> int:
    """Returns at once; the child's interpreter then spends half a second in an atexit handler that ends by
    writing marker (numba, torch and colorama have exit handlers too)."""
    import atexit

    atexit.register(lambda: (time.sleep(0.5), Path(marker).write_text("exited")))
    return 7


def leave_for_teardown(marker: str) -> int:
    """Returns at once, leaving an object that only the interpreter's teardown would finalize (writing marker),
    and text on stdout that nothing flushed yet."""
    import builtins

    class Late:
        def __del__(self) -> None:
            Path(marker).write_text("torn down")

    builtins._in_child_probe = Late()  # lives until the interpreter's teardown clears the builtins
    sys.stdout.write("said, not flushed")
    return 8


class OddError(Exception):
    """Pickles, but does not unpickle (its __init__ takes two arguments, its args hold one)."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}-{b}")


def raise_odd() -> None:
    raise OddError(1, 2)


def array_then_lock() -> list:
    """A result whose first part pickles (a large array, streamed to the caller) and whose last part does not."""
    import threading

    import numpy as np

    return [np.ones(1_000_000), threading.Lock()]


def test_a_child_that_sent_its_result_exits_on_its_own_and_bad_transfers_say_so(tmp_path, capfd):
    """A child is not sent SIGTERM once it has answered (its exit handlers run: no 'SystemExit: 143' traceback
    in the caller's output); arguments that fail to pickle half-way end the child quietly; a result that does
    not unpickle here is a ChildProcessError naming it."""
    import numpy as np

    marker = tmp_path / "exited"
    assert in_child(exit_slowly, str(marker)) == 7 and marker.read_text() == "exited"
    with pytest.raises(Exception, match="pickle|local object"):
        in_child(len, [np.ones(1_000_000), lambda: 1])  # the array goes out, then the lambda cannot
    with pytest.raises(ChildProcessError, match=r"raise_odd ended in its child process \(exit code 0\) with a result "
                                                 r"that cannot be read here \(TypeError"):
        in_child(raise_odd)
    with pytest.raises(ChildProcessError, match=r"array_then_lock ended in its child process \(exit code 5\)"):
        in_child(array_then_lock)  # streamed, then cut: the caller says so instead of unpickling half a result
    assert "Traceback" not in capfd.readouterr().err


def test_a_child_that_answered_skips_the_teardown_of_its_modules_but_flushes_what_it_said(tmp_path, capfd):
    """The caller waits for its child to exit, and a child that imported torch, xgboost and numba spent ~0.7 s
    tearing its modules down after answering: it now ends after its exit handlers (above) and a flush of its
    streams, without the teardown (an object only that would finalize stays unfinalized)."""
    marker = tmp_path / "torn_down"
    assert in_child(leave_for_teardown, str(marker)) == 8
    assert not marker.exists()
    assert "said, not flushed" in capfd.readouterr().out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("stop", ["kill", "interrupt"])
def test_a_caller_gone_or_interrupted_while_its_child_starts(stop, serving):
    """The caller SIGKILLed, or the terminal's Ctrl-C sent to its process group, while the child's interpreter
    is still starting: the child does not outlive the caller (it checks the pid it was given, not the
    parent it finds once started) and prints nothing (it starts in a process group of its own, and joins the
    caller's only once it ignores SIGINT)."""
    code = ("import sys, time\nfrom python_assets.platform.fanout import in_child\n"
            "try:\n    in_child(time.sleep, 30)\nexcept KeyboardInterrupt:\n    print('interrupted', file=sys.stderr)")
    before = server_children(serving)
    caller = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert wait_until(lambda: call_children(caller.pid, serving, before), 30), "no child started"
        child = call_children(caller.pid, serving, before)[0]
        if stop == "kill":
            os.kill(caller.pid, signal.SIGKILL)
        else:
            os.killpg(caller.pid, signal.SIGINT)
        err = caller.communicate(timeout=30)[1]
        assert err == ("" if stop == "kill" else "interrupted\n"), err
        assert wait_until(lambda: not alive(child), 10), "the child outlived its caller"
    finally:
        caller.kill()
        caller.wait()


def slow_write(tmp: str) -> None:
    """A write callback for replace_atomic that stays inside the write (its temp file on disk) for a minute."""
    Path(tmp).write_text("partial")
    time.sleep(60)


def _ignores_sigint(pid: int) -> bool:
    """Whether a process has SIGINT ignored (its SigIgn mask in /proc)."""
    status = (Path("/proc") / str(pid) / "status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_ctrl_z_of_the_callers_job_stops_the_child_and_continuing_resumes_it(serving):
    """The terminal's SIGTSTP goes to the foreground process group: the child, started in a group of its own, ran on
    through a Ctrl-Z of the run (a served one follows its server's stops: test_run_dbt_server)."""
    from python_assets.platform.processes import process_state

    if serving is not None:
        pytest.skip("a served child is stopped by its server, which follows the run it was started for")
    code = "import time\nfrom python_assets.platform.fanout import in_child\nin_child(time.sleep, 600)"
    caller = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              process_group=0)  # its own job, as a shell starts one (not orphaned: SIGTSTP counts)
    try:
        assert wait_until(lambda: call_children(caller.pid, None, set()), 30), "no child started"
        (child,) = call_children(caller.pid, None, set())
        assert wait_until(lambda: os.getpgid(child) == caller.pid, 10)  # in the caller's job once started
        os.killpg(caller.pid, signal.SIGTSTP)  # Ctrl-Z
        assert wait_until(lambda: process_state(child) == "T" and process_state(caller.pid) == "T", 10)
        os.killpg(caller.pid, signal.SIGCONT)  # fg
        assert wait_until(lambda: process_state(child) not in ("T", ""), 10), process_state(child)
    finally:
        caller.kill()
        caller.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_the_child_ends_with_its_caller_interrupted_or_killed(sig, tmp_path, serving):
    """SIGINT as a terminal's Ctrl-C sends it (to the whole process group) while the child is inside an atomic
    lake write: the caller's one line, no traceback from the child, no temp file left (the child unwinds);
    SIGKILL of the caller alone: the child goes too, and nothing is printed."""
    target = tmp_path / "day" / "trades.parquet"
    code = (f"import sys\nsys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[1])!r}]\n"
            "from pathlib import Path\n"
            "from python_assets.lake.atomic import replace_atomic\nfrom python_assets.platform.fanout import in_child\n"
            "from test_in_child import slow_write\n"
            f"try:\n    in_child(replace_atomic, Path({str(target)!r}), slow_write)\n"
            "except KeyboardInterrupt:\n    print('interrupted', file=sys.stderr)")
    before = server_children(serving)
    caller = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        temp_files = lambda: [p for p in target.parent.glob(".tmp-*")] if target.parent.exists() else []  # noqa: E731
        assert wait_until(temp_files), "the child never reached its write"
        workers = [p for p in call_children(caller.pid, serving, before) if "resource_tracker" not in (Path("/proc") / str(p) / "cmdline").read_text()]
        assert workers and all(_ignores_sigint(p) for p in workers)  # a terminal's Ctrl-C is the caller's to handle
        if sig == signal.SIGINT:
            os.killpg(caller.pid, sig)
        else:
            os.kill(caller.pid, sig)
        err = caller.communicate(timeout=30)[1]
        assert err == ("interrupted\n" if sig == signal.SIGINT else ""), err
        assert wait_until(lambda: not any(alive(p) for p in workers), 15)
        if sig == signal.SIGINT:
            assert temp_files() == [] and not target.exists()
    finally:
        caller.kill()
        caller.wait()


def write_progress(text: str) -> None:
    from python_assets.platform.progress import console_fd

    os.write(console_fd(), text.encode())


def test_the_childs_progress_goes_to_the_callers_console_not_its_redirected_stdout(capfd):
    """A CLI run sends fds 1 and 2 to its log and keeps the terminal for progress bars (set_console_fd): a
    child's bars reach that terminal too; without one they go to stdout, as in the caller."""
    from python_assets.platform.progress import set_console_fd

    read, write = os.pipe()
    set_console_fd(write)
    try:
        in_child(write_progress, "tuning 3/9\n")
    finally:
        set_console_fd(None)
        os.close(write)
    with os.fdopen(read) as console:
        assert console.read() == "tuning 3/9\n"
    assert "tuning" not in capfd.readouterr().out
    in_child(write_progress, "plain 1/2\n")
    assert capfd.readouterr().out == "plain 1/2\n"


def test_an_exception_from_the_child_carries_the_childs_traceback():
    """Raised again here as the child raised it, with where it was raised in the child as a note (the
    traceback itself does not travel), so a failed step's log still shows the failing line."""
    import traceback

    with pytest.raises(ZeroDivisionError) as caught:
        in_child(divmod, 1, 0)
    assert str(caught.value) == "integer division or modulo by zero"  # the one line is unchanged
    shown = "".join(traceback.format_exception(caught.value))
    assert "in in_child's child process:" in shown and "_child_main" in shown


def surroundings() -> tuple:
    """What a child takes from its caller at call time."""
    mask = os.umask(0)
    os.umask(mask)
    return os.environ.get("BLOFIN_DATA_DIR"), os.environ.get("IN_CHILD_PROBE"), os.getcwd(), mask, sys.path[0]


def test_the_child_has_the_callers_environment_directory_umask_and_path_at_call_time(tmp_path, monkeypatch):
    """Not the server's (started long before, elsewhere): a step's BLOFIN_DATA_DIR is set just before its calls."""
    monkeypatch.setenv("BLOFIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IN_CHILD_PROBE", "caller")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "extra"))
    mask = os.umask(0o027)
    try:
        assert in_child(surroundings) == (str(tmp_path), "caller", str(tmp_path), 0o027, str(tmp_path / "extra"))
    finally:
        os.umask(mask)


def test_a_server_that_does_not_answer_leaves_the_child_to_this_process(serving, tmp_path, monkeypatch):
    monkeypatch.setenv(DBT_SERVER_ENV, str(tmp_path / "nobody-listens"))
    assert in_child(os.getppid) == os.getpid()


def fresh_state() -> tuple:
    """A child's numpy draw, then what a fresh interpreter has of its own once it imported what the warm server
    imports for in_child (their warnings filters come with them): sys.argv's shape, the warnings filters (their
    order follows the order of imports, this module's first), root logger handlers."""
    import logging
    import warnings

    import numpy as np
    import torch

    from dagster_defs.dbt.warm_dbt import warm_up_in_child

    warm_up_in_child()  # in a child of its own: the server's imports (in a served one: done already)
    return ((float(np.random.random()), float(torch.rand(1).item())), sys.argv[0], len(sys.argv), sorted(map(repr, warnings.filters)),
            [repr(handler) for handler in logging.root.handlers])


@pytest.mark.parametrize("serving", ["served"], indirect=True)  # it compares served children with one of its own
def test_a_served_child_starts_as_a_child_of_its_own_would(serving, monkeypatch):
    """Forked from the warm server, a child does not share the server's numpy or torch draws (each sibling drew
    the same numbers), nor its sys.argv, nor what dbt's warm-up left (its warnings filters, a root logging handler)."""
    first, second = in_child(fresh_state), in_child(fresh_state)
    monkeypatch.delenv(DBT_SERVER_ENV)
    own = in_child(fresh_state)
    assert first[0][0] != second[0][0] and first[0][1] != second[0][1]
    assert first[1:] == second[1:] == own[1:]
    assert own[1:3] == ("-c", 5)
