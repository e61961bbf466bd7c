"""The online score: band percentiles, the top decile and its uniform baseline, side match,
and the rolling totals, on hand-made maps with known answers and under hypothesis."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.liqmap.online_score import (
    MapBands,
    ScoreTotals,
    band_percentiles,
    score_event,
    summarise,
    top_decile_mask,
)


def grid_map(notional: list[float], price: float = 100.0, low: float = 90.0, width: float = 1.0
             ) -> MapBands:
    edges = low + width * np.arange(len(notional) + 1)
    return MapBands.build(price, edges[:-1], edges[1:], np.array(notional, dtype=np.float64))


def test_percentiles_use_average_ranks() -> None:
    # ranks 1, 2.5, 2.5, 4 of 4 -> (rank - 0.5) / 4
    assert band_percentiles(np.array([1.0, 5.0, 5.0, 9.0])).tolist() == [0.125, 0.5, 0.5, 0.875]
    assert band_percentiles(np.zeros(3)).tolist() == [0.5, 0.5, 0.5]


def test_top_decile_takes_ceil_n_over_ten_ties_included_and_never_empty_bands() -> None:
    notional = np.array([0, 3, 9, 1, 9, 2, 0, 0, 0, 0, 4, 0], dtype=np.float64)
    # n = 12 -> 2 bands; the two 9s
    assert np.flatnonzero(top_decile_mask(notional)).tolist() == [2, 4]
    tied = np.array([5.0] * 3 + [1.0] * 7)
    assert top_decile_mask(tied).sum() == 3
    assert not top_decile_mask(np.zeros(20)).any()


def test_score_of_events_on_a_known_map() -> None:
    # 20 bands of width 1 from 90 to 110, price 100; the two largest bands are 92-93 and 105-106
    notional = [1.0] * 20
    notional[2], notional[15] = 50.0, 40.0
    bands = grid_map(notional)
    assert bands.top_decile_width_share == pytest.approx(0.1)

    in_cluster = score_event("long", 92.5, bands)
    assert in_cluster.band_index == 2 and in_cluster.in_top_decile
    assert in_cluster.band_percentile == pytest.approx(19.5 / 20)
    assert in_cluster.predicted_side == "long" and in_cluster.side_match

    wrong_side = score_event("long", 105.5, bands)
    assert wrong_side.in_top_decile and not wrong_side.side_match
    assert wrong_side.band_percentile == pytest.approx(18.5 / 20)

    plain = score_event("short", 101.2, bands)
    assert not plain.in_top_decile and plain.side_match
    assert plain.band_percentile == pytest.approx(9.0 / 20)  # 18 tied bands: mean rank 9.5

    outside = score_event("short", 130.0, bands)
    assert outside.band_index is None and outside.band_percentile is None
    assert not outside.in_top_decile and outside.side_match


def test_the_top_edge_belongs_to_the_last_band() -> None:
    bands = grid_map([1.0, 2.0, 3.0])
    assert bands.band_of(93.0) == 2 and bands.band_of(90.0) == 0 and bands.band_of(91.0) == 1
    assert bands.band_of(89.999) is None and bands.band_of(93.001) is None


def test_rolling_summary_of_known_events() -> None:
    notional = [1.0] * 20
    notional[2], notional[15] = 50.0, 40.0
    bands = grid_map(notional)
    events = [("long", 92.5, 300.0), ("long", 99.5, 100.0), ("short", 105.5, 100.0),
              ("long", 150.0, 500.0)]
    totals = ScoreTotals()
    for side, price, notional_quote in events:
        totals = totals + ScoreTotals.of_event(notional_quote, score_event(side, price, bands))
    totals = totals + ScoreTotals.of_event(1000.0, None)  # no map at that moment
    summary = summarise(totals)
    assert summary["events"] == 5 and summary["scored_events"] == 4
    assert summary["in_range_events"] == 3
    assert summary["realised_notional_quote"] == 2000.0
    assert summary["in_range_share"] == pytest.approx(500 / 1000)
    assert summary["top_decile_share"] == pytest.approx(400 / 500)
    assert summary["uniform_share"] == pytest.approx(0.1)
    assert summary["lift"] == pytest.approx(8.0)
    assert summary["mean_band_percentile"] == pytest.approx((19.5 + 9.0 + 18.5) / 20 / 3)
    assert summary["notional_weighted_band_percentile"] == pytest.approx(
        (300 * 19.5 + 100 * 9.0 + 100 * 18.5) / 20 / 500)
    # the long at 150 lies above the price: on the wrong side
    assert summary["side_match_rate"] == pytest.approx(3 / 4)
    assert summary["side_match_notional_share"] == pytest.approx(500 / 1000)


def test_no_events_gives_no_ratios() -> None:
    summary = summarise(ScoreTotals())
    assert summary["events"] == 0
    assert all(summary[k] is None for k in ("top_decile_share", "uniform_share", "lift",
                                             "mean_band_percentile", "side_match_rate"))


notional_lists = st.lists(st.one_of(st.just(0.0), st.floats(0.0, 1e9)), min_size=1,
                          max_size=300)


@given(notional_lists)
@settings(max_examples=200, deadline=None)
def test_percentiles_average_one_half_and_order_the_bands(values: list[float]) -> None:
    notional = np.array(values)
    percentile = band_percentiles(notional)
    assert np.all((percentile > 0) & (percentile < 1))
    assert percentile.mean() == pytest.approx(0.5)
    order = np.argsort(notional, kind="stable")
    assert np.all(np.diff(percentile[order]) >= -1e-12)


@given(notional_lists)
@settings(max_examples=200, deadline=None)
def test_top_decile_holds_the_largest_bands(values: list[float]) -> None:
    notional = np.array(values)
    top = top_decile_mask(notional)
    positive = int((notional > 0).sum())
    assert top.sum() >= min(math.ceil(len(values) / 10), positive)
    if top.any() and (~top).any():
        assert notional[top].min() > notional[~top].max() or notional[~top].max() == 0


@given(notional_lists.filter(lambda v: any(x > 0 for x in v)), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_events_spread_uniformly_over_the_range_match_the_uniform_baseline(
    values: list[float], seed: int
) -> None:
    """A map that knows nothing (events uniform in price) scores a lift near 1: the baseline is
    the share of the range that uniform events land in."""
    bands = grid_map(values, price=90.0 + len(values) / 2)
    rng = np.random.default_rng(seed)
    prices = rng.uniform(bands.low[0], bands.high[-1], 3000)
    totals = ScoreTotals()
    for price in prices:
        totals = totals + ScoreTotals.of_event(1.0, score_event("long", float(price), bands))
    summary = summarise(totals)
    share = bands.top_decile_width_share
    tolerance = 4 * math.sqrt(share * (1 - share) / len(prices)) + 1e-9
    assert abs(summary["top_decile_share"] - share) <= tolerance
    assert summary["uniform_share"] == pytest.approx(share, abs=1e-6)
    assert abs(summary["mean_band_percentile"] - 0.5) < 0.05


@given(st.lists(st.tuples(st.floats(0.01, 1e6), st.booleans(), st.booleans(),
                          st.floats(0, 1), st.floats(0, 1)), max_size=30))
@settings(max_examples=100, deadline=None)
def test_totals_add_up_in_any_grouping(rows) -> None:
    from execsvc.liqmap.online_score import EventScore

    parts = [ScoreTotals.of_event(n, EventScore(0 if in_range else None, p if in_range else None,
                                                in_range and top, w, "long", top))
             for n, in_range, top, w, p in rows]
    left = sum(parts, ScoreTotals())
    half = len(parts) // 2
    right = sum(parts[:half], ScoreTotals()) + sum(parts[half:], ScoreTotals())
    for name, value in left.as_fields().items():
        assert value == pytest.approx(right.as_fields()[name])
    assert ScoreTotals.from_fields(left.as_fields()) == left
