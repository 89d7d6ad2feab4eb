"""Peak memory of a process tree: a process and every live descendant, their resident memory summed by a
background thread every interval_s while a block runs, beside each one's own high-water mark. The CLI prints
it after a run and the bench records it. A process's own peak, or its largest child's, misses the others
running beside it: the CLI once printed max(itself, largest child) = 612 MiB where the tree held ~1,200.
Members that share pages (a fork server and the children it forked) count by their proportional share (Pss).
Linux /proc only; elsewhere nothing is sampled and the summary says so."""

from __future__ import annotations

import os
import resource
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from python_assets.platform.processes import stat_fields

FORK_EXEC_S = 1.0  # a subprocess start takes milliseconds between its fork and its exec
SAMPLE_S = 0.1  # the CLI's interval: a /proc pass costs ~1 ms, and dbt or a model fit lives seconds
PSS_EVERY = 5  # samples between readings of Pss (~5 ms a process) for the members that share pages


@dataclass
class TreeMemory:
    """Peak memory (MiB) of a process tree over a block, filled while it runs: sampled_mib, the largest summed
    RSS seen at a sample (members that share pages by their proportional share: tree_mib_now); root_hwm_mib and
    child_hwm_mib, the root's and the largest descendant's own high-water marks (VmHWM: exact, and unlike
    ru_maxrss not inherited from the launching process across fork and exec)."""

    root: int
    interval_s: float
    sampled_mib: float = 0.0
    root_hwm_mib: float = 0.0
    child_hwm_mib: float = 0.0
    samples: int = 0
    readings: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)  # tree_mib_now's

    @property
    def tree_mib(self) -> float:
        """The tree's peak: the largest sample, and never below a member's own exact peak (a spike between samples)."""
        return max(self.sampled_mib, self.root_hwm_mib, self.child_hwm_mib)

    @property
    def bound_mib(self) -> float:
        """An upper bound when one child runs at a time: root and largest child, each at its own peak."""
        return max(self.sampled_mib, self.root_hwm_mib + self.child_hwm_mib)

    def as_dict(self) -> dict[str, float]:
        """The bench's record of it (bench/results.json keeps these names)."""
        return {"sampled_mib": self.sampled_mib, "root_hwm_mib": self.root_hwm_mib,
                "child_hwm_mib": self.child_hwm_mib, "peak_mib": self.bound_mib}

    def summary(self) -> str:
        """The CLI's line: the tree's peak first (what a host must hold), then the processes' own peaks."""
        if not self.samples:
            return (f"peak memory: this process {own_peak_mib():,.0f} MiB (the process tree cannot be sampled here: "
                    f"dbt and model training run beside it)")
        return (f"peak memory: {self.tree_mib:,.0f} MiB (process tree, sampled every {self.interval_s:g} s); "
                f"this process {self.root_hwm_mib:,.0f} MiB, largest child {self.child_hwm_mib:,.0f} MiB "
                f"(each its own peak)")


def process_status_mib(field: str, pid: int | str = "self") -> float | None:
    """A kB field of /proc/<pid>/status in MiB: VmRSS (now) or VmHWM (the process's own peak; unlike
    ru_maxrss, which Linux carries over from the launching process across fork and exec, so a CLI
    started by a big process would report that one's). None where /proc cannot say."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith(field + ":"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def own_peak_mib() -> float:
    """This process's peak resident memory (MiB): its VmHWM, else ru_maxrss (KiB on Linux, bytes on macOS)."""
    own = process_status_mib("VmHWM")
    if own is not None:
        return own
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


@dataclass(frozen=True)
class Member:
    """A process of the tree: its parent, and whether it still runs its parent's command line (a fork not exec'd)."""

    parent: int | None
    forked: bool


def tree_members(root: int) -> dict[int, Member]:
    """The pid and all its live descendants, from /proc, less any caught between its fork and its exec (forked,
    started under FORK_EXEC_S ago): it shares the parent's pages, and counting its RSS again would read a
    subprocess start as a moment of twice the parent's memory. A fork that lives on without exec (a fork-based
    worker) is counted once it is older. Each process's parent and command line are read once a pass."""
    parent = {int(entry): _parent(int(entry)) for entry in os.listdir("/proc") if entry.isdigit()}
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    members = {p: Member(parent.get(p), p != root and _same_command(p, parent.get(p))) for p in tree}
    return {p: m for p, m in members.items() if p == root or not (m.forked and _started_under(p, FORK_EXEC_S))}


def process_tree(root: int) -> set[int]:
    """The pids of tree_members(root)."""
    return set(tree_members(root))


