"""Several venues' maps of one symbol and window summed on one band grid (pure numpy).

**Reference price**: the median of the venues' marks (`np.median`: with an even number of
venues, the mean of the two middle marks). The common grid has that price on the edge
between its halves, with the venues' band width and range.

**Placement**: each venue's bands keep their *relative* distance from the venue's own mark:
a band edge `p` of venue v lands at `p * reference / mark_v`. A liquidation 2 % below
Hyperliquid's mark (USDC) is 2 % below the reference, so the basis between venues (USDT vs
USDC quotes, a lagging feed) never moves a liquidation across the price: long liquidations
stay below it, short ones above it. With the same band width and number of bands on every venue
(one `MapParams`), the placed bands are the common ones and are taken as they are.

**Re-binning** (`rebin`): a band's notional is spread evenly over its price interval and each
common band receives the part its interval overlaps; the cumulative notional is interpolated
linearly between edges, and a band's share is the difference of that curve at its edges. So
notional is conserved: what lands outside the common grid is counted out of range (longs
below, shorts above), never dropped.

**Shares**: per common band, each venue's notional (`by_venue`, long or short as the band's
side); per cluster, each venue's notional over the cluster's bands (`cluster_by_venue`); the
venues' totals. Clusters are found again on the summed profile with `find_clusters` (so they
never overlap), not merged from the venues' clusters.

**Leverages**: the union of the venues' leverages; a venue's `by_leverage` rows are re-binned
like its bands and added to the row of the same leverage. The churn figures of the sum: the
open interest is the venues' sum; a leverage's weight and liquidation ratios are the venues'
averaged with each venue's notional (binned plus out of range) as weight. `data_end_ms` is
the oldest venue's, `candles_used` the most any venue used, `model` is `oi_delta` only when
every venue's is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from execsvc.liqmap.bands import BandGrid, cumulative_outward, relative_intensity
from execsvc.liqmap.clusters import find_clusters
from execsvc.liqmap.model import LiquidationMap


@dataclass(frozen=True, slots=True)
class AggregateMap:
    """The venues' maps summed (`combined`, on the common grid around the reference price),
    with each venue's part: `by_venue[v, k]` venue `venues[v]`'s notional (quote) in band k,
    `cluster_by_venue[c, v]` its notional in `combined.clusters[c]`, `venue_long` /
    `venue_short` its in-range totals and `venue_out_of_range` (long, short) what it has beyond
    the common grid."""

    combined: LiquidationMap
    venues: tuple[str, ...]
    by_venue: np.ndarray
    cluster_by_venue: np.ndarray
    venue_long: np.ndarray
    venue_short: np.ndarray
    venue_out_of_range: np.ndarray


def reference_price(marks: np.ndarray) -> float:
    """The median of the venues' marks (quote per base)."""
    if len(marks) == 0:
        raise ValueError("no venue to take a reference price from")
    return float(np.median(marks))


def rebin(edges: np.ndarray, values: np.ndarray, target: np.ndarray
          ) -> tuple[np.ndarray, float, float]:
    """`values` on bands `edges` (ascending, `len(values) + 1`) re-binned onto the bands
    `target`: (per target band, the notional below `target[0]`, the notional above
    `target[-1]`), which sum to `values.sum()` (see the module docstring). `target` may start
    at -inf or end at +inf to take everything on that side."""
    cumulative = np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))
    at_target = np.interp(target, edges, cumulative)
    total = float(cumulative[-1])
    return np.diff(at_target), float(at_target[0]), total - float(at_target[-1])


def _half_targets(grid: BandGrid) -> tuple[np.ndarray, np.ndarray]:
    """Target edges of the long half (its top at +inf) and the short half (its bottom at
    -inf), so that nothing crosses the price however the placed edges round."""
    edges = grid.edges()
    lower = edges[: grid.n_side + 1].copy()
    upper = edges[grid.n_side :].copy()
    lower[-1], upper[0] = np.inf, -np.inf
    return lower, upper


@dataclass(frozen=True, slots=True)
class _Placed:
    """One venue on the common grid: long / short / per-leverage notional per band and the
    notional it has beyond the grid (long below, short above), its own out of range included."""

    long: np.ndarray
    short: np.ndarray
    by_leverage: np.ndarray
    out_long: float
    out_short: float


def _place(venue_map: LiquidationMap, grid: BandGrid) -> _Placed:
    own = venue_map.grid
    if own.n_side == grid.n_side and own.bin_width_bps == grid.bin_width_bps:
        return _Placed(venue_map.long_notional, venue_map.short_notional,
                       venue_map.by_leverage, venue_map.out_of_range_long,
                       venue_map.out_of_range_short)
    edges = own.edges() * (grid.price / own.price)
    lower, upper = _half_targets(grid)
    n = own.n_side
    long, below, _ = rebin(edges[: n + 1], venue_map.long_notional[:n], lower)
    short, _, above = rebin(edges[n:], venue_map.short_notional[n:], upper)
    rows = [np.concatenate((rebin(edges[: n + 1], row[:n], lower)[0],
                            rebin(edges[n:], row[n:], upper)[0]))
            for row in venue_map.by_leverage]
    by_leverage = np.array(rows).reshape(len(rows), grid.n_bins)
    return _Placed(
        long=np.concatenate((long, np.zeros(grid.n_side))),
        short=np.concatenate((np.zeros(grid.n_side), short)),
        by_leverage=by_leverage,
        out_long=venue_map.out_of_range_long + below,
        out_short=venue_map.out_of_range_short + above,
    )


