"""Per-thread reusable work arrays for the map build.

A map of 30 days of 1m candles needs three arrays of ~3.5 MB per build; allocating them fresh
costs more (page faults on first touch) than the arithmetic. Each thread keeps its own, so
concurrent builds in a thread pool never share one.
"""

from __future__ import annotations

import threading

import numpy as np


class _Scratch(threading.local):
    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}


_scratch = _Scratch()


def work_array(name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """An uninitialised array of `shape`, reused by this thread across calls with this name."""
    size = int(np.prod(shape))
    buffer = _scratch.buffers.get(name)
    if buffer is None or buffer.size < size or buffer.dtype != dtype:
        buffer = np.empty(size, dtype=dtype)
        _scratch.buffers[name] = buffer
    return buffer[:size].reshape(shape)
