"""Whether a process a run recorded is still the one that started: its pid may be gone (killed, the host
rebooted) or taken by a later process (pids are reused)."""

from __future__ import annotations

import os

START_SLACK_S = 2.0  # /proc's boot time is whole seconds and a start time is clock ticks: allow for both


def _boot_time(stat_path: str = "/proc/stat") -> float | None:
    try:
        with open(stat_path) as fh:
            return next(float(line.split()[1]) for line in fh if line.startswith("btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (the state letter first, then the parent's pid, ...; field
    N of proc(5) is [N - 3]), or None where /proc cannot say. One unbuffered read: samplers call it often."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        text = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    return text[text.rfind(b")") + 2:].decode("ascii", "replace").split()  # the name may hold spaces and ')'


def process_state(pid: int) -> str:
    """pid's state letter (R, S, T: stopped, Z: zombie, ...), '' where /proc cannot say (gone)."""
    fields = stat_fields(pid)
    return fields[0] if fields else ""


def process_start_time(pid: int) -> tuple[float | None, str | None]:
    """(when pid started as epoch seconds, its state letter) from /proc, or (None, None) where /proc cannot say."""
    fields = stat_fields(pid)
    if fields is None:
        return None, None
    boot = _boot_time()
    try:
        ticks = int(fields[19])  # field 22 of stat: start time in clock ticks after boot
        state = fields[0]
    except (IndexError, ValueError):
        return None, None
    if boot is None:
        return None, state
    return boot + ticks / os.sysconf("SC_CLK_TCK"), state


def process_gone(pid: int, started_by: float) -> bool:
    """Whether the process `pid` that was running at `started_by` (epoch seconds) has ended: no such pid,
    a zombie, or a pid a process started after `started_by` holds now (a reused pid, a rebooted host).
    A pid alive under another user counts as alive."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    start, state = process_start_time(pid)
    if state == "Z":
        return True
    return start is not None and start > started_by + START_SLACK_S
