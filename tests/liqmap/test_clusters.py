"""`find_clusters` against a plain per-peak reference (numpy scalars, `ndarray.sum`): the same
clusters, field for field, on random profiles with narrow and wide peaks and ties."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.liqmap.bands import BandGrid
from execsvc.liqmap.clusters import find_clusters, local_peaks, smooth


def reference_clusters(grid, long_notional, short_notional, min_peak_fraction=0.05,
                       max_per_side=16):
    halves = {"long": (long_notional[: grid.n_side], 0),
              "short": (short_notional[grid.n_side :], grid.n_side)}
    smoothed = {side: smooth(profile) for side, (profile, _) in halves.items()}
    scale = max(float(s.max(initial=0.0)) for s in smoothed.values())
    if scale <= 0.0:
        return []
    edges = grid.edges()
    found = []
    for side, (profile, offset) in halves.items():
        curve = smoothed[side]
        peaks = local_peaks(curve, min_peak_fraction * scale)
        for peak in peaks[np.argsort(curve[peaks])[::-1][:max_per_side]].tolist():
            half = curve[peak] / 2.0
            left = right = peak
            while left > 0 and half < curve[left - 1] <= curve[left]:
                left -= 1
            while right < len(curve) - 1 and half < curve[right + 1] <= curve[right]:
                right += 1
            low, high = float(edges[offset + left]), float(edges[offset + right + 1])
            near_edge = high if side == "long" else low
            found.append((side, low, high,
                          float((edges[offset + peak] + edges[offset + peak + 1]) / 2),
                          float(profile[left : right + 1].sum()), float(curve[peak] / scale),
                          abs(near_edge - grid.price) / grid.price * 100.0))
    found.sort(key=lambda c: c[4], reverse=True)
    return [(*fields, rank) for rank, fields in enumerate(found, start=1)]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.sampled_from([1.0, 3.0, 12.0]),
       st.booleans(), st.sampled_from([0.0, 0.05, 0.3]))
def test_matches_the_per_peak_reference(seed, bumps, width, ties, fraction) -> None:
    rng = np.random.default_rng(seed)
    grid = BandGrid.around(float(rng.uniform(0.01, 1e5)), 10.0, 20.0)
    x = np.arange(grid.n_bins)
    profile = np.zeros(grid.n_bins)
    for centre, height in zip(rng.integers(0, grid.n_bins, bumps),
                              rng.uniform(1e3, 1e8, bumps), strict=True):
        profile += height * np.exp(-0.5 * ((x - centre) / width) ** 2)
    if ties:
        profile = np.round(profile, -6)  # plateaus and equal notionals
    long_notional = np.where(x < grid.n_side, profile, 0.0)
    short_notional = np.where(x >= grid.n_side, profile, 0.0)
    clusters = find_clusters(grid, long_notional, short_notional, fraction)
    expected = reference_clusters(grid, long_notional, short_notional, fraction)
    assert [(c.side, c.price_low, c.price_high, c.peak_price, c.notional_quote, c.intensity,
             c.distance_pct, c.rank) for c in clusters] == expected
    assert any(c.price_high - c.price_low > 8 * grid.width for c in clusters) or width < 12
