"""Realised liquidations binned on a map's bands: known answers, and nothing dropped."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.liqmap.realised_bands import realised_by_band

EDGES = np.array([90.0, 95.0, 100.0, 105.0, 110.0])


def test_events_fall_in_their_bands_and_outside_totals() -> None:
    binned = realised_by_band(
        EDGES[:-1], EDGES[1:],
        sides=["long", "long", "short", "short", "long", "short", "long"],
        prices=[94.0, 95.0, 104.99, 110.0, 80.0, 120.0, 90.0],
        notional_quote=[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
    )
    assert binned.long_quote.tolist() == [65.0, 2.0, 0.0, 0.0]
    assert binned.short_quote.tolist() == [0.0, 0.0, 4.0, 8.0]  # the top edge is the last band's
    assert binned.long_count.tolist() == [2, 1, 0, 0]
    assert binned.short_count.tolist() == [0, 0, 1, 1]
    assert binned.below_quote == (16.0, 0.0) and binned.below_count == (1, 0)
    assert binned.above_quote == (0.0, 32.0) and binned.above_count == (0, 1)


def test_no_bands_puts_everything_outside() -> None:
    binned = realised_by_band(np.zeros(0), np.zeros(0), ["long"], [100.0], [5.0])
    assert len(binned.long_quote) == 0
    assert binned.below_quote[0] + binned.above_quote[0] == 5.0


@given(st.lists(st.tuples(st.sampled_from(["long", "short"]), st.floats(50.0, 150.0),
                          st.floats(0.0, 1e6)), max_size=200))
@settings(max_examples=200, deadline=None)
def test_nothing_is_dropped(events) -> None:
    sides = [s for s, _, _ in events]
    prices = [p for _, p, _ in events]
    notional = [n for _, _, n in events]
    binned = realised_by_band(EDGES[:-1], EDGES[1:], sides, prices, notional)
    for k, side in enumerate(("long", "short")):
        per_band = binned.long_quote if side == "long" else binned.short_quote
        counts = binned.long_count if side == "long" else binned.short_count
        expected = sum(n for s, _, n in events if s == side)
        total = per_band.sum() + binned.below_quote[k] + binned.above_quote[k]
        assert total == pytest.approx(expected, rel=1e-9, abs=1e-6)
        assert counts.sum() + binned.below_count[k] + binned.above_count[k] == sides.count(side)
