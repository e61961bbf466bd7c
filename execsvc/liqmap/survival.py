"""Which cohorts are still open: removal by price, shrink by falling open interest.

A long cohort opened in candle i is gone once any later candle's low reaches its liquidation
price; a short one once a later high does. The current mark price counts as the last
observation, so no surviving long sits above it and no surviving short below it. Computed for
all cohorts at once from suffix extremes (`np.minimum.accumulate` on the reversed lows).
"""

from __future__ import annotations

import numpy as np

PROXY_HALF_LIFE_MS = 2 * 86_400_000
"""Volume proxy: positions close with this half-life (there is no OI series to shrink them)."""


def suffix_min_low(low: np.ndarray, price: float) -> np.ndarray:
    """`out[i] = min(low[i+1:], price)`: the lowest price traded after candle i."""
    later = np.append(low[1:], price)
    return np.minimum.accumulate(later[::-1])[::-1]


def suffix_max_high(high: np.ndarray, price: float) -> np.ndarray:
    """`out[i] = max(high[i+1:], price)`: the highest price traded after candle i."""
    later = np.append(high[1:], price)
    return np.maximum.accumulate(later[::-1])[::-1]


def oi_shrink_factor(oi_at_close: np.ndarray) -> np.ndarray:
    """Fraction of cohort i still open after later falls in open interest.

    Every fall `OI_j < OI_{j-1}` (j > i) closes the same fraction of all open cohorts:
    `f_i = prod_{j>i} min(1, OI_j / OI_{j-1})`, as a suffix sum of log ratios.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = oi_at_close[1:] / oi_at_close[:-1]
    log_ratio = np.where(np.isfinite(ratio) & (ratio > 0), np.log(np.minimum(ratio, 1.0)), 0.0)
    after = np.append(np.cumsum(log_ratio[::-1])[::-1], 0.0)
    return np.exp(after)


def proxy_decay_factor(close_time_ms: np.ndarray, now_ms: int) -> np.ndarray:
    """Volume proxy: `0.5 ** (age / PROXY_HALF_LIFE_MS)`, age measured from the candle's close."""
    age = np.maximum(now_ms - close_time_ms, 0)
    return np.exp2(age * (-1.0 / PROXY_HALF_LIFE_MS))
