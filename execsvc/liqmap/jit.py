"""Compiled loops: numba when it is installed (compiled on first use, cached on disk where a
cache location is writable, e.g. `NUMBA_CACHE_DIR`; the GIL released), else none, and the
caller runs its numpy or Python reference instead."""

from __future__ import annotations

import threading
from collections.abc import Callable

_lock = threading.Lock()
_compiled: dict[Callable, Callable | None] = {}


def compiled(loop: Callable) -> Callable | None:
    """`loop` compiled by numba (`njit`, numpy's error model), or None without numba."""
    if loop not in _compiled:
        with _lock:
            if loop not in _compiled:
                try:
                    import numba
                except ImportError:
                    _compiled[loop] = None
                else:
                    try:
                        _compiled[loop] = numba.njit(cache=True, nogil=True,
                                                     error_model="numpy")(loop)
                    except RuntimeError:  # no writable cache location: compile per process
                        _compiled[loop] = numba.njit(nogil=True, error_model="numpy")(loop)
    return _compiled[loop]
