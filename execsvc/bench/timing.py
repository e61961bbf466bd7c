"""Timing helpers of the benchmarks: medians of wall-clock samples, in milliseconds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def medians_ms(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each function over `repeats` rounds, one call of each per round (after one
    warm-up call each), so a change in machine load hits every function alike."""
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for fn in functions.values():
        fn()
    for _ in range(repeats):
        for name, fn in functions.items():
            started = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median ms of `fn` over `repeats` calls (after one warm-up call)."""
    return medians_ms({"fn": fn}, repeats)["fn"]
