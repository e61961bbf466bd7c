"""Same-day churn: positions opened and liquidated inside one day, which no map built before
the day can hold as bands.

Model: over the coming day, `opened_quote` of new positions is opened on each side (a share of
the open interest, `MapParams.churn_rate_per_day`), at entry prices spread evenly over the
day's range `[low, high]`, with the map's leverage mix. A long opened at `p` is liquidated when
the low reaches `p * r` (its liquidation ratio `r < 1`), i.e. when `p >= low / r`; assuming the
extreme comes after the entry, the liquidated share of leverage group g is
`clip((high - low / r_g) / (high - low), 0, 1)`; shorts mirror with `p <= high / r_g`. Given a
day's range this is a pure function; before the day it says how much churn a range of a given
size would liquidate.
"""

from __future__ import annotations

import numpy as np


def churn_liquidated(
    opened_quote: float, long_ratios: np.ndarray, short_ratios: np.ndarray,
    weights: np.ndarray, low: float, high: float,
) -> tuple[float, float]:
    """(long, short) quote notional of same-day positions liquidated by a day ranging over
    `[low, high]`; `weights` (summing to 1) belong to both ratio arrays, leverage by leverage."""
    span = high - low
    if not span > 0 or opened_quote <= 0:
        return 0.0, 0.0
    long_ratios = np.asarray(long_ratios, dtype=np.float64)
    short_ratios = np.asarray(short_ratios, dtype=np.float64)
    # a long whose liquidation price is 0 (ratio 0) cannot be liquidated: the lowest entry
    # it needs is infinite
    lowest_entry = np.divide(low, long_ratios, out=np.full_like(long_ratios, np.inf),
                             where=long_ratios > 0)
    long_share = np.clip((high - lowest_entry) / span, 0.0, 1.0)
    short_share = np.clip((high / short_ratios - low) / span, 0.0, 1.0)
    return (float(opened_quote * (weights @ long_share)),
            float(opened_quote * (weights @ short_share)))
