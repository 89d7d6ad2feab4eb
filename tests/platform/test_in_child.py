"""in_child (python_assets/platform/fanout.py): a call in a spawned child, its result or exception returned here,
the child gone with its caller (the demo generates its market that way, so the run after does not keep it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from python_assets.platform.fanout import in_child

ROOT = Path(__file__).resolve().parents[2]


def test_the_call_runs_in_another_process_and_its_result_or_exception_comes_back():
    assert in_child(os.getpid) != os.getpid()
    assert in_child(divmod, 17, 5) == (3, 2)
    with pytest.raises(ValueError, match="invalid literal"):
        in_child(int, "x")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ignores_sigint(pid: int) -> bool:
    """Whether a process has SIGINT ignored (its SigIgn mask in /proc)."""
    status = (Path("/proc") / str(pid) / "status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_the_child_ends_with_its_caller_interrupted_or_killed(sig):
    """SIGINT as a terminal's Ctrl-C sends it (to the whole process group): the caller's one line, no traceback
    from the child; SIGKILL of the caller alone: the child goes too."""
    code = ("import sys, time\nfrom python_assets.platform.fanout import in_child\n"
            "try:\n    in_child(time.sleep, 60)\nexcept KeyboardInterrupt:\n    print('interrupted', file=sys.stderr)")
    caller = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while not workers and time.monotonic() < deadline:  # the pool's worker (beside spawn's resource tracker)
            workers = [p for p in _children(caller.pid)
                       if "resource_tracker" not in (Path("/proc") / str(p) / "cmdline").read_text()]
            time.sleep(0.1)
        assert workers, "no child process was started"
        while not all(_ignores_sigint(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_ignores_sigint(p) for p in workers)  # a terminal's Ctrl-C is the caller's to handle
        if sig == signal.SIGINT:
            os.killpg(caller.pid, sig)
        else:
            os.kill(caller.pid, sig)
        err = caller.communicate(timeout=30)[1]
        # killed, the caller says nothing (spawn's resource tracker may warn of the pool's semaphores left behind)
        assert (err == "interrupted\n") if sig == signal.SIGINT else "Traceback" not in err, err
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers)
    finally:
        caller.kill()
        caller.wait()
