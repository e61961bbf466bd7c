"""The funding side split (`liqmap.funding`) and the churn read along a day's candles."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.liqmap.candles import Candles
from execsvc.liqmap.churn import churn_liquidated, churn_liquidated_on_path
from execsvc.liqmap.funding import (
    FUNDING_BASELINE_PER_H,
    FUNDING_SCALE_PER_H,
    FundingRates,
    crowded_long_share,
    long_share_at,
    trailing_mean,
)
from execsvc.liqmap.model import MapParams, build_map, model_parameters, model_version
from execsvc.liqmap.venue_rules import hyperliquid_brackets

HOUR = 3_600_000


def test_trailing_mean_known_values() -> None:
    funding = FundingRates(np.array([1, 2, 3]) * HOUR, np.array([1.0, 2.0, 3.0]))
    out = trailing_mean(funding, np.array([0, 1, 3, 4, 10]) * HOUR, span_ms=2 * HOUR)
    # (at - 2 h, at]: nothing; {1}; {2, 3}; {3}; nothing
    assert np.isnan(out[0]) and np.isnan(out[4])
    assert out[1:4].tolist() == [1.0, 2.5, 3.0]
    assert np.isnan(trailing_mean(FundingRates(np.empty(0, np.int64), np.empty(0)),
                                  np.array([5]))).all()


@given(st.lists(st.floats(-1e-3, 1e-3), min_size=1, max_size=60),
       st.lists(st.integers(-5, 70), min_size=1, max_size=10), st.integers(1, 30))
@settings(max_examples=80, deadline=None)
def test_trailing_mean_equals_the_mean_of_the_window(rates, at_hours, span_h) -> None:
    times = np.arange(len(rates), dtype=np.int64) * HOUR
    funding = FundingRates(times, np.array(rates))
    at = np.array(at_hours, dtype=np.int64) * HOUR
    out = trailing_mean(funding, at, span_ms=span_h * HOUR)
    for value, t in zip(out, at, strict=True):
        inside = [r for r, s in zip(rates, times, strict=True) if t - span_h * HOUR < s <= t]
        if inside:
            assert value == pytest.approx(np.mean(inside), rel=1e-9, abs=1e-15)
        else:
            assert math.isnan(value)


@given(st.floats(-1e-2, 1e-2), st.floats(0.0, 0.49))
@settings(max_examples=100, deadline=None)
def test_crowded_long_share_is_bounded_and_follows_the_sign(rate, crowding) -> None:
    share = float(crowded_long_share(np.array([rate]), crowding)[0])
    assert 0.5 - crowding <= share <= 0.5 + crowding
    if rate > FUNDING_BASELINE_PER_H:
        assert share >= 0.5
    elif rate < FUNDING_BASELINE_PER_H:
        assert share <= 0.5


def test_crowded_long_share_reference_values() -> None:
    at_baseline, one_scale, unknown = crowded_long_share(
        np.array([FUNDING_BASELINE_PER_H, FUNDING_BASELINE_PER_H + FUNDING_SCALE_PER_H,
                  np.nan]), 0.2)
    assert at_baseline == 0.5 and unknown == 0.5
    assert one_scale == pytest.approx(0.5 + 0.2 * math.tanh(1.0))
    with pytest.raises(ValueError, match="funding crowding"):
        crowded_long_share(np.array([0.0]), 0.5)
    assert long_share_at(None, np.array([1, 2]), 0.3).tolist() == [0.5, 0.5]


def flat_candles(n: int, price: float = 100.0) -> Candles:
    p = np.full(n, price)
    return Candles(np.arange(n, dtype=np.int64) * HOUR, p, p, p, p, np.ones(n),
                   np.full(n, np.nan), HOUR)


def test_positive_funding_puts_more_of_the_new_positions_on_the_long_side() -> None:
    candles = flat_candles(24)
    oi = 1_000.0 + 100.0 * np.arange(1, 25)
    crowded = FundingRates(np.arange(-24, 24, dtype=np.int64) * HOUR,
                           np.full(48, FUNDING_BASELINE_PER_H + FUNDING_SCALE_PER_H))
    even = MapParams(leverage_mix={5.0: 1.0}, side_split="even", churn_rate_per_day=0.1)
    split = dataclasses.replace(even, side_split="funding", funding_crowding=0.2)
    args = (candles, oi, hyperliquid_brackets("BTC"), 100.0, 24 * HOUR)
    a = build_map(*args, even, oi_before=1_000.0, funding=crowded)
    b = build_map(*args, split, oi_before=1_000.0, funding=crowded)
    zero = build_map(*args, dataclasses.replace(split, funding_crowding=0.0),
                     oi_before=1_000.0, funding=crowded)
    share = 0.5 + 0.2 * math.tanh(1.0)
    total = a.long_notional.sum() + a.short_notional.sum()
    assert b.long_notional.sum() == pytest.approx(share * total)
    assert b.short_notional.sum() == pytest.approx((1 - share) * total)
    assert b.churn_long_share == pytest.approx(share) and a.churn_long_share == 0.5
    np.testing.assert_array_equal(zero.long_notional, a.long_notional)
    without = build_map(*args, split, oi_before=1_000.0, funding=None)
    np.testing.assert_array_equal(without.long_notional, a.long_notional)


def test_the_crowding_is_a_model_parameter_only_with_the_funding_split() -> None:
    even = MapParams(side_split="even")
    assert "funding_crowding" not in model_parameters(even)
    assert model_version(even) == model_version(dataclasses.replace(even, funding_crowding=0.3))
    split = dataclasses.replace(even, side_split="funding", funding_crowding=0.1)
    assert model_parameters(split)["funding_crowding"] == 0.1
    assert model_version(split) != model_version(dataclasses.replace(split, funding_crowding=0.2))


RATIOS = (np.array([0.9]), np.array([1.1]), np.array([1.0]))


def test_churn_on_a_path_known_answer() -> None:
    # high first (110 in hour 0), then a fall to 90 (hour 2): every long opened is liquidated
    # where 90 <= 0.9 p, the shorts only in hour 0, where the high comes after the entry
    lows, highs = np.array([100.0, 95.0, 90.0]), np.array([110.0, 100.0, 95.0])
    long, short = churn_liquidated_on_path(300.0, 300.0, *RATIOS, lows, highs)
    # longs: hour 0 entries over [100, 110], p >= 100: all; hour 1 [95, 100]: p = 100 only (0);
    # hour 2 [90, 95]: none -> 100 of 300
    assert long == pytest.approx(100.0)
    # shorts: hour 0 p <= 110 / 1.1 = 100: p = 100 only (0); later highs are lower -> 0
    assert short == pytest.approx(0.0)
    assert churn_liquidated(300.0, 300.0, *RATIOS, 90.0, 110.0) == pytest.approx((150.0, 150.0))


@given(st.floats(50.0, 200.0), st.floats(-0.4, 0.4).filter(lambda m: abs(m) > 1e-3),
       st.integers(1, 48), st.floats(0.5, 0.99), st.floats(1.01, 1.5), st.floats(0, 1e6),
       st.floats(0, 1e6))
@settings(max_examples=120, deadline=None)
def test_a_straight_path_in_equal_steps_reads_like_its_range(
        start, move, steps, long_ratio, short_ratio, opened_long, opened_short) -> None:
    edges = start * (1 + move * np.linspace(0.0, 1.0, steps + 1))
    lows, highs = np.minimum(edges[:-1], edges[1:]), np.maximum(edges[:-1], edges[1:])
    ratios = (np.array([long_ratio]), np.array([short_ratio]), np.array([1.0]))
    on_path = churn_liquidated_on_path(opened_long, opened_short, *ratios, lows, highs)
    # a straight path: the extreme that liquidates one side comes after every entry; the
    # other side's extreme came first, so that side's entries see no later extreme but their own
    by_range = churn_liquidated(opened_long, opened_short, *ratios, float(lows.min()),
                                float(highs.max()))
    falling = move < 0
    assert on_path[0 if falling else 1] == pytest.approx(by_range[0 if falling else 1],
                                                         rel=1e-9, abs=1e-6)
    assert on_path[1 if falling else 0] <= by_range[1 if falling else 0] + 1e-6


def test_a_single_candle_path_is_the_range_reading() -> None:
    assert churn_liquidated_on_path(80.0, 120.0, *RATIOS, np.array([90.0]),
                                    np.array([110.0])) == pytest.approx(
        churn_liquidated(80.0, 120.0, *RATIOS, 90.0, 110.0))
    assert churn_liquidated_on_path(1.0, 1.0, *RATIOS, np.empty(0), np.empty(0)) == (0.0, 0.0)
