"""Price bands around the current price and the binning of cohorts into them.

The grid has `n_side` bands of `bin_width_bps` below the price and as many above, the price on
the edge between the two halves: band k covers `[edges[k], edges[k+1])` with
`edges = price * (1 + bin_width_bps/1e4 * (k - n_side))`. Long liquidations fall in the lower
half, short liquidations in the upper half; cohorts beyond `range_pct` are counted as out of
range rather than dropped, so binned + out of range = surviving notional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from execsvc.liqmap.scratch import work_array


@dataclass(frozen=True, slots=True)
class BandGrid:
    price: float
    bin_width_bps: float
    n_side: int

    @classmethod
    def around(cls, price: float, bin_width_bps: float, range_pct: float) -> BandGrid:
        n_side = max(1, math.ceil(range_pct * 100.0 / bin_width_bps))
        return cls(price, bin_width_bps, n_side)

    @property
    def n_bins(self) -> int:
        return 2 * self.n_side

    @property
    def width(self) -> float:
        """Band width in quote currency."""
        return self.price * self.bin_width_bps / 1e4

    @property
    def lowest(self) -> float:
        return self.price - self.n_side * self.width

    def edges(self) -> np.ndarray:
        """Band edges; `edges[n_side]` is exactly the price."""
        return self.price + self.width * np.arange(-self.n_side, self.n_side + 1)

    def centers(self) -> np.ndarray:
        return self.price + self.width * (np.arange(-self.n_side, self.n_side) + 0.5)


@dataclass(frozen=True, slots=True)
class BinnedCohorts:
    """Notional (quote) per band and cohort group, plus what fell outside the grid.

    `by_group[g, k]` is group g's notional in band k; `below[g]` / `above[g]` its notional
    beyond the grid's lower / upper end.
    """

    by_group: np.ndarray
    below: np.ndarray
    above: np.ndarray

    @classmethod
    def of(cls, table: np.ndarray) -> BinnedCohorts:
        """From the slot table `(groups, n_bins + 2)`: below the grid, the bands, above it."""
        return cls(by_group=table[:, 1:-1], below=table[:, 0], above=table[:, -1])


@dataclass(frozen=True, slots=True)
class SlotGeometry:
    """Where cohorts of each group land in the flat slot table: group g owns the slots
    `[g * stride, (g + 1) * stride)` (below the grid, the bands, above the grid); a cohort with
    entry price `e` goes to `trunc(clip(scale[g] * e + offset[g], lowest[g], highest[g]))`.
    Long groups are held to the lower half and short groups to the upper half (a guard against
    rounding at the price; the survival rule already puts them there)."""

    stride: int
    scale: np.ndarray
    offset: np.ndarray
    lowest: np.ndarray
    highest: np.ndarray


def slot_geometry(grid: BandGrid, price_ratio: np.ndarray, is_long: np.ndarray) -> SlotGeometry:
    """The slot arithmetic of `bin_cohorts`: `(LP - lowest) / width + 1` plus the group's first
    slot, with `LP = price_ratio[g] * e`."""
    stride = grid.n_bins + 2
    first_slot = np.arange(price_ratio.shape[0]) * stride
    lowest = np.where(is_long, first_slot, first_slot + grid.n_side + 1)
    highest = np.where(is_long, first_slot + grid.n_side, first_slot + stride - 1)
    return SlotGeometry(
        stride=stride,
        scale=np.ascontiguousarray(price_ratio / grid.width, dtype=np.float64),
        offset=np.ascontiguousarray(first_slot + 1 - grid.lowest / grid.width, dtype=np.float64),
        lowest=lowest.astype(np.float64),
        highest=highest.astype(np.float64),
    )


def cohort_slots(grid: BandGrid, price_ratio: np.ndarray, entry_price: np.ndarray,
                 is_long: np.ndarray) -> np.ndarray:
    """The flat slot (`slot_geometry`) of every cohort `(g, i)` with liquidation price
    `price_ratio[g] * entry_price[i]`, as a `(groups, candles)` array (a reused work array)."""
    geometry = slot_geometry(grid, price_ratio, is_long)
    shape = (price_ratio.shape[0], entry_price.shape[0])
    slot = work_array("slot", shape)
    np.multiply(geometry.scale[:, None], entry_price[None, :], out=slot)
    slot += geometry.offset[:, None]
    np.clip(slot, geometry.lowest[:, None], geometry.highest[:, None], out=slot)
    index = work_array("slot_index", shape, np.intp)
    np.copyto(index, slot, casting="unsafe")
    return index


def bin_cohorts(
    grid: BandGrid,
    price_ratio: np.ndarray,
    entry_price: np.ndarray,
    weight: np.ndarray,
    is_long: np.ndarray,
) -> BinnedCohorts:
    """Bin cohorts with liquidation price `price_ratio[g] * entry_price[i]` and notional
    `weight[g, i]` (zero for dead cohorts) in one `np.bincount` of their `cohort_slots`."""
    index = cohort_slots(grid, price_ratio, entry_price, is_long)
    stride = grid.n_bins + 2
    counts = np.bincount(index.ravel(), weights=weight.ravel(),
                         minlength=price_ratio.shape[0] * stride)
    return BinnedCohorts.of(counts.reshape(price_ratio.shape[0], stride))


def cumulative_outward(long_notional: np.ndarray, short_notional: np.ndarray, n_side: int):
    """Notional liquidated if the price moved from the current price to each band.

    Long curve: for a band below the price, the long notional of it and every band between it
    and the price (it falls to the left). Short curve: the mirror above the price. Both are
    zero on the other half.
    """
    cum_long = np.zeros_like(long_notional)
    cum_short = np.zeros_like(short_notional)
    cum_long[:n_side] = np.cumsum(long_notional[:n_side][::-1])[::-1]
    cum_short[n_side:] = np.cumsum(short_notional[n_side:])
    return cum_long, cum_short


def relative_intensity(total_notional: np.ndarray) -> np.ndarray:
    """Band notional divided by the largest band's (0..1); all zero for an empty map."""
    peak = float(total_notional.max()) if total_notional.size else 0.0
    if peak <= 0.0:
        return np.zeros_like(total_notional)
    return total_notional / peak
