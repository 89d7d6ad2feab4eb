"""Progress on the console while a run works: one line per finished step (dbt's `N of M OK name
[1.2s]`), and a bar for long loops (a redrawn line on a TTY, plain lines otherwise) with an ETA.
Lines go to the console even while a CLI run sends stdout/stderr to its log file (see `console_fd`)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from python_assets.reports.fmt import duration, number

T = TypeVar("T")
_console: dict[str, int] = {}  # "fd": the terminal's stdout saved by runner.output_to while it redirects 1 and 2


def console_fd() -> int:
    """The fd progress writes to: the saved terminal while output is redirected, else stdout."""
    return _console.get("fd", 1)


def set_console_fd(fd: int | None) -> None:
    """Point progress at a saved terminal fd (None: back to stdout)."""
    if fd is None:
        _console.pop("fd", None)
    else:
        _console["fd"] = fd


def is_tty() -> bool:
    try:
        return os.isatty(console_fd())
    except OSError:
        return False


def say(text: str, end: str = "\n") -> None:
    """Write one line to the console (unbuffered; never raises)."""
    try:
        os.write(console_fd(), (text + end).encode())
    except OSError:
        pass


def step_line(done: int, total: int, name: str, seconds: float, rows: int | None = None, eta: float | None = None,
              status: str = "OK", note: str | None = None) -> str:
    """'  3 of 12 OK bars_1m ........ 1,440 rows [1.2s]' (an ETA for the rest when given); status WARN or ERROR
    and a note ('did not pass') for a step that finished but whose asset check did not pass."""
    width = len(str(total))
    text = f"{done:>{width}} of {total} {status} {name} "
    text = (text.ljust(56, ".") + (f" {number(rows)} rows" if rows is not None else "") + (f" {note}" if note else "")
            + f" [{duration(seconds)}]")
    return text + (f" ETA {duration(eta)}" if eta is not None and done < total else "")


def eta_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Remaining seconds at the mean pace so far (None before the first item)."""
    return None if done <= 0 else elapsed / done * (total - done)


def bar_text(label: str, done: int, total: int, elapsed: float, width: int = 30) -> str:
    """'backfill [#########.....]  9/30 days ETA 2m 10s'."""
    filled = int(width * done / total) if total else width
    eta = eta_seconds(done, total, elapsed)
    return (f"{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
            + (f" ETA {duration(eta)}" if eta is not None and done < total else f" in {duration(elapsed)}"))


class Ticker:
    """Progress of a loop counted by hand (`tick()` after each item): a redrawn bar on a TTY, else a plain
    line each `every` of the way; silent when `show` is false."""

    def __init__(self, total: int, label: str, every: float = 0.1, show: bool = True) -> None:
        self.total, self.label, self.show = total, label, show and total > 0
        self.done, self.t0, self.tty, self.shown = 0, time.perf_counter(), is_tty(), 0
        self.steps = max(1, round(1 / every))  # plain lines at each 1/steps of the way, in integers (0.3 != 3/10 in floats)

    def tick(self) -> None:
        """One more item done."""
        self.done += 1
        if not self.show:
            return
        i, total, elapsed = self.done, self.total, time.perf_counter() - self.t0
        if self.tty:
            say("\r" + bar_text(self.label, i, total, elapsed), end="\n" if i >= total else "")
        elif i >= total or i * self.steps // total > self.shown:
            say(bar_text(self.label, i, total, elapsed))
            self.shown = i * self.steps // total


def track(items: Iterable[T], total: int, label: str, every: float = 0.1, show: bool = True) -> Iterator[T]:
    """Yield items while showing progress (an item counts once the loop asks for the next): a redrawn bar
    on a TTY, else a line each `every` of the way."""
    ticker = Ticker(total, label, every, show)
    for item in items:
        yield item
        ticker.tick()
