"""Freed memory handed back to the system: Arrow's allocator (mimalloc) and glibc's heap keep the pages a
finished step freed, so a long-lived process (Dagster's) stays at its high-water mark and the next step's
peak adds onto it."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

import pyarrow as pa


def release_freed_memory() -> None:
    """Arrow's pool and glibc's heap return their free pages (nothing live moves; RSS drops)."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim():  # noqa: ANN202 - a ctypes function or None
    """glibc's malloc_trim, None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
