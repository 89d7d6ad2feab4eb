"""numba kernels compiled on first use instead of at import.

Importing numba (and the scipy it loads) costs ~0.5 s and ~100 MiB resident in every process that
imports a module with @njit functions, and most of them never run one: the Dagster process until its
first backtest (while the warehouse step's dbt child holds the most memory), the CLI's other commands.
A module keeps its kernels as plain functions and calls compile_once(globals(), names) before the first
call: each name is replaced by its numba version (cache=True: compiled once per machine, then loaded),
callees first, so a kernel calling another finds it compiled."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_DONE = "__numba_kernels_compiled__"


def compile_once(namespace: dict, names: tuple[str, ...]) -> None:
    """Replace namespace[name] by njit(cache=True)(namespace[name]) for each name, once per namespace."""
    if namespace.get(_DONE):
        return
    with _lock:
        if namespace.get(_DONE):
            return
        from numba import njit

        for name in names:
            if not hasattr(namespace[name], "py_func"):  # compiled already where these globals were shipped from
                namespace[name] = njit(cache=True)(namespace[name])
        namespace[_DONE] = True
