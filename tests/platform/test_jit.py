"""compile_once (python_assets/platform/jit.py): kernels compiled on first use, once; a namespace whose kernels
arrive compiled already (a module's globals shipped by value, as cloudpickle does to a Spark or Databricks
worker after the driver ran them) is left as it is instead of failing on numba's double jit."""

from __future__ import annotations

import numpy as np

from python_assets.platform.jit import compile_once


def _total(x):
    s = 0.0
    for v in x:
        s += v
    return s


def test_kernels_compile_once_and_compiled_ones_are_kept():
    namespace = {"_total": _total}
    compile_once(namespace, ("_total",))
    compiled = namespace["_total"]
    assert hasattr(compiled, "py_func") and compiled(np.arange(4.0)) == 6.0
    compile_once(namespace, ("_total",))
    assert namespace["_total"] is compiled
    shipped = {"_total": compiled}  # compiled, without the namespace's done flag
    compile_once(shipped, ("_total",))
    assert shipped["_total"] is compiled