def _leverage_rows(maps: list[LiquidationMap], placed: list[_Placed], weight: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The union of leverages, the summed `by_leverage` on it, and per leverage the
    weight-averaged mix weight and long / short liquidation ratios (venues lacking a leverage
    count with weight 0 for it)."""
    leverages = np.unique(np.concatenate([m.leverages for m in maps]))
    n_bins = placed[0].long.shape[0]
    by_leverage = np.zeros((len(leverages), n_bins))
    mix = np.zeros(len(leverages))
    ratio_weight = np.zeros(len(leverages))
    long_ratios = np.zeros(len(leverages))
    short_ratios = np.zeros(len(leverages))
    for venue_map, venue, w in zip(maps, placed, weight, strict=True):
        rows = np.searchsorted(leverages, venue_map.leverages)
        by_leverage[rows] += venue.by_leverage
        if len(venue_map.leverage_weights) == len(rows):
            mix[rows] += w * venue_map.leverage_weights
        if len(venue_map.long_ratios) == len(rows):
            ratio_weight[rows] += w
            long_ratios[rows] += w * venue_map.long_ratios
            short_ratios[rows] += w * venue_map.short_ratios
    mix = mix / weight.sum()
    seen = ratio_weight > 0
    long_ratios[seen] /= ratio_weight[seen]
    short_ratios[seen] /= ratio_weight[seen]
    return leverages, by_leverage, mix, long_ratios, short_ratios


def _cluster_shares(grid: BandGrid, clusters, by_venue: np.ndarray) -> np.ndarray:
    """Each venue's notional over each cluster's bands, `(clusters, venues)`."""
    if not clusters:
        return np.zeros((0, by_venue.shape[0]))
    edges = np.array([(c.price_low, c.price_high) for c in clusters])
    first, last = np.rint((edges - grid.lowest) / grid.width).astype(np.intp).T
    cumulative = np.concatenate((np.zeros((by_venue.shape[0], 1)),
                                 np.cumsum(by_venue, axis=1)), axis=1)
    return (cumulative[:, last] - cumulative[:, first]).T


def aggregate_maps(maps: Mapping[str, LiquidationMap], min_peak_fraction: float = 0.05
                   ) -> AggregateMap:
    """The maps of one symbol and window on several venues (venue id -> map, in the order
    the shares are listed), summed on a common grid (see the module docstring)."""
    if not maps:
        raise ValueError("no venue map to aggregate")
    venues = tuple(maps)
    ordered = [maps[v] for v in venues]
    first = ordered[0].grid
    price = reference_price(np.array([m.price for m in ordered]))
    grid = BandGrid(price, first.bin_width_bps, first.n_side)
    placed = [_place(m, grid) for m in ordered]
    venue_long = np.array([p.long.sum() for p in placed])
    venue_short = np.array([p.short.sum() for p in placed])
    out = np.array([(p.out_long, p.out_short) for p in placed])
    weight = venue_long + venue_short + out.sum(axis=1)
    if weight.sum() <= 0:  # empty maps: every venue counts alike
        weight = np.ones(len(ordered))
    by_venue = np.array([p.long + p.short for p in placed])
    long = np.sum([p.long for p in placed], axis=0)
    short = np.sum([p.short for p in placed], axis=0)
    leverages, by_leverage, mix, long_ratios, short_ratios = _leverage_rows(
        ordered, placed, weight)
    cum_long, cum_short = cumulative_outward(long, short, grid.n_side)
    clusters = find_clusters(grid, long, short, min_peak_fraction)
    open_interest = [m.open_interest_quote for m in ordered if np.isfinite(m.open_interest_quote)]
    combined = LiquidationMap(
        model="oi_delta" if all(m.model == "oi_delta" for m in ordered) else "volume_proxy",
        price=price, grid=grid, leverages=leverages, long_notional=long, short_notional=short,
        by_leverage=by_leverage, cum_long=cum_long, cum_short=cum_short,
        intensity=relative_intensity(long + short), clusters=clusters,
        out_of_range_long=float(out[:, 0].sum()), out_of_range_short=float(out[:, 1].sum()),
        candles_used=max(m.candles_used for m in ordered),
        data_end_ms=min(m.data_end_ms for m in ordered),
        long_ratios=long_ratios, short_ratios=short_ratios, leverage_weights=mix,
        open_interest_quote=float(sum(open_interest)) if open_interest else float("nan"),
        churn_long_share=float(np.average([m.churn_long_share for m in ordered],
                                          weights=weight)),
    )
    return AggregateMap(combined, venues, by_venue, _cluster_shares(grid, clusters, by_venue),
                        venue_long, venue_short, out)
