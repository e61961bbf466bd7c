"""Volatility figures from candles that advice needs (pure numpy)."""

from __future__ import annotations

import numpy as np

ATR_PERIOD = 14


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """`TR_i = max(H_i - L_i, |H_i - C_{i-1}|, |L_i - C_{i-1}|)` (quote); `H_0 - L_0` first."""
    previous = np.concatenate(([close[0]], close[:-1])) if len(close) else close
    return np.maximum.reduce([high - low, np.abs(high - previous), np.abs(low - previous)])


def average_true_range(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ATR_PERIOD
) -> float:
    """Simple mean of the last `period` true ranges (quote per base, on the candle interval);
    0.0 without candles."""
    if len(close) == 0:
        return 0.0
    return float(true_range(high, low, close)[-period:].mean())
