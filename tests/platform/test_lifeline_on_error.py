"""ended_on_error: a child still running when the block around it fails is ended, not left writing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from python_assets.platform.lifeline import ended_on_error


def test_a_child_still_running_when_the_block_fails_is_ended():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with pytest.raises(OSError, match="No space left"), ended_on_error(child, grace_s=5):
        raise OSError(28, "No space left on device")  # the step's event storage on a full disk
    assert child.poll() is not None


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    with pytest.raises(KeyboardInterrupt), ended_on_error(child, grace_s=0.5):
        raise KeyboardInterrupt
    assert child.returncode == -9


def test_a_block_that_succeeds_leaves_the_child_alone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        with ended_on_error(child, grace_s=5):
            pass
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()
