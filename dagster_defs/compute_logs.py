"""Dagster's local compute logs (a run's or step's stdout/stderr files, shown in the UI), mirrored by a thread.

Dagster's LocalComputeLogManager points fds 1 and 2 at the log files and mirrors each file back to the
original stream with a `tail -F` process and a Python process that watches for orphans: four processes
(two of them Python interpreters, ~11 MiB each) beside every run and, on the multiprocess executor, beside
every step. Here the files are written the same way (the process and its children, dbt, write straight into
them, so a crash loses nothing the file had), and a thread of the capturing process follows each file to
the original stream; when the capture ends it copies what is left to the end of the file (tail, killed at
the end, can drop its last second: dagster-io/dagster#23336). Named by deploy/dagster.yaml and
deploy/dagster-postgres.yaml; the files are where Dagster's default keeps them (<instance root>/storage),
so the UI shows earlier runs' logs too.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from dagster import Field, Float
from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager
from dagster._serdes import ConfigurableClassData
from dagster._utils import ensure_file, touch_file

FOLLOW_SECONDS = 0.2  # how often the mirror looks for new output (tail -F looks every second)
DRAIN_SECONDS = 10.0  # the longest a finished capture waits for its mirror to catch up with the file


class ThreadMirroredComputeLogManager(LocalComputeLogManager):
    """LocalComputeLogManager (same files, same UI) whose mirror to the terminal is a thread, not processes."""

    def __init__(self, polling_timeout: float | None = None, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__("", polling_timeout, inst_data)  # the files' directory is the instance's (_base_dir)

    @property
    def _base_dir(self) -> str:
        """<instance root>/storage, where Dagster's default manager keeps them (no setting, no environment)."""
        return os.path.join(self._instance.root_directory, "storage")

    @_base_dir.setter
    def _base_dir(self, _ignored: str) -> None:  # LocalComputeLogManager.__init__ assigns it
        pass

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"polling_timeout": Field(Float, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: dict[str, Any]) -> ThreadMirroredComputeLogManager:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Generator[CapturedLogContext, None, None]:
        outpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDOUT])
        errpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDERR])
        with mirrored_to_file(sys.stdout, outpath), mirrored_to_file(sys.stderr, errpath):
            yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))  # as Dagster's: the capture is complete


@contextmanager
def mirrored_to_file(stream: IO, path: str) -> Iterator[None]:
    """The stream's fd (and so its child processes' output) appended to path meanwhile, and what path gains
    copied to the stream's original target by a thread; on leaving, the fd is put back and the copy
    finishes. A stream without an fd (a test runner's stub) is not captured, as in Dagster."""
    fd = _fileno(stream)
    if fd is None:
        yield
        return
    ensure_file(path)
    stream.flush()
    original = os.dup(fd)
    with open(path, "ab") as sink:
        start = sink.tell()
        os.dup2(sink.fileno(), fd)
    done = threading.Event()
    follower = threading.Thread(target=_follow, args=(path, start, original, done), daemon=True,
                                name=f"compute-log-mirror-{fd}")
    follower.start()
    try:
        yield
    finally:
        _flush(stream)
        os.dup2(original, fd)
        done.set()
        follower.join(DRAIN_SECONDS)  # the follower closes `original` itself: it may still be writing to it


def _follow(path: str, start: int, target: int, done: threading.Event) -> None:
    """Copy path from offset start to fd target as it grows; once done is set, to its end, then close target.
    A target that refuses a write (a closed terminal, a full disk) loses the mirror, never the file."""
    mirroring = True
    try:
        with open(path, "rb") as source:
            source.seek(start)
            while True:
                finishing = done.is_set()  # read after the flag: nothing written before it is missed
                chunk = source.read(1 << 16)
                if chunk:
                    mirroring = mirroring and _write_all(target, chunk)
                elif finishing:
                    return
                else:
                    done.wait(FOLLOW_SECONDS)
    except OSError:
        return
    finally:
        os.close(target)


def _write_all(fd: int, data: bytes) -> bool:
    """All of data to fd; False when the fd refused it."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        return False
    return True


def _fileno(stream: IO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None


def _flush(stream: IO) -> None:
    try:
        stream.flush()
    except (OSError, ValueError):
        pass
