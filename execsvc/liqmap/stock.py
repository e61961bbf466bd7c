"""The stock: positions already open when the map's window starts.

Open interest added inside the window is only part of what is open; the rest, the open
interest at the window's start `S`, was opened earlier. Its entries are spread over the candles
before the window (`history`) with an age weight `0.5 ** (age / half_life)` (age from the
candle's close to the window's start), split long/short by each candle's long share, and, per
(side, leverage) group, kept only where the cohort survived every later low (high) up to the
window's start: a position liquidated before the window cannot be part of `S`. The survivors
are rescaled so each side still holds its share of `S`. From the window's start on, the stock
is a cohort like any other: removed by price, shrunk by falls in open interest.
"""

from __future__ import annotations

import numpy as np

from execsvc.liqmap import survival


def age_weights(close_time_ms: np.ndarray, start_ms: int, half_life_h: float) -> np.ndarray:
    """`0.5 ** (age_h / half_life_h)`, age from each candle's close to `start_ms` (>= 0)."""
    age_h = np.maximum(start_ms - close_time_ms, 0) / 3_600_000.0
    return np.exp2(-age_h / half_life_h)


def stock_fractions(
    ratios: np.ndarray,
    is_long: np.ndarray,
    entry: np.ndarray,
    long_share: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    start_price: float,
    age_weight: np.ndarray,
) -> np.ndarray:
    """`f[g, i]`: the fraction of the stock held by group g's cohort from history candle i.

    For each group, `sum_i f[g, i]` is its side's share of the stock,
    `sum(w * share_side) / sum(w)` (the leverage weight is applied later, as for every cohort);
    a group none of whose cohorts survived to the window's start holds nothing.
    """
    side_share = np.where(is_long[:, None], long_share[None, :], 1.0 - long_share[None, :])
    prior = age_weight[None, :] * side_share
    long_limit = survival.suffix_min_low(low, start_price) / entry
    short_limit = survival.suffix_max_high(high, start_price) / entry
    alive = np.where(is_long[:, None], ratios[:, None] < long_limit, ratios[:, None] > short_limit)
    kept = prior * alive
    kept_sum = kept.sum(axis=1, keepdims=True)
    side_total = prior.sum(axis=1, keepdims=True) / age_weight.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(kept_sum > 0, side_total / kept_sum, 0.0)
    return kept * scale
