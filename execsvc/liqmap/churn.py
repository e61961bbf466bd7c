"""Same-day churn: positions opened and liquidated inside one day, which no map built before
the day can hold as bands.

Model: over the coming day, `opened_long_quote` of new long positions and `opened_short_quote`
of short ones are opened (a share of the open interest, `MapParams.churn_rate_per_day`, split
by the map's long share), with the map's leverage mix. A long opened at `p` is liquidated when
a later low reaches `p * r` (its liquidation ratio `r < 1`); shorts mirror with `r > 1` and
the high.

- `churn_liquidated` reads a day by its range `[low, high]`: entry prices spread evenly over
  it, every entry taken to come before the extreme, so the liquidated share of leverage group g
  is `clip((high - low / r_g) / (high - low), 0, 1)` (shorts: `p <= high / r_g`).
- `churn_liquidated_on_path` reads it by its candles: entries spread evenly over the candles
  (in time) and over each candle's own range (in price); a long opened in candle i is
  liquidated when the lowest low from candle i on reaches its liquidation price (the entry
  candle's own extreme counted as after the entry). This is the map's survival rule (suffix
  extremes) applied to the day; for a path moving straight from one price to another in
  candles of equal size it equals the range reading.

Given a day these are pure functions; before the day they say how much churn a move would
liquidate.
"""

from __future__ import annotations

import numpy as np


def _lowest_entry(low: np.ndarray | float, long_ratios: np.ndarray) -> np.ndarray:
    """`low / r`: the lowest long entry the low liquidates (infinite for r = 0: a long whose
    liquidation price is 0 cannot be liquidated). Shape (groups, ...) for array `low`."""
    ratios = long_ratios.reshape((-1,) + (1,) * np.ndim(low))
    return np.divide(low, ratios, out=np.full(np.broadcast(low, ratios).shape, np.inf),
                     where=ratios > 0)


def _liquidated_share(entry_low, entry_high, lowest_long_entry, highest_short_entry):
    """Share of entries spread evenly over `[entry_low, entry_high]` above the lowest long entry
    liquidated (longs) and below the highest short entry liquidated (shorts); a zero-width
    range is all or nothing."""
    span = entry_high - entry_low
    with np.errstate(divide="ignore", invalid="ignore"):
        long_share = np.where(span > 0, (entry_high - lowest_long_entry) / span,
                              (entry_high >= lowest_long_entry).astype(np.float64))
        short_share = np.where(span > 0, (highest_short_entry - entry_low) / span,
                               (entry_low <= highest_short_entry).astype(np.float64))
    return np.clip(long_share, 0.0, 1.0), np.clip(short_share, 0.0, 1.0)


def churn_liquidated(
    opened_long_quote: float, opened_short_quote: float, long_ratios: np.ndarray,
    short_ratios: np.ndarray, weights: np.ndarray, low: float, high: float,
) -> tuple[float, float]:
    """(long, short) quote notional of same-day positions liquidated by a day ranging over
    `[low, high]`; `weights` (summing to 1) belong to both ratio arrays, leverage by leverage."""
    if not high - low > 0:
        return 0.0, 0.0
    long_ratios = np.asarray(long_ratios, dtype=np.float64)
    short_ratios = np.asarray(short_ratios, dtype=np.float64)
    long_share, short_share = _liquidated_share(
        low, high, _lowest_entry(low, long_ratios), high / short_ratios)
    return (float(max(opened_long_quote, 0.0) * (weights @ long_share)),
            float(max(opened_short_quote, 0.0) * (weights @ short_share)))


def churn_liquidated_on_path(
    opened_long_quote: float, opened_short_quote: float, long_ratios: np.ndarray,
    short_ratios: np.ndarray, weights: np.ndarray, lows: np.ndarray, highs: np.ndarray,
) -> tuple[float, float]:
    """(long, short) quote notional of same-day positions liquidated along a day's candles
    (`lows`, `highs`, oldest first), entries spread evenly over the candles and within each
    candle's range (see the module docstring)."""
    lows = np.asarray(lows, dtype=np.float64)
    highs = np.asarray(highs, dtype=np.float64)
    if len(lows) == 0:
        return 0.0, 0.0
    long_ratios = np.asarray(long_ratios, dtype=np.float64)
    short_ratios = np.asarray(short_ratios, dtype=np.float64)
    lowest_after = np.minimum.accumulate(lows[::-1])[::-1]
    highest_after = np.maximum.accumulate(highs[::-1])[::-1]
    long_share, short_share = _liquidated_share(
        lows[None, :], highs[None, :], _lowest_entry(lowest_after, long_ratios),
        highest_after[None, :] / short_ratios[:, None])
    return (float(max(opened_long_quote, 0.0) * (weights @ long_share.mean(axis=1))),
            float(max(opened_short_quote, 0.0) * (weights @ short_share.mean(axis=1))))
