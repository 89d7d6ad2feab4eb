"""Dagster's local compute logs (a run's or step's stdout/stderr files, shown in the UI), mirrored by a thread.

Dagster's LocalComputeLogManager points fds 1 and 2 at the log files and mirrors each file back to the
original stream with a `tail -F` process and a Python process that watches for orphans: four processes
(two of them Python interpreters, ~11 MiB each) beside every run and, on the multiprocess executor, beside
every step. Here the files are written the same way (the process and its children, dbt, write straight into
them, so a crash loses nothing the file had), and a thread of the capturing process follows each file to
the original stream; when the capture ends it copies what is left to the end of the file (tail, killed at
the end, can drop its last second: dagster-io/dagster#23336). A process killed outright (kill -9, the OOM
killer) loses at most the mirror's last FOLLOW_SECONDS, never what the file had; a target that takes
nothing for STALL_SECONDS (a pipe nobody reads, a terminal paused by Ctrl-S) is left behind without
holding the run (a piece of at most PIPE_BUF bytes already handed to a paused terminal shows when it
resumes). Named by deploy/dagster.yaml and
deploy/dagster-postgres.yaml; the files are where Dagster's default keeps them (<instance root>/storage),
so the UI shows earlier runs' logs too.
"""

from __future__ import annotations

import os
import select
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

FOLLOW_SECONDS = 0.05  # how often the mirror looks for new output (tail -F looks every second)
STALL_SECONDS = 1.0  # a mirror target that takes nothing this long is left behind (the file has everything)


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
    copied to the stream's original target by a thread; on leaving, the fd is put back and the copy runs to
    the file's end. A target that takes nothing for STALL_SECONDS (a pipe nobody reads, a paused terminal)
    loses the rest of the mirror, never the file, and does not hold the run. A stream without an fd (a test
    runner's stub) is not captured, as in Dagster."""
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
    mirror = Mirror(path, start, os.dup(original))  # the thread's own fd: it closes it, we keep ours
    follower = threading.Thread(target=mirror.follow, daemon=True, name=f"compute-log-mirror-{fd}")
    follower.start()
    try:
        yield
    finally:
        _flush(stream)
        os.dup2(original, fd)
        os.close(original)
        mirror.done.set()
        mirror.wait_for(follower)


class Mirror:
    """Copies a growing file to an fd from an offset, in pieces the fd takes without blocking for long."""

    def __init__(self, path: str, start: int, target: int) -> None:
        self.path, self.start, self.target = path, start, target
        self.done, self.abandoned = threading.Event(), threading.Event()
        self.copied = 0

    def follow(self) -> None:
        """Copy as the file grows; once done is set, to its end; stop early when the target takes nothing
        for STALL_SECONDS or refuses a write (a closed terminal, a full disk). Closes the target."""
        try:
            with open(self.path, "rb") as source:
                source.seek(self.start)
                while not self.abandoned.is_set():
                    finishing = self.done.is_set()  # read after the flag: nothing written before it is missed
                    chunk = source.read(1 << 16)
                    if chunk:
                        if not self._copy(chunk):
                            return
                    elif finishing:
                        return
                    else:
                        self.done.wait(FOLLOW_SECONDS)
        except OSError:
            return
        finally:
            os.close(self.target)

    def _copy(self, data: bytes) -> bool:
        """data to the target in pieces of at most PIPE_BUF bytes, each once the target can take it (a
        pipe or terminal with room takes such a piece without blocking); False when it stalls or fails."""
        poller = select.poll()
        poller.register(self.target, select.POLLOUT)
        view = memoryview(data)
        try:
            while view:
                if self.abandoned.is_set() or not poller.poll(STALL_SECONDS * 1000):
                    return False
                written = os.write(self.target, view[:select.PIPE_BUF])
                view, self.copied = view[written:], self.copied + written
        except OSError:
            return False
        return True

    def wait_for(self, follower: threading.Thread) -> None:
        """Until the follower has copied to the file's end, as long as it keeps copying; a target it has
        copied nothing to for STALL_SECONDS is left behind (its follower stops before the next piece)."""
        copied = -1
        while follower.is_alive():
            follower.join(STALL_SECONDS)
            if follower.is_alive() and self.copied == copied:
                self.abandoned.set()
                return
            copied = self.copied


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
