"""Clusters: the dense places of the band profile, found per side of the price.

The band totals of one side are smoothed with a 5-band binomial kernel `[1, 4, 6, 4, 1] / 16`.
A cluster is a local maximum of the smoothed profile at least `min_peak_fraction` of the
largest smoothed band of the whole map. Its extent runs outward from the peak while the
smoothed profile stays above half the peak and keeps falling (or stays level). Two
neighbouring extents can both reach the bands of the valley between their peaks (a one-band
valley, or a level stretch); those shared bands are split at the valley's lowest band
(`partition_extents`): the bands before it go to the left cluster, the bands after it to the
right one, the lowest band to neither. So every band belongs to at most one cluster, extents
never overlap (they may touch at an edge), and a cluster's notional, the raw band notional
inside its extent, never counts a band twice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from execsvc.liqmap.bands import BandGrid

KERNEL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


@dataclass(frozen=True, slots=True)
class Cluster:
    side: str
    price_low: float
    price_high: float
    peak_price: float
    notional_quote: float
    intensity: float
    distance_pct: float
    rank: int = 0


def smooth(profile: np.ndarray) -> np.ndarray:
    """Binomial smoothing, `s[i] = sum_j KERNEL[j] * profile[i + j - 2]`, as long as `profile`
    (also when it is shorter than the kernel); bands beyond the ends count as empty."""
    profile = np.asarray(profile, dtype=np.float64)
    if profile.size == 0:
        return profile.copy()
    half = KERNEL.size // 2
    return np.convolve(profile, KERNEL)[half:half + profile.size]


def local_peaks(smoothed: np.ndarray, threshold: float) -> np.ndarray:
    """The peaks of `smoothed` at least `threshold` (and > 0): runs of equal values whose
    neighbouring values on both sides are lower (the ends count as -inf); a run of several bands
    (a plateau) gives its left end. A level stretch followed by a rise is a shoulder of the next
    peak, not a peak."""
    s = np.asarray(smoothed, dtype=np.float64)
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(s) != 0.0) + 1))
    values = s[starts]
    before = np.concatenate(([-np.inf], values[:-1]))
    after = np.concatenate((values[1:], [-np.inf]))
    peak = (values > before) & (values > after) & (values >= threshold) & (values > 0)
    return starts[peak]


def _extent(smoothed: list[float], peak: int) -> tuple[int, int]:
    half = smoothed[peak] / 2.0
    left = peak
    while left > 0 and half < smoothed[left - 1] <= smoothed[left]:
        left -= 1
    right = peak
    while right < len(smoothed) - 1 and half < smoothed[right + 1] <= smoothed[right]:
        right += 1
    return left, right


def partition_extents(
    smoothed: np.ndarray, extents: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """`(peak, left, right)` band extents clipped so that no band lies in two of them.

    Extents are taken in band order (by peak). Where one's `right` reaches the next one's
    `left` or beyond, the shared bands `next.left .. right` lie in the valley between the two
    peaks; with `v` the lowest smoothed band among them (the first, on a tie), the left extent
    ends at `v - 1` and the right one starts at `v + 1`. Peaks are local maxima and extents
    only descend from them, so `v` lies strictly between the peaks and each peak keeps its own
    band.
    """
    ordered = sorted(extents)
    clipped = [list(extent) for extent in ordered]
    for first, second in itertools.pairwise(clipped):
        if first[2] < second[1]:
            continue
        shared = np.arange(second[1], first[2] + 1)
        valley = int(shared[np.argmin(smoothed[shared])])
        first[2] = min(first[2], valley - 1)
        second[1] = max(second[1], valley + 1)
    return [(peak, left, right) for peak, left, right in clipped]


def _band_sum(profile: np.ndarray, values: list[float], left: int, right: int) -> float:
    """`profile[left : right + 1].sum()`: below 8 terms numpy adds them one after another, as
    `sum` of the list does (without numpy's per-call cost)."""
    if right - left < 7:
        return sum(values[left : right + 1])
    return float(profile[left : right + 1].sum())


def _side_clusters(
    grid: BandGrid, side: str, profile: np.ndarray, curve: np.ndarray, offset: int,
    threshold: float, scale: float, limit: int,
) -> list[tuple]:
    """The `limit` highest peaks of one side's smoothed `curve` as cluster fields (`Cluster`'s
    order, no rank)."""
    peaks = local_peaks(curve, threshold)
    peaks = peaks[np.argsort(curve[peaks])[::-1][:limit]]
    if not len(peaks):
        return []
    edges = grid.edges().tolist()
    smoothed, amounts = curve.tolist(), profile.tolist()
    price = grid.price
    found = []
    extents = partition_extents(
        curve, [(peak, *_extent(smoothed, peak)) for peak in peaks.tolist()]
    )
    for peak, left, right in extents:
        low, high = edges[offset + left], edges[offset + right + 1]
        near_edge = high if side == "long" else low
        found.append((
            side, low, high, (edges[offset + peak] + edges[offset + peak + 1]) / 2,
            _band_sum(profile, amounts, left, right), smoothed[peak] / scale,
            abs(near_edge - price) / price * 100.0,
        ))
    return found


def find_clusters(
    grid: BandGrid,
    long_notional: np.ndarray,
    short_notional: np.ndarray,
    min_peak_fraction: float = 0.05,
    max_per_side: int = 16,
) -> list[Cluster]:
    """Up to `max_per_side` clusters on each side (the highest peaks), ranked 1.. by notional."""
    halves = {
        "long": (long_notional[: grid.n_side], 0),
        "short": (short_notional[grid.n_side :], grid.n_side),
    }
    smoothed = {side: smooth(profile) for side, (profile, _) in halves.items()}
    scale = max(float(s.max(initial=0.0)) for s in smoothed.values())
    if scale <= 0.0:
        return []
    found = []
    for side, (profile, offset) in halves.items():
        found += _side_clusters(grid, side, profile, smoothed[side], offset,
                                min_peak_fraction * scale, scale, max_per_side)
    found.sort(key=lambda fields: fields[4], reverse=True)
    return [Cluster(*fields, rank=rank) for rank, fields in enumerate(found, start=1)]
