"""The book resilience model and its event-study calibration: known answers on constructed
books and series, and properties of the cost."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.book import walk_book
from execsvc.execution.resilience import (
    RECOVERY_RATE_PER_S,
    EventStudy,
    ResilientSide,
    fit_recovery_rate,
    half_life_s,
    recovery_curves,
    recovery_error,
    schedule_cost,
)
from execsvc.market.replay_books import recorded_order_book

ASKS = np.array([[100.0, 1.0], [101.0, 1.0], [102.0, 1.0]])


def test_a_taken_level_refills_exponentially() -> None:
    side = ResilientSide(ASKS, mid=99.5, rate=math.log(2.0))  # half-life 1 s
    first = side.take(1.0, 0.0)
    assert (first.filled, first.notional_quote, first.extrapolated) == (1.0, 100.0, False)
    again = side.take(1.0, 1.0)  # half of the best level is back
    assert again.notional_quote == pytest.approx(0.5 * 100.0 + 0.5 * 101.0)
    assert side.deficit[:2] == pytest.approx([1.0, 0.5])


def test_past_the_visible_depth_the_walk_is_extrapolated() -> None:
    side = ResilientSide(ASKS, mid=99.5, rate=RECOVERY_RATE_PER_S)
    take = side.take(10.0, 0.0)
    assert take.filled == pytest.approx(10.0) and take.extrapolated
    assert side.visible_depth == 3.0


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, 800), sizes=st.lists(st.floats(0.5, 40.0), min_size=1, max_size=4),
       gap=st.floats(0.01, 60.0), side=st.sampled_from(["buy", "sell"]))
def test_cost_lies_between_instant_refill_and_no_refill(index, sizes, gap, side) -> None:
    """At most 160 BTC, within every recorded side (>= 200 BTC), so walk_book fills it all."""
    book = recorded_order_book(index)
    levels = book.asks if side == "buy" else book.bids
    sign = 1.0 if side == "buy" else -1.0
    orders = [(k * gap, q) for k, q in enumerate(sizes)]
    instant = schedule_cost(levels, book.mid, sign, orders, math.inf)
    calibrated = schedule_cost(levels, book.mid, sign, orders, RECOVERY_RATE_PER_S)
    never = schedule_cost(levels, book.mid, sign, orders, 0.0)
    assert instant.slippage_bps <= calibrated.slippage_bps + 1e-9 <= never.slippage_bps + 2e-9
    walks = sum(walk_book(levels, q, side, book.mid).notional_quote for q in sizes)
    assert instant.notional_quote == pytest.approx(walks, rel=1e-9)
    whole = walk_book(levels, sum(sizes), side, book.mid)
    assert never.notional_quote == pytest.approx(whole.notional_quote, rel=1e-9)
    assert calibrated.filled == pytest.approx(sum(sizes))


def synthetic_series(rate: float, seed: int = 1) -> tuple[np.ndarray, ...]:
    """Depth 50 BTC; bursts of 10 BTC every 90 s take 20 BTC that refill at `rate`; noise."""
    rng = np.random.default_rng(seed)
    times = np.arange(0, 600_000, 10, dtype=np.float64)
    depth = np.full(times.shape, 50.0)
    bursts = np.arange(10_000, 570_000, 90_000, dtype=np.float64)
    for start in bursts:
        after = times >= start + 80  # from the burst's last trade
        depth[after] -= 20.0 * np.exp(-rate * (times[after] - start - 80) / 1000.0)
    depth += rng.normal(0.0, 0.3, size=depth.shape)
    trade_times = np.repeat(bursts, 5) + np.tile(np.arange(5) * 20.0, len(bursts))
    return times, depth, trade_times, np.full(trade_times.shape, 2.0)


@pytest.mark.parametrize("rate", [0.05, 0.4, 2.0])
def test_the_event_study_recovers_a_known_rate(rate: float) -> None:
    curves = recovery_curves(*synthetic_series(rate), EventStudy())
    assert len(curves) == 7
    fitted = fit_recovery_rate(curves)
    assert fitted == pytest.approx(rate, rel=0.1)
    assert recovery_error(curves, fitted, EventStudy().lags_ms) < recovery_error(
        curves, math.inf, EventStudy().lags_ms)


def test_constants() -> None:
    assert half_life_s(RECOVERY_RATE_PER_S) == pytest.approx(1.667, abs=0.001)
    assert half_life_s(0.0) == math.inf
    with pytest.raises(ValueError, match="no recovery curves"):
        fit_recovery_rate(np.zeros((0, 9)))
