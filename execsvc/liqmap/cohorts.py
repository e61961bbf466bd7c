"""Where leveraged positions were opened: one cohort per candle, side and leverage.

Assumptions (each one a modelling choice, not a fact about the market):

- Entry price: positions opened during a candle entered at its typical price `(H + L + C) / 3`.
- New positions: with an open-interest series, the positions opened in candle i have the quote
  notional `dOI_i = max(OI_i - OI_{i-1}, 0)`, OI taken at the candle's close (an OI fall opens
  nothing; it shrinks older cohorts, see `survival`). Without one, the *volume proxy*:
  `PROXY_OPEN_FRACTION` of the candle's quote turnover is taken as newly opened leveraged notional.
- Side split: every contract has a long and a short holder; the leveraged side is taken to be the
  aggressor. The long share of new leveraged positions is the taker-buy share of volume, or,
  where the venue gives no taker split, the close location in the candle's range:
  `0.5 + 0.5 * (C - O) / (H - L)`, clipped to [0.1, 0.9] (0.5 for a flat candle).
- Leverage: every side's new notional is split across the configured leverage mix by its weights.
"""

from __future__ import annotations

import numpy as np

PROXY_OPEN_FRACTION = 0.05
"""Volume proxy: share of a candle's quote turnover assumed to open new leveraged positions."""

LONG_SHARE_BOUNDS = (0.1, 0.9)


def typical_price(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """`(H + L + C) / 3`, the assumed entry price of a candle's new positions."""
    return (high + low + close) / 3.0


def open_interest_at_close(
    open_time_ms: np.ndarray, interval_ms: int, oi_time_ms: np.ndarray, oi_quote: np.ndarray
) -> np.ndarray:
    """Open interest (quote) at each candle's close: the last sample at or before
    `open_time + interval`; NaN for candles that close before the first sample."""
    close_ms = open_time_ms + interval_ms
    idx = np.searchsorted(oi_time_ms, close_ms, side="right") - 1
    values = oi_quote[np.clip(idx, 0, None)] if len(oi_quote) else np.zeros_like(close_ms, float)
    return np.where(idx >= 0, values, np.nan)


def opened_notional_from_oi(oi_at_close: np.ndarray, oi_before: float = np.nan) -> np.ndarray:
    """`dOI_i = max(OI_i - OI_{i-1}, 0)` in quote; 0 where either sample is missing.
    `oi_before` is the OI at the close of the candle before the first (NaN when unknown)."""
    delta = np.diff(oi_at_close, prepend=oi_before)
    return np.where(np.isfinite(delta), np.maximum(delta, 0.0), 0.0)


def opened_notional_from_volume(volume_base: np.ndarray, entry_price: np.ndarray) -> np.ndarray:
    """Volume proxy: `PROXY_OPEN_FRACTION * volume * typical price`, quote notional."""
    return PROXY_OPEN_FRACTION * volume_base * entry_price


def long_share(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    taker_buy_volume: np.ndarray,
) -> np.ndarray:
    """Fraction (0..1) of a candle's new leveraged notional held long; see the module docstring."""
    candle_range = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        location = 0.5 + 0.5 * (close - open_) / candle_range
    estimated = np.clip(np.nan_to_num(location, nan=0.5), *LONG_SHARE_BOUNDS)
    if np.isnan(taker_buy_volume).all():
        return estimated
    with np.errstate(divide="ignore", invalid="ignore"):
        taker = taker_buy_volume / volume
    usable = np.isfinite(taker) & (volume > 0)
    return np.where(usable, np.clip(taker, 0.0, 1.0), estimated)
