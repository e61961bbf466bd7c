"""Several venues' maps summed on one grid: shares add up to the totals, re-binning conserves
notional, one venue is its own aggregate, the order of venues does not matter; known values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.liqmap.aggregate import aggregate_maps, rebin, reference_price
from execsvc.liqmap.bands import BandGrid, cumulative_outward, relative_intensity
from execsvc.liqmap.clusters import find_clusters
from execsvc.liqmap.model import LiquidationMap

N_SIDE = 30
BPS = 20.0


def venue_map(price: float, longs, shorts, leverages=(10.0, 25.0), split=0.6,
              out_of_range=(0.0, 0.0), n_side: int = N_SIDE, bps: float = BPS
              ) -> LiquidationMap:
    """A venue's map with `longs` below and `shorts` above its price; the first leverage
    holds `split` of every band."""
    grid = BandGrid(price, bps, n_side)
    long = np.concatenate((np.asarray(longs, dtype=float), np.zeros(n_side)))
    short = np.concatenate((np.zeros(n_side), np.asarray(shorts, dtype=float)))
    total = long + short
    shares = np.array([split] + [(1 - split) / (len(leverages) - 1)] * (len(leverages) - 1))
    cum_long, cum_short = cumulative_outward(long, short, n_side)
    return LiquidationMap(
        model="oi_delta", price=price, grid=grid, leverages=np.array(leverages),
        long_notional=long, short_notional=short, by_leverage=shares[:, None] * total[None, :],
        cum_long=cum_long, cum_short=cum_short, intensity=relative_intensity(total),
        clusters=find_clusters(grid, long, short), out_of_range_long=out_of_range[0],
        out_of_range_short=out_of_range[1], candles_used=24, data_end_ms=1_700_000_000_000,
        long_ratios=1 - 1 / np.array(leverages), short_ratios=1 + 1 / np.array(leverages),
        leverage_weights=shares, open_interest_quote=1e6,
    )


side = st.lists(st.floats(0.0, 1e8, allow_nan=False), min_size=N_SIDE, max_size=N_SIDE)
venue = st.builds(
    venue_map, price=st.floats(90.0, 110.0), longs=side, shorts=side,
    leverages=st.sampled_from([(10.0, 25.0), (10.0, 20.0, 40.0), (5.0, 25.0)]),
    split=st.floats(0.0, 1.0), out_of_range=st.tuples(st.floats(0, 1e6), st.floats(0, 1e6)),
)
venue_sets = st.lists(venue, min_size=1, max_size=4).map(
    lambda maps: {f"venue{i}": m for i, m in enumerate(maps)})


def close(a, b) -> bool:
    scale = max(1.0, float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-9 * scale))


@settings(max_examples=150, deadline=None)
@given(maps=venue_sets)
def test_venue_shares_add_up_to_the_aggregate(maps) -> None:
    agg = aggregate_maps(maps)
    combined = agg.combined
    total = combined.long_notional + combined.short_notional
    assert close(agg.by_venue.sum(axis=0), total)  # per band
    assert close(agg.venue_long.sum(), combined.long_notional.sum())  # per side
    assert close(agg.venue_short.sum(), combined.short_notional.sum())
    assert close(agg.venue_long + agg.venue_short, agg.by_venue.sum(axis=1))
    assert close(agg.by_venue.sum(), total.sum())  # overall
    assert close(combined.by_leverage.sum(axis=0), total)  # per leverage
    assert close(agg.venue_out_of_range.sum(axis=0),
                 [combined.out_of_range_long, combined.out_of_range_short])
    for c, cluster in enumerate(combined.clusters):  # per cluster
        assert close(agg.cluster_by_venue[c].sum(), cluster.notional_quote)
    n = combined.grid.n_side
    assert not combined.long_notional[n:].any() and not combined.short_notional[:n].any()


@settings(max_examples=150, deadline=None)
@given(maps=venue_sets)
def test_each_venue_keeps_its_notional(maps) -> None:
    agg = aggregate_maps(maps)
    for v, venue_map_ in enumerate(maps.values()):
        long_in = venue_map_.long_notional.sum() + venue_map_.out_of_range_long
        short_in = venue_map_.short_notional.sum() + venue_map_.out_of_range_short
        assert close(agg.venue_long[v] + agg.venue_out_of_range[v, 0], long_in)
        assert close(agg.venue_short[v] + agg.venue_out_of_range[v, 1], short_in)


@settings(max_examples=200, deadline=None)
@given(
    widths=st.lists(st.floats(0.01, 5.0), min_size=1, max_size=30),
    start=st.floats(-50.0, 50.0),
    values_seed=st.integers(0, 2**32 - 1),
    target=st.lists(st.floats(-100.0, 200.0), min_size=2, max_size=40, unique=True),
)
def test_rebinning_conserves_notional(widths, start, values_seed, target) -> None:
    edges = start + np.concatenate(([0.0], np.cumsum(widths)))
    values = np.random.default_rng(values_seed).uniform(0, 1e6, len(widths))
    inside, below, above = rebin(edges, values, np.sort(target))
    assert (inside >= -1e-6).all() and below >= -1e-6 and above >= -1e-6
    assert np.isclose(inside.sum() + below + above, values.sum(), rtol=1e-9)


@settings(max_examples=100, deadline=None)
@given(one=venue)
def test_one_venue_is_its_own_aggregate(one) -> None:
    combined = aggregate_maps({"solo": one}).combined
    assert combined.price == one.price and combined.grid == one.grid
    for name in ("long_notional", "short_notional", "by_leverage", "cum_long", "cum_short",
                 "intensity", "leverages", "leverage_weights", "long_ratios", "short_ratios"):
        assert close(getattr(combined, name), getattr(one, name)), name
    assert close(combined.out_of_range_long, one.out_of_range_long)
    assert [(c.side, c.price_low, c.price_high) for c in combined.clusters] == [
        (c.side, c.price_low, c.price_high) for c in one.clusters]


@settings(max_examples=100, deadline=None)
@given(maps=venue_sets, seed=st.integers(0, 1000))
def test_the_order_of_venues_does_not_matter(maps, seed) -> None:
    names = list(maps)
    shuffled = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    first = aggregate_maps(maps)
    second = aggregate_maps({name: maps[name] for name in shuffled})
    assert first.combined.price == second.combined.price
    for name in ("long_notional", "short_notional", "by_leverage", "leverage_weights"):
        assert close(getattr(first.combined, name), getattr(second.combined, name)), name
    assert close(second.by_venue, first.by_venue[[names.index(n) for n in shuffled]])
    assert len(first.combined.clusters) == len(second.combined.clusters)


def test_reference_price_is_the_median_mark() -> None:
    assert reference_price(np.array([100.0, 110.0, 101.0])) == 101.0
    assert reference_price(np.array([100.0, 104.0, 101.0, 103.0])) == 102.0
    with pytest.raises(ValueError):
        reference_price(np.array([]))


def test_rebin_known_values() -> None:
    inside, below, above = rebin(np.array([0.0, 1.0, 2.0]), np.array([10.0, 20.0]),
                                 np.array([0.5, 1.5]))
    assert inside.tolist() == [15.0] and below == 5.0 and above == 10.0


def test_two_venues_known_values() -> None:
    """Marks 100 and 102: the reference is 101; 1 % bands keep their distance from each
    venue's own mark, so both grids land on the common one band for band."""
    a = venue_map(100.0, [0, 0, 0, 10.0, 20.0], [30.0, 40.0, 0, 0, 0], n_side=5, bps=100.0)
    b = venue_map(102.0, [0, 0, 0, 1.0, 2.0], [3.0, 4.0, 0, 0, 0], n_side=5, bps=100.0)
    agg = aggregate_maps({"a": a, "b": b})
    combined = agg.combined
    assert combined.price == 101.0
    assert np.allclose(combined.grid.edges()[3:8], [98.98, 99.99, 101.0, 102.01, 103.02])
    assert np.allclose(combined.long_notional, [0, 0, 0, 11.0, 22.0] + [0] * 5)
    assert np.allclose(combined.short_notional, [0] * 5 + [33.0, 44.0, 0, 0, 0])
    assert np.allclose(agg.by_venue, [[0, 0, 0, 10, 20, 30, 40, 0, 0, 0],
                                      [0, 0, 0, 1, 2, 3, 4, 0, 0, 0]])
    assert np.allclose(agg.venue_long, [30.0, 3.0]) and np.allclose(agg.venue_short, [70, 7])
    assert combined.open_interest_quote == 2e6
    (short_cluster,) = [c for c in combined.clusters if c.side == "short"]
    c = combined.clusters.index(short_cluster)
    assert np.allclose(agg.cluster_by_venue[c], [70.0, 7.0])


def test_a_coarser_venue_is_split_by_overlap() -> None:
    """A venue with 2 % bands on a 1 % common grid (the first venue's): each of its bands
    gives half to each of the two common bands it covers."""
    fine = venue_map(100.0, [0.0] * 8, [0.0] * 8, n_side=8, bps=100.0)
    coarse = venue_map(100.0, [0, 0, 8.0, 6.0], [4.0, 2.0, 0, 0], n_side=4, bps=200.0)
    agg = aggregate_maps({"fine": fine, "coarse": coarse})
    assert np.allclose(agg.combined.long_notional, [0] * 4 + [4, 4, 3, 3] + [0] * 8)
    assert np.allclose(agg.combined.short_notional, [0] * 8 + [2, 2, 1, 1] + [0] * 4)
