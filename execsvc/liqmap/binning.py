"""Surviving cohorts into bands: survival (`survival`) and binning (`bands.bin_cohorts`) in one
pass over the cohorts.

A cohort is a (group, candle) pair: group g (a side and a leverage) has the liquidation price
`ratios[g] * entry[i]` and the notional `base[rows[g], i]`. A long survives while
`ratios[g] < suffix_min_low[i] / entry[i]`, a short while `ratios[g] > suffix_max_high[i] /
entry[i]`; a survivor's band slot is `trunc(clip(ratios[g] / width * entry[i] + offset[g]))`
as `bands.bin_cohorts` defines it.

Two formulations, the same numbers bit for bit:

- `bin_surviving_numpy`, the reference: whole-array passes (suffix extremes, a weight per
  cohort, a slot per cohort) and one `np.bincount`.
- the fused kernel (numba, compiled on first use and cached on disk): one loop over candles,
  groups inside, adding each survivor's notional to its slot. Dead cohorts cost a comparison;
  consecutive adds go to different groups' slots, so they do not wait on each other (in the
  reference, 70-80 % of consecutive cohorts of a group land in the same band and its bincount
  adds serialise). Each slot receives its cohorts in candle order, as in the reference, so the
  floating-point sums are identical.

`bin_surviving` runs the kernel when numba is installed, else the reference (`KERNEL` says
which, once the first call decided).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from execsvc.liqmap import survival
from execsvc.liqmap.bands import BandGrid, BinnedCohorts, bin_cohorts, slot_geometry
from execsvc.liqmap.jit import compiled
from execsvc.liqmap.scratch import work_array

KERNEL: str | None = None
"""`"numba"` or `"numpy"`: the formulation `bin_surviving` uses (None before its first call)."""


def surviving_weights(
    ratios: np.ndarray, is_long: np.ndarray, entry: np.ndarray, base: np.ndarray,
    rows: np.ndarray, low: np.ndarray, high: np.ndarray, price: float,
) -> np.ndarray:
    """`weight[g, i]`: cohort (g, i)'s notional if it survives, else 0 (a reused work array)."""
    n_long = int(is_long.sum())
    weight = work_array("weight", (ratios.shape[0], entry.shape[0]))
    long_limit = survival.suffix_min_low(low, price) / entry
    short_limit = survival.suffix_max_high(high, price) / entry
    np.multiply(ratios[:n_long, None] < long_limit, base[rows[:n_long]], out=weight[:n_long])
    np.multiply(ratios[n_long:, None] > short_limit, base[rows[n_long:]], out=weight[n_long:])
    return weight


def bin_surviving_numpy(
    grid: BandGrid, ratios: np.ndarray, is_long: np.ndarray, entry: np.ndarray,
    base: np.ndarray, rows: np.ndarray, low: np.ndarray, high: np.ndarray, price: float,
) -> BinnedCohorts:
    """The reference formulation (see the module docstring); `base[rows[g]]` is group g's
    notional per candle, `low`/`high` the candles' extremes and `price` the mark now."""
    weight = surviving_weights(ratios, is_long, entry, base, rows, low, high, price)
    return bin_cohorts(grid, ratios, entry, weight, is_long)


def _surviving_into_slots(ratios, n_long, entry, base, rows, low, high, price, scale, offset,
                          lowest, highest, counts):  # pragma: no cover - compiled by numba
    """The fused kernel: `counts[slot] += notional` for every surviving cohort, candles in
    order. The suffix extremes follow `np.minimum`/`np.maximum` (a NaN propagates)."""
    n = entry.shape[0]
    later_low = np.empty(n)
    later_high = np.empty(n)
    running_low = price
    running_high = price
    for i in range(n - 1, -1, -1):
        later_low[i] = running_low
        later_high[i] = running_high
        if low[i] < running_low or low[i] != low[i]:
            running_low = low[i]
        if high[i] > running_high or high[i] != high[i]:
            running_high = high[i]
    groups = ratios.shape[0]
    for i in range(n):
        e = entry[i]
        long_limit = later_low[i] / e
        short_limit = later_high[i] / e
        for g in range(groups):
            alive = ratios[g] < long_limit if g < n_long else ratios[g] > short_limit
            if alive:
                slot = scale[g] * e
                slot = slot + offset[g]
                slot = min(max(slot, lowest[g]), highest[g])
                counts[int(slot)] += base[rows[g], i]


def _kernel() -> Callable | None:
    """The compiled kernel, or None without numba (decided once per process)."""
    global KERNEL
    kernel = compiled(_surviving_into_slots)
    KERNEL = "numpy" if kernel is None else "numba"
    return kernel


def bin_surviving(
    grid: BandGrid, ratios: np.ndarray, is_long: np.ndarray, entry: np.ndarray,
    base: np.ndarray, rows: np.ndarray, low: np.ndarray, high: np.ndarray, price: float,
) -> BinnedCohorts:
    """Notional of the surviving cohorts per band and group (arguments as
    `bin_surviving_numpy`), by the fused kernel when numba is installed."""
    kernel = _kernel()
    if kernel is None:
        return bin_surviving_numpy(grid, ratios, is_long, entry, base, rows, low, high, price)
    geometry = slot_geometry(grid, ratios, is_long)
    counts = np.zeros(ratios.shape[0] * geometry.stride)
    kernel(
        np.ascontiguousarray(ratios, dtype=np.float64), int(is_long.sum()),
        np.ascontiguousarray(entry, dtype=np.float64),
        np.ascontiguousarray(base, dtype=np.float64), np.ascontiguousarray(rows, dtype=np.intp),
        np.ascontiguousarray(low, dtype=np.float64), np.ascontiguousarray(high, dtype=np.float64),
        float(price), geometry.scale, geometry.offset, geometry.lowest, geometry.highest, counts,
    )
    return BinnedCohorts.of(counts.reshape(ratios.shape[0], geometry.stride))