def _started_under(pid: int, seconds: float) -> bool:
    """Whether pid started under `seconds` ago (False where /proc cannot say)."""
    try:
        started = int((stat_fields(pid) or [])[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as fh:
            return float(fh.read().split()[0]) - started < seconds
    except (OSError, IndexError, ValueError):
        return False


def _same_command(pid: int, ppid: int | None) -> bool:
    """Whether pid runs its parent's command line: a fork that has not exec'd (False where either is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as a, open(f"/proc/{ppid}/cmdline", "rb") as b:
            return a.read() == b.read()
    except OSError:
        return False


def _parent(pid: int) -> int | None:
    """pid's parent from /proc (None for a process gone)."""
    try:
        return int((stat_fields(pid) or [])[1])
    except (IndexError, ValueError):
        return None


def read_members(pids: set[int]) -> dict[int, Member]:
    """Each pid's Member, read from /proc (tree_members reads a tree's while it walks it)."""
    members = {}
    for pid in pids:
        parent = _parent(pid)
        members[pid] = Member(parent, _same_command(pid, parent))
    return members


def sharing_pages(members: dict[int, Member]) -> set[int]:
    """The members that share pages with another member: each fork living on without exec (a fork server's
    children, a fork-based worker) and the parent it was forked from."""
    return {pid for child, m in members.items() if m.forked and m.parent in members for pid in (child, m.parent)}


def _pss_mib(pid: int) -> float:
    """pid's proportional set size (MiB): its private pages and its share of those it shares (smaps_rollup walks
    its page tables: ~5 ms for a 700 MiB process, so only where pages are shared); its RSS where Pss is not given."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("Pss:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return _mib(pid, "VmRSS")


def tree_mib_now(members: dict[int, Member], readings: dict[int, tuple[float, float]] | None = None,
                 fresh: bool = True) -> float:
    """The tree's memory now: each member's RSS, but members that share pages (sharing_pages) by their proportional
    share, or the pages a fork server and its children share would be counted once per process (a dbt call
    forked from the warm dbt server: ~190 MiB counted twice). readings: each such member's last (Pss, RSS);
    unless fresh, a member read before counts as that Pss plus the RSS it grew since (smaps_rollup costs ~5 ms
    a process: the sampler reads it every PSS_EVERY samples). A fresh reading drops the readings of processes no
    longer sharing (gone: their pid could come back as another fork's)."""
    sharing, total = sharing_pages(members), 0.0
    if fresh and readings is not None:
        for gone in set(readings) - sharing:
            del readings[gone]
    for pid in members:
        rss = _mib(pid, "VmRSS")
        if pid not in sharing:
            total += rss
        elif fresh or readings is None or pid not in readings:
            pss = _pss_mib(pid)
            if readings is not None:
                readings[pid] = (pss, rss)
            total += pss
        else:
            pss, then = readings[pid]
            total += pss + max(0.0, rss - then)
    return total


def _mib(pid: int, field: str) -> float:
    """process_status_mib, 0 for a process gone between listing and reading."""
    return process_status_mib(field, pid) or 0.0


def sample(mem: TreeMemory) -> None:
    """One pass over the tree: its summed RSS now, and each member's high-water mark so far (also after the
    block, for what the root did since: a high-water mark keeps it)."""
    root = mem.root
    if not os.path.exists(f"/proc/{root}/status"):
        return
    members = tree_members(root)
    now = tree_mib_now(members, mem.readings, fresh=mem.samples % PSS_EVERY == 0)
    mem.sampled_mib = max(mem.sampled_mib, now)
    mem.root_hwm_mib = max(mem.root_hwm_mib, _mib(root, "VmHWM"))
    mem.child_hwm_mib = max([mem.child_hwm_mib, *(_mib(p, "VmHWM") for p in members if p != root)])
    mem.samples += 1


@contextmanager
def tree_peak_memory(pid: int | None = None, interval_s: float = SAMPLE_S) -> Iterator[TreeMemory]:
    """Peak memory of the process tree under pid (default: this one) while the block runs, sampled by a daemon
    thread; the TreeMemory it yields is final once the block ends. Nothing is sampled without /proc."""
    mem, stop = TreeMemory(pid or os.getpid(), interval_s), threading.Event()
    if not os.path.exists(f"/proc/{mem.root}/status"):
        yield mem
        return

    def loop() -> None:
        while True:
            sample(mem)
            if stop.wait(interval_s):
                return

    thread = threading.Thread(target=loop, name="tree-memory", daemon=True)
    thread.start()
    try:
        yield mem
    finally:
        stop.set()
        thread.join()
        sample(mem)  # the last moments, up to the block's end
