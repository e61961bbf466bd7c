"""Clusters: the dense places of the band profile, found per side of the price.

The band totals of one side are smoothed with a 5-band binomial kernel `[1, 4, 6, 4, 1] / 16`.
A cluster is a local maximum of the smoothed profile at least `min_peak_fraction` of the
largest smoothed band of the whole map. Its extent runs outward from the peak while the
smoothed profile stays above half the peak and keeps falling (it stops in a valley, so
neighbouring clusters never overlap). Notional is the raw band notional inside the extent.
"""

from __future__ import annotations

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
    """Binomial smoothing; bands beyond the ends count as empty."""
    return np.convolve(profile, KERNEL, mode="same")


def local_peaks(smoothed: np.ndarray, threshold: float) -> np.ndarray:
    """Indices k with `s[k-1] < s[k] >= s[k+1]` and `s[k] >= threshold` (a plateau gives its
    left end)."""
    padded = np.concatenate(([-np.inf], smoothed, [-np.inf]))
    rising = padded[1:-1] > padded[:-2]
    not_falling_next = padded[1:-1] >= padded[2:]
    return np.flatnonzero(rising & not_falling_next & (smoothed >= threshold) & (smoothed > 0))


def _extent(smoothed: list[float], peak: int) -> tuple[int, int]:
    half = smoothed[peak] / 2.0
    left = peak
    while left > 0 and half < smoothed[left - 1] <= smoothed[left]:
        left -= 1
    right = peak
    while right < len(smoothed) - 1 and half < smoothed[right + 1] <= smoothed[right]:
        right += 1
    return left, right


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
    for peak in peaks.tolist():
        left, right = _extent(smoothed, peak)
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
