"""How many threads numpy's BLAS may use in this process, set after numpy is loaded.

OpenBLAS reads OPENBLAS_NUM_THREADS only when it is loaded, which Streamlit does before our code runs; its C
function `openblas_set_num_threads` (named `scipy_openblas_set_num_threads64_` in numpy's wheels) changes it
at any time. This module finds the loaded OpenBLAS and calls it. Elsewhere (another BLAS, no /proc) nothing
happens and `limit_blas_threads` says so by returning None.
"""

from __future__ import annotations

import ctypes
import logging
from functools import lru_cache
from pathlib import Path

log = logging.getLogger("shapes_viz.engine")

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
            "openblas_get_num_threads")


@lru_cache(maxsize=1)
def _openblas() -> ctypes.CDLL | None:
    """The OpenBLAS library numpy loaded, or None."""
    import numpy  # noqa: F401 - loads its BLAS

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and "/" in line})
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if any(hasattr(library, name) for name in _SETTERS):
            return library
    return None


def limit_blas_threads(threads: int) -> int | None:
    """Let numpy's OpenBLAS use `threads` threads from now on; returns the count it reports, None without one.

    Raises:
        ValueError: threads < 1.
    """
    if threads < 1:
        raise ValueError(f"Expected at least one thread. Received: threads={threads}")
    library = _openblas()
    if library is None:
        log.info("numpy's BLAS is not OpenBLAS (or not found): its threads are left as they are")
        return None
    setter = next(getattr(library, name) for name in _SETTERS if hasattr(library, name))
    setter(ctypes.c_int(threads))
    return blas_threads()


def blas_threads() -> int | None:
    """The threads numpy's OpenBLAS uses now, or None without one."""
    library = _openblas()
    if library is None:
        return None
    getter = next((getattr(library, name) for name in _GETTERS if hasattr(library, name)), None)
    if getter is None:
        return None
    getter.restype = ctypes.c_int
    return int(getter())
