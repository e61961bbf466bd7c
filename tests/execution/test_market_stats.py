"""ATR on 1-hour bars whatever the candle interval."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from execsvc.execution.market_stats import average_true_range, hourly_atr, resample, true_range

HOUR = 3_600_000


def test_true_range_by_hand() -> None:
    high, low, close = np.array([10.0, 12.0, 11.0]), np.array([9.0, 10.5, 8.0]), np.array(
        [9.5, 11.0, 8.5])
    # TR: 1 (first bar: H-L), max(1.5, |12-9.5|, |10.5-9.5|) = 2.5, max(3, 0, 3) = 3
    assert true_range(high, low, close).tolist() == [1.0, 2.5, 3.0]
    assert average_true_range(high, low, close, period=2) == pytest.approx(2.75)


@given(st.lists(st.floats(-0.01, 0.01), min_size=120, max_size=600), st.integers(0, 59))
def test_minute_candles_give_the_atr_of_their_hourly_bars(returns, offset) -> None:
    closes = 100 * np.exp(np.cumsum(returns))
    opens = np.concatenate(([100.0], closes[:-1]))
    high, low = np.maximum(opens, closes) * 1.001, np.minimum(opens, closes) * 0.999
    times = (np.arange(len(closes)) + offset) * 60_000
    bars = resample(times, high, low, closes, HOUR)
    hours = times // HOUR
    for k, hour in enumerate(np.unique(hours)):
        in_hour = hours == hour
        assert bars[0][k] == high[in_hour].max() and bars[1][k] == low[in_hour].min()
        assert bars[2][k] == closes[in_hour][-1]
    assert hourly_atr(times, high, low, closes, 60_000) == pytest.approx(
        average_true_range(*bars))
    assert hourly_atr(times, high, low, closes, HOUR) == pytest.approx(
        average_true_range(high, low, closes))


def full_history_atr(times, high, low, close, interval_ms, period=14) -> float:
    """Every candle resampled, every true range taken: what the tail-only ATR must equal."""
    if interval_ms < HOUR:
        high, low, close = resample(times, high, low, close, HOUR)
    return float(true_range(high, low, close)[-period:].mean())


@given(st.lists(st.floats(-0.01, 0.01), min_size=1, max_size=3000), st.integers(0, 59),
       st.sampled_from([60_000, 300_000, 420_000, HOUR, 4 * HOUR]), st.integers(1, 30),
       st.lists(st.integers(0, 2999), max_size=40))
def test_reading_only_the_last_bars_changes_nothing(returns, offset, interval, period, gaps):
    """Bit for bit, with gaps in the candles and intervals that do not divide the hour."""
    closes = 100 * np.exp(np.cumsum(returns))
    opens = np.concatenate(([100.0], closes[:-1]))
    high, low = np.maximum(opens, closes) * 1.002, np.minimum(opens, closes) * 0.998
    steps = np.ones(len(closes), dtype=np.int64)
    for gap in gaps:
        if gap < len(steps):
            steps[gap] += 7
    times = (np.cumsum(steps) + offset) * interval
    assert hourly_atr(times, high, low, closes, interval, period) == full_history_atr(
        times, high, low, closes, interval, period)
