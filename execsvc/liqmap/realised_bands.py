"""Realised liquidations binned on a map's bands, per side of the liquidated position. Pure.

A price falls in the band with `price_low <= price < price_high` (the top edge belongs to the
last band); prices below the first band or above the last are totalled apart, so nothing is
dropped: the per-band sums plus the two outside totals equal the input per side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class RealisedBands:
    """Per band (arrays aligned with the map's bands): notional (quote) and event counts of
    liquidated longs and shorts; and the same outside the bands, as `[long, short]`."""

    long_quote: np.ndarray
    short_quote: np.ndarray
    long_count: np.ndarray
    short_count: np.ndarray
    below_quote: tuple[float, float]
    above_quote: tuple[float, float]
    below_count: tuple[int, int]
    above_count: tuple[int, int]


def realised_by_band(
    low: np.ndarray, high: np.ndarray, sides: Sequence[str], prices: Sequence[float],
    notional_quote: Sequence[float],
) -> RealisedBands:
    """Bin events (`sides[i]` in long|short, `prices[i]`, `notional_quote[i]`) on the bands
    with edges `low`/`high` (ascending, contiguous)."""
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    price = np.asarray(prices, dtype=np.float64)
    notional = np.asarray(notional_quote, dtype=np.float64)
    is_long = np.asarray([s == "long" for s in sides], dtype=bool)
    n = len(low)
    index = np.searchsorted(low, price, side="right") - 1
    if n:
        index[(price == high[-1])] = n - 1
        inside = (index >= 0) & (price <= high[-1]) & (price >= low[0])
    else:
        inside = np.zeros(len(price), dtype=bool)
    below = ~inside & (price < (low[0] if n else np.inf))
    above = ~inside & ~below

    def per_band(mask: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        return np.bincount(index[mask], weights=None if weights is None else weights[mask],
                           minlength=n).astype(np.float64 if weights is not None else np.int64)

    def side_totals(mask: np.ndarray) -> tuple[tuple[float, float], tuple[int, int]]:
        return ((float(notional[mask & is_long].sum()), float(notional[mask & ~is_long].sum())),
                (int((mask & is_long).sum()), int((mask & ~is_long).sum())))

    below_quote, below_count = side_totals(below)
    above_quote, above_count = side_totals(above)
    return RealisedBands(
        long_quote=per_band(inside & is_long, notional),
        short_quote=per_band(inside & ~is_long, notional),
        long_count=per_band(inside & is_long, None),
        short_count=per_band(inside & ~is_long, None),
        below_quote=below_quote, above_quote=above_quote,
        below_count=below_count, above_count=above_count,
    )
