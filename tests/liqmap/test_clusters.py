"""Clusters on generated band profiles: extents never overlap and no band is counted twice."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from execsvc.liqmap.bands import BandGrid
from execsvc.liqmap.clusters import find_clusters, partition_extents, smooth

GRID = BandGrid(price=100.0, bin_width_bps=10.0, n_side=60)

profiles = arrays(
    np.float64, GRID.n_side,
    elements=st.one_of(st.just(0.0), st.floats(0.0, 1e9, allow_nan=False)),
)


def band_index(price: float) -> int:
    return round((price - GRID.lowest) / GRID.width)


@settings(max_examples=300)
@given(long_side=profiles, short_side=profiles, fraction=st.floats(0.0, 0.5))
def test_extents_are_disjoint_and_notional_is_never_counted_twice(
    long_side, short_side, fraction
) -> None:
    longs = np.concatenate([long_side, np.zeros(GRID.n_side)])
    shorts = np.concatenate([np.zeros(GRID.n_side), short_side])
    clusters = find_clusters(GRID, longs, shorts, min_peak_fraction=fraction)
    for side, profile in (("long", longs), ("short", shorts)):
        own = sorted((c for c in clusters if c.side == side), key=lambda c: c.price_low)
        covered = np.zeros(GRID.n_bins, dtype=int)
        for cluster in own:
            first, stop = band_index(cluster.price_low), band_index(cluster.price_high)
            assert first < stop and cluster.price_low < cluster.peak_price < cluster.price_high
            covered[first:stop] += 1
            assert np.isclose(cluster.notional_quote, profile[first:stop].sum(), rtol=1e-12)
        assert covered.max(initial=0) <= 1, "a band lies in two clusters"
        for left, right in itertools.pairwise(own):
            assert left.price_high <= right.price_low
        total = sum(c.notional_quote for c in own)
        assert total <= profile.sum() * (1 + 1e-12)


def test_a_one_band_valley_goes_to_neither_neighbour() -> None:
    """Two peaks with one low band between them: before the fix both extents took it."""
    profile = np.zeros(GRID.n_side)
    profile[20:25] = [1.0, 4.0, 9.0, 4.0, 1.0]
    profile[25:30] = [1.0, 4.0, 9.0, 4.0, 1.0]
    curve = smooth(profile)
    peaks = [int(np.argmax(curve[:25])), 25 + int(np.argmax(curve[25:]))]
    overlapping = [(p, *extent) for p, extent in zip(peaks, ((18, 26), (23, 31)), strict=True)]
    (_, _, right), (_, left, _) = partition_extents(curve, overlapping)
    assert right < left
    valley = right + 1
    assert valley == left - 1 and curve[valley] == curve[right:left + 1].min()
    clusters = find_clusters(GRID, np.concatenate([profile, np.zeros(GRID.n_side)]),
                             np.zeros(GRID.n_bins))
    low, high = sorted(clusters, key=lambda c: c.price_low)
    assert low.price_high < high.price_low
