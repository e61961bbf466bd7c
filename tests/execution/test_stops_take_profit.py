"""Stop placement and take-profit zones on constructed clusters, with properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execsvc.execution.stops import StopParams, suggest_stop
from execsvc.execution.take_profit import take_profit_zones
from execsvc.liqmap.clusters import Cluster


def cluster(side, low, high, notional=1e7, intensity=0.8, rank=1) -> Cluster:
    return Cluster(side, low, high, (low + high) / 2, notional, intensity, 0.0, rank)


def no_cascade(_: Cluster) -> float:
    return 0.0


LONG_CLUSTERS = [
    cluster("long", 97.0, 98.0, intensity=0.1, rank=3),   # light, nearest
    cluster("long", 95.0, 96.0, intensity=0.9, rank=1),   # dense
    cluster("long", 90.0, 91.0, intensity=0.6, rank=2),   # dense, farther
    cluster("short", 103.0, 104.0, intensity=0.7, rank=4),
]


def test_long_stop_beyond_nearest_dense_cluster_plus_cascade_and_buffer() -> None:
    advice = suggest_stop("long", 100.0, LONG_CLUSTERS, atr_quote=1.0, overshoot=lambda c: 1.0)
    # far edge 95, cascade 1 % of 95 = 0.95, buffer 0.5 ATR = 0.5 -> 93.55
    assert advice.stop_price == pytest.approx(93.55)
    assert advice.distance_pct == pytest.approx(6.45)
    assert advice.anchor.price_low == 95.0 and advice.overshoot_pct == 1.0
    assert advice.fits_risk
    assert [c.price_low for c in advice.avoided_clusters] == [97.0, 95.0]
    labels = {a.label: a.stop_price for a in advice.alternatives}
    assert labels["tight"] == pytest.approx(96.5)  # beyond the light cluster + buffer
    assert labels["standard"] == pytest.approx(93.55)
    assert labels["wide"] == pytest.approx(90.0 - 0.9 - 0.5)  # next dense cluster
    assert "cluster is 95-96 (intensity 0.90" in advice.rationale
    assert "cascade 1.00 % past its far edge" in advice.rationale
    assert ": 93.55, 6.45 % from entry" in advice.rationale


def test_short_is_the_mirror() -> None:
    mirrored = [cluster("short" if c.side == "long" else "long", 200 - c.price_high,
                        200 - c.price_low, c.notional_quote, c.intensity, c.rank)
                for c in LONG_CLUSTERS]
    long = suggest_stop("long", 100.0, LONG_CLUSTERS, 1.0, no_cascade)
    short = suggest_stop("short", 100.0, mirrored, 1.0, no_cascade)
    assert short.stop_price == pytest.approx(200 - long.stop_price)
    assert short.distance_pct == pytest.approx(long.distance_pct)


def test_stop_pushed_out_of_a_cluster_it_would_land_in() -> None:
    clusters = [cluster("long", 95.0, 96.0), cluster("long", 93.0, 94.8, intensity=0.2)]
    advice = suggest_stop("long", 100.0, clusters, 1.0, lambda c: 1.0)
    # 95 - 0.95 - 0.5 = 93.55 is inside 93-94.8 -> pushed to 93 - 0.5
    assert advice.stop_price == pytest.approx(92.5)


def test_max_loss_too_tight_says_so_and_suggests_a_smaller_size() -> None:
    advice = suggest_stop("long", 100.0, LONG_CLUSTERS, 1.0, no_cascade, max_loss_pct=4.5,
                          quantity=10.0)
    assert advice.fits_risk is False
    assert advice.cluster_aware_stop_price == pytest.approx(94.5)
    # the limit (95.5) lies inside 95-96: best stop within it is the cluster's near edge
    assert advice.stop_price == pytest.approx(96.0)
    assert advice.loss_at_stop_quote == pytest.approx(40.0)
    # same quote risk (10 * 4.5) at the cluster-aware distance of 5.5
    assert advice.suggested_quantity == pytest.approx(45.0 / 5.5)
    assert "more than your max loss" in advice.rationale


def test_risk_budget_sizes_the_position() -> None:
    advice = suggest_stop("long", 100.0, LONG_CLUSTERS, 1.0, no_cascade, risk_quote=550.0)
    assert advice.suggested_quantity * (100.0 - advice.stop_price) == pytest.approx(550.0)


def test_no_cluster_gives_a_volatility_stop() -> None:
    advice = suggest_stop("short", 100.0, [], atr_quote=2.0, overshoot=no_cascade)
    assert advice.stop_price == pytest.approx(102.0) and advice.anchor is None
    assert "no dense short-liquidation cluster" in advice.rationale


clusters_strategy = st.lists(
    st.tuples(st.sampled_from(["long", "short"]), st.floats(50, 150), st.floats(0.05, 5),
              st.floats(0.0, 1.0), st.floats(1e3, 1e9)),
    max_size=12,
).map(lambda rows: [cluster(s, lo, lo + w, n, i) for s, lo, w, i, n in rows])


@given(
    side=st.sampled_from(["long", "short"]),
    clusters=clusters_strategy,
    atr=st.floats(0.01, 5),
    overshoot_pct=st.floats(0, 3),
    max_loss=st.one_of(st.none(), st.floats(0.1, 30)),
)
def test_stop_is_never_inside_a_losing_side_cluster(side, clusters, atr, overshoot_pct, max_loss):
    advice = suggest_stop(side, 100.0, clusters, atr, lambda c: overshoot_pct,
                          StopParams(), max_loss_pct=max_loss)
    own = [c for c in clusters if c.side == side]
    for level in [advice.stop_price, *(a.stop_price for a in advice.alternatives)]:
        inside = [c for c in own if c.price_low < level < c.price_high]
        assert not inside, (level, inside)
    assert (advice.stop_price < 100.0) if side == "long" else (advice.stop_price > 100.0)
    assert advice.stop_price > 0
    if max_loss is not None and not advice.fits_risk:
        limit = 100.0 * max_loss / 100.0
        entry_in_cluster = any(
            (100.0 - c.price_high if side == "long" else c.price_low - 100.0) <= 0 < limit
            <= (100.0 - c.price_low if side == "long" else c.price_high - 100.0)
            for c in own
        )
        if entry_in_cluster:  # no level within the limit lies outside the cluster
            assert advice.stop_price == advice.cluster_aware_stop_price
        else:
            assert advice.distance_pct <= max_loss + 1e-9
    tight, standard, wide = (a.distance_pct for a in advice.alternatives)
    assert tight <= standard + 1e-9 <= wide + 2e-9


def test_take_profit_zones_in_front_of_short_clusters_for_a_long() -> None:
    clusters = [cluster("short", 103.0, 104.0, notional=2e7), cluster("short", 110.0, 111.0),
                cluster("long", 95.0, 96.0)]
    zones = take_profit_zones("long", 100.0, clusters, atr_quote=1.0, band_width_quote=0.1)
    assert [z.price_low for z in zones] == [103.0, 110.0]
    assert zones[0].target_price == pytest.approx(103.0 - 0.25)  # a quarter ATR before the edge
    assert sum(z.size_fraction for z in zones) == pytest.approx(1.0)
    assert zones[0].size_fraction > zones[1].size_fraction
    assert all(z.cluster.side == "short" for z in zones)


@given(side=st.sampled_from(["long", "short"]), clusters=clusters_strategy,
       max_zones=st.integers(1, 5), atr=st.floats(0, 5))
def test_take_profit_properties(side, clusters, max_zones, atr) -> None:
    zones = take_profit_zones(side, 100.0, clusters, atr, 0.1, max_zones)
    assert len(zones) <= max_zones
    if zones:
        assert sum(z.size_fraction for z in zones) == pytest.approx(1.0)
    for zone in zones:
        if side == "long":
            assert 100.0 < zone.target_price <= zone.price_low
        else:
            assert zone.price_high <= zone.target_price < 100.0


def test_stop_is_not_left_just_in_front_of_the_next_cluster() -> None:
    clusters = [cluster("long", 95.0, 96.0), cluster("long", 93.0, 93.4, intensity=0.2)]
    advice = suggest_stop("long", 100.0, clusters, 1.0, lambda c: 1.0)
    # 93.55 is 0.15 in front of 93-93.4, less than the 0.5 buffer -> pushed to 93 - 0.5
    assert advice.stop_price == pytest.approx(92.5)


def test_entry_inside_a_cluster_never_gives_a_stop_at_the_entry_or_inside() -> None:
    """No level within a 2 % loss lies outside the cluster the entry sits in: the answer is the
    cluster-aware stop, flagged as not fitting the risk, with a smaller size suggested."""
    advice = suggest_stop("long", 100.0, [cluster("long", 95.0, 101.0)], 1.0, no_cascade,
                          max_loss_pct=2.0, quantity=1.0)
    assert advice.fits_risk is False
    assert advice.stop_price == pytest.approx(94.5) == advice.cluster_aware_stop_price
    assert advice.suggested_quantity == pytest.approx(2.0 / 5.5)
    assert "no level within it lies outside the cluster" in advice.rationale
