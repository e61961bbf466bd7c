"""Volatility figures from candles that advice needs (pure numpy)."""

from __future__ import annotations

import numpy as np

ATR_PERIOD = 14
ATR_BAR_MS = 3_600_000
"""ATR is taken on 1-hour bars whatever the candle interval, so a stop buffer means the same
distance on 1m and on 1h data."""


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
    tail = slice(max(0, len(close) - period - 1), None)  # the last `period` ranges need these
    return float(true_range(high[tail], low[tail], close[tail])[-period:].mean())


def resample(
    open_time_ms: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    period_ms: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(high, low, close) of bars of `period_ms` built from shorter candles, oldest first
    (a bar holds the candles whose open time falls in its period)."""
    bucket = open_time_ms // period_ms
    starts = np.flatnonzero(np.diff(bucket, prepend=bucket[0] - 1)) if len(bucket) else bucket
    if len(starts) == 0:
        return high, low, close
    ends = np.append(starts[1:], len(close)) - 1
    return (np.maximum.reduceat(high, starts), np.minimum.reduceat(low, starts), close[ends])


def hourly_atr(
    open_time_ms: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    interval_ms: int, period: int = ATR_PERIOD,
) -> float:
    """ATR (quote per base) of the last `period` 1-hour bars; candles of an hour or longer
    are used as they are. Only the candles of the last `period + 2` bars are read (at most
    `ceil(1 h / interval)` candles fall in a bar; the oldest bar read may be cut, it then only
    gives the close the next bar's range starts from)."""
    if interval_ms < ATR_BAR_MS:
        per_bar = -(-ATR_BAR_MS // interval_ms)
        tail = slice(max(0, len(close) - (period + 1) * per_bar - 1), None)
        high, low, close = resample(open_time_ms[tail], high[tail], low[tail], close[tail],
                                    ATR_BAR_MS)
    return average_true_range(high, low, close, period)
