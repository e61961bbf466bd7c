"""Stop placement and take-profit zones on constructed clusters, with properties over generated
maps and positions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import bracket_table
from execsvc.domain.units import LotError, MarketPrecision
from execsvc.execution.position import PositionSpec
from execsvc.execution.stops import StopParams, suggest_stop
from execsvc.execution.take_profit import lot_split, take_profit_zones
from execsvc.liqmap.clusters import Cluster

CENT = MarketPrecision(0.01, 0.001)
BRACKETS = bracket_table("BTCUSDT")
PARAMS = StopParams(min_intensity=0.25, reach_atr=8.0)
"""The examples below are built for this rule; the service's default is the backtest's choice."""


def cluster(side, low, high, notional=1e7, intensity=0.8, rank=1) -> Cluster:
    return Cluster(side, low, high, (low + high) / 2, notional, intensity, 0.0, rank)


def no_cascade(_: Cluster) -> float:
    return 0.0


def stop(side, entry, clusters, atr, overshoot=no_cascade, params=PARAMS, **kwargs):
    return suggest_stop(side, entry, clusters, atr, overshoot, params,
                        precision=kwargs.pop("precision", CENT), **kwargs)


LONG_CLUSTERS = [
    cluster("long", 97.0, 98.0, intensity=0.1, rank=3),   # light, nearest
    cluster("long", 95.0, 96.0, intensity=0.9, rank=1),   # dense
    cluster("long", 90.0, 91.0, intensity=0.6, rank=2),   # dense, farther
    cluster("short", 103.0, 104.0, intensity=0.7, rank=4),
]
SHORT_CLUSTERS = [cluster("short" if c.side == "long" else "long", 200 - c.price_high,
                          200 - c.price_low, c.notional_quote, c.intensity, c.rank)
                  for c in LONG_CLUSTERS]
"""`LONG_CLUSTERS` mirrored about 100."""


def test_long_stop_beyond_nearest_dense_cluster_plus_cascade_and_buffer() -> None:
    advice = stop("long", 100.0, LONG_CLUSTERS, 1.0, lambda c: 1.0)
    # far edge 95, cascade 1 % of 95 = 0.95, buffer 0.5 ATR = 0.5 -> 93.55
    assert advice.stop_price == 93.55
    assert advice.distance_pct == pytest.approx(6.45)
    assert advice.anchor.price_low == 95.0 and advice.overshoot_pct == 1.0
    assert advice.fits_risk and advice.fits_liquidation and advice.liquidation_price is None
    assert [c.price_low for c in advice.avoided_clusters] == [97.0, 95.0]
    labels = {a.label: a.stop_price for a in advice.alternatives}
    assert labels == {"tight": 96.5, "standard": 93.55, "wide": 88.6}  # 90 - 0.9 - 0.5
    assert "the nearest is 95-96 (intensity 0.90" in advice.rationale
    assert "within 8 ATR of the entry" in advice.rationale
    assert "cascade 1.00 % past its far edge" in advice.rationale
    assert ": 93.55, 6.45 % from entry" in advice.rationale


def test_short_is_the_mirror() -> None:
    mirrored = [cluster("short" if c.side == "long" else "long", 200 - c.price_high,
                        200 - c.price_low, c.notional_quote, c.intensity, c.rank)
                for c in LONG_CLUSTERS]
    long = stop("long", 100.0, LONG_CLUSTERS, 1.0)
    short = stop("short", 100.0, mirrored, 1.0)
    assert short.stop_price == pytest.approx(200 - long.stop_price)
    assert short.distance_pct == pytest.approx(long.distance_pct)
    assert [a.stop_price for a in short.alternatives] == pytest.approx(
        [200 - a.stop_price for a in long.alternatives])


def test_a_light_cluster_the_stop_lands_in_moves_it_past_its_edge_only() -> None:
    clusters = [cluster("long", 95.0, 96.0), cluster("long", 93.0, 94.8, intensity=0.2)]
    advice = stop("long", 100.0, clusters, 1.0, lambda c: 1.0)
    # 95 - 0.95 - 0.5 = 93.55 is inside the light 93-94.8: just past its far edge, no buffer
    assert advice.stop_price == 93.0
    assert "fell inside 1 more cluster" in advice.rationale


def test_only_clusters_that_matter_push_the_stop() -> None:
    """A light cluster just in front of the level does not push it; a dense one does."""
    light = [cluster("long", 95.0, 96.0), cluster("long", 93.0, 93.4, intensity=0.2)]
    assert stop("long", 100.0, light, 1.0, lambda c: 1.0).stop_price == 93.55
    dense = [cluster("long", 95.0, 96.0), cluster("long", 93.0, 93.4, intensity=0.5)]
    assert stop("long", 100.0, dense, 1.0, lambda c: 1.0).stop_price == 92.5  # 93 - 0.5


def test_a_dense_cluster_out_of_reach_does_not_anchor_the_stop() -> None:
    far = [cluster("long", 85.0, 86.0, intensity=1.0)]  # 14 ATR away, reach 8 ATR
    advice = stop("long", 100.0, far, 1.0)
    assert advice.anchor is None and advice.stop_price == 99.0  # 1 ATR
    assert "no cluster that matters below the entry" in advice.rationale
    near = stop("long", 100.0, far, 1.0, params=StopParams(min_intensity=0.25, reach_atr=20.0))
    assert near.anchor is not None and near.stop_price == 84.5


def test_max_loss_too_tight_says_so_and_suggests_a_smaller_size() -> None:
    advice = stop("long", 100.0, LONG_CLUSTERS, 1.0, max_loss_pct=4.5, quantity=10.0)
    assert advice.fits_risk is False
    assert advice.cluster_aware_stop_price == 94.5
    # the limit (95.5) lies inside 95-96: best stop within it is the cluster's near edge
    assert advice.stop_price == 96.0
    assert advice.loss_at_stop_quote == pytest.approx(40.0)
    # same quote risk (10 * 4.5) at the cluster-aware distance of 5.5, down to the lot
    assert advice.suggested_quantity == 8.181
    assert "more than your max loss" in advice.rationale


def test_risk_budget_sizes_the_position_in_whole_lots() -> None:
    advice = stop("long", 100.0, LONG_CLUSTERS, 1.0, risk_quote=550.0)
    assert advice.suggested_quantity == 100.0  # 550 / 5.5
    odd = stop("long", 100.0, LONG_CLUSTERS, 1.0, risk_quote=551.0)
    assert odd.suggested_quantity == 100.181  # 551 / 5.5 = 100.1818.. down to the lot


def test_no_cluster_gives_a_volatility_stop() -> None:
    advice = stop("short", 100.0, [], atr=2.0)
    assert advice.stop_price == 102.0 and advice.anchor is None
    assert "no cluster that matters above the entry" in advice.rationale


def test_entry_inside_a_cluster_never_gives_a_stop_at_the_entry_or_inside() -> None:
    """No level within a 2 % loss lies outside the cluster the entry sits in: the answer is the
    cluster-aware stop, flagged as not fitting the risk, with a smaller size suggested."""
    advice = stop("long", 100.0, [cluster("long", 95.0, 101.0)], 1.0, max_loss_pct=2.0,
                  quantity=1.0)
    assert advice.fits_risk is False
    assert advice.stop_price == 94.5 == advice.cluster_aware_stop_price
    assert advice.suggested_quantity == 0.363  # 2 / 5.5 down to the lot
    assert "no level within it lies outside the cluster" in advice.rationale


# ---- the position: liquidation price ----------------------------------------------------


def test_a_20x_long_gets_a_stop_inside_its_liquidation_price_and_the_leverage_that_fits() -> None:
    """The issue's case: the cluster-aware stop 6.45 % below a 20x long lies beyond its
    liquidation price (about 4.6 % below)."""
    position = PositionSpec(20.0, "isolated", BRACKETS)
    advice = stop("long", 100.0, LONG_CLUSTERS, 1.0, lambda c: 1.0, quantity=1.0,
                  position=position)
    assert advice.liquidation_price == 95.39  # 95.3826.. on the tick toward the entry
    assert advice.fits_liquidation is False
    assert advice.cluster_aware_stop_price == 93.55
    # the best level inside LP + 0.25 ATR (95.63) outside every cluster: 96.0, the near edge
    assert advice.stop_price == 96.0 > advice.liquidation_price
    assert advice.suggested_leverage == 14.0  # LP at 14x: 100 * (1 - 1/14) / 0.996 = 93.23
    assert "at 14x or less it would" in advice.rationale
    fitted = stop("long", 100.0, LONG_CLUSTERS, 1.0, lambda c: 1.0, quantity=1.0,
                  position=PositionSpec(14.0, "isolated", BRACKETS))
    assert fitted.fits_liquidation and fitted.stop_price == 93.55
    assert all(a.stop_price > advice.liquidation_price for a in advice.alternatives)


def test_no_stop_when_every_level_inside_the_liquidation_price_is_in_a_cluster() -> None:
    position = PositionSpec(50.0, "isolated", BRACKETS)  # liquidated ~1.6 % below
    advice = stop("long", 100.0, [cluster("long", 95.0, 100.5)], 1.0, quantity=1.0,
                  position=position)
    assert advice.stop_price is None and advice.distance_pct is None
    assert advice.fits_liquidation is False and advice.suggested_leverage is not None
    assert "no stop can be given" in advice.rationale


# ---- no stop inside the liquidation price: the reason the rationale gives ------------------
# The rationale said "every level inside the liquidation price lies in the cluster the entry
# sits in ... lower the leverage" whenever no stop could be given, also when the entry was in
# no cluster (the liquidation price nearer than the gap) and when a cross account would be
# liquidated at once (where a lower leverage changes nothing).


@pytest.mark.parametrize("side", ["long", "short"])
def test_no_stop_when_the_liquidation_price_is_nearer_than_the_gap(side) -> None:
    """200x: liquidated 0.1 % (0.1) from the entry, nearer than the 0.25 ATR (0.25) a stop
    keeps in front of it; the entry is in no cluster."""
    clusters = LONG_CLUSTERS if side == "long" else SHORT_CLUSTERS
    assert not [c for c in clusters if c.price_low <= 100.0 <= c.price_high]
    advice = stop(side, 100.0, clusters, 1.0, lambda c: 1.0, quantity=1.0,
                  position=PositionSpec(200.0, "isolated", BRACKETS))
    assert advice.stop_price is None and advice.no_stop == "within_gap"
    assert advice.suggested_leverage is not None
    assert "cluster the entry sits in" not in advice.rationale
    distance = "0.1004" if side == "long" else "0.0996"
    assert (f"It lies {distance} USDT from the entry, nearer than the 0.25 ATR (0.25 USDT) a stop "
            "must trigger before it, so no stop can be given: lower the leverage."
            ) in advice.rationale


def test_no_stop_when_no_tick_lies_between_the_entry_and_the_gap() -> None:
    """Liquidated about 0.30 below the entry, 0.05 beyond the 0.25 gap: still no level on the
    0.1 tick lies within it, and the rationale does not claim the gap is wider than the
    distance."""
    grid = MarketPrecision(0.1, 0.001)
    advice = stop("long", 100.0, [], 1.0, precision=grid, quantity=1.0,
                  position=PositionSpec(143.0, "isolated", BRACKETS))
    assert advice.stop_price is None and advice.no_stop == "within_gap"
    assert "It lies 0.3005 USDT from the entry" in advice.rationale
    assert "which leaves no price on the tick in front of the 0.25 ATR" in advice.rationale


def test_no_stop_when_a_cross_account_would_be_liquidated_at_once() -> None:
    """Maintenance margin 0.4 % of 1000 = 4 USDT against 3 USDT of equity: the liquidation
    price lies above the long's entry. Lowering the leverage changes nothing on cross; more
    equity or a smaller size does."""
    position = PositionSpec(10.0, "cross", BRACKETS, account_equity_quote=3.0)
    advice = stop("long", 100.0, LONG_CLUSTERS, 1.0, lambda c: 1.0, quantity=10.0,
                  position=position)
    assert advice.liquidation_price > 100.0
    assert advice.stop_price is None and advice.no_stop == "liquidated_at_once"
    assert advice.suggested_leverage is None and 0 < advice.suggested_quantity < 10.0
    assert "lower the leverage" not in advice.rationale
    assert "cluster the entry sits in" not in advice.rationale
    assert "% away" not in advice.rationale
    assert ("0.10 % above the entry: the account's equity (3 USDT) does not cover the "
            "maintenance margin even at the entry, so it would be liquidated at once and no "
            "stop can be given: add equity or reduce the size") in advice.rationale


def test_no_stop_when_an_isolated_short_would_be_liquidated_at_once() -> None:
    """500x: the initial margin (0.2 %) is below the maintenance margin (0.4 %)."""
    advice = stop("short", 100.0, SHORT_CLUSTERS, 1.0, lambda c: 1.0, quantity=1.0,
                  position=PositionSpec(500.0, "isolated", BRACKETS))
    assert advice.liquidation_price < 100.0
    assert advice.stop_price is None and advice.no_stop == "liquidated_at_once"
    assert ("below the entry: the initial margin at 500x does not cover the maintenance "
            "margin even at the entry, so it would be liquidated at once and no stop can be "
            "given: lower the leverage") in advice.rationale


@pytest.mark.parametrize(("position", "remedy"), [
    (PositionSpec(50.0, "isolated", BRACKETS), "lower the leverage"),
    (PositionSpec(50.0, "cross", BRACKETS, account_equity_quote=2.0),
     "add equity or reduce the size"),
])
def test_no_stop_when_every_level_inside_the_liquidation_price_is_in_the_entry_cluster(
    position, remedy
) -> None:
    advice = stop("long", 100.0, [cluster("long", 95.0, 100.5)], 1.0, quantity=1.0,
                  position=position)
    assert advice.stop_price is None and advice.no_stop == "entry_cluster"
    assert ("lies in the cluster 95-100.50 the entry sits in, so no stop can be given: "
            f"{remedy}.") in advice.rationale


def test_the_clusters_overlapping_the_entry_cluster_are_counted() -> None:
    """Liquidated at 98.73 (60x): 98.98 is the farthest level keeping the gap; it lies in the
    short cluster, whose near edge 99.05 lies in the cluster the entry sits in."""
    clusters = [cluster("long", 99.0, 100.5), cluster("short", 98.5, 99.05, intensity=0.2)]
    advice = stop("long", 100.0, clusters, 1.0, quantity=1.0,
                  position=PositionSpec(60.0, "isolated", BRACKETS))
    assert advice.no_stop == "entry_cluster"
    assert ("Every level from the entry to 98.98, 0.25 ATR (0.25 USDT) before it, lies in the "
            "cluster 99-100.50 the entry sits in and the 1 cluster(s) adjoining it"
            ) in advice.rationale


def test_the_best_stop_inside_the_liquidation_price_without_a_cluster_blames_noise() -> None:
    """No cluster on the map: the stop brought inside the liquidation price is not one "a
    sweep of the cluster would trigger"."""
    advice = stop("long", 100.0, [], 1.0, quantity=1.0,
                  position=PositionSpec(80.0, "isolated", BRACKETS))
    assert not advice.fits_liquidation and advice.stop_price is not None
    assert advice.stop_price > advice.liquidation_price
    assert "sweep of the cluster" not in advice.rationale
    assert "which ordinary price noise reaches more often" in advice.rationale


def test_a_stop_given_has_no_no_stop_reason() -> None:
    advice = stop("long", 100.0, LONG_CLUSTERS, 1.0, lambda c: 1.0, quantity=1.0,
                  position=PositionSpec(20.0, "isolated", BRACKETS))
    assert advice.stop_price is not None and advice.no_stop is None


def test_cross_margin_suggests_the_size_the_equity_carries() -> None:
    position = PositionSpec(20.0, "cross", BRACKETS, account_equity_quote=400.0)
    advice = stop("long", 100.0, LONG_CLUSTERS, 1.0, lambda c: 1.0, quantity=100.0,
                  position=position)
    assert advice.fits_liquidation is False and advice.suggested_leverage is None
    fit = advice.suggested_quantity
    assert 0 < fit < 100.0
    at_fit = PositionSpec(20.0, "cross", BRACKETS, 400.0).liquidation_price("long", 100.0, fit)
    assert at_fit < advice.cluster_aware_stop_price - 0.25
    rich = stop("long", 100.0, LONG_CLUSTERS, 1.0, lambda c: 1.0, quantity=100.0,
                position=PositionSpec(20.0, "cross", BRACKETS, account_equity_quote=1e6))
    assert rich.fits_liquidation and rich.stop_price == 93.55


# ---- properties over generated maps --------------------------------------------------------

clusters_strategy = st.lists(
    st.tuples(st.sampled_from(["long", "short"]), st.floats(50, 150), st.floats(0.05, 5),
              st.floats(0.0, 1.0), st.floats(1e3, 1e9)),
    max_size=12,
).map(lambda rows: [cluster(s, lo, lo + w, n, i) for s, lo, w, i, n in rows])
grids = st.sampled_from([CENT, MarketPrecision(0.1, 0.001), MarketPrecision(0.25, 0.0001)])
positions = st.one_of(
    st.none(),
    st.builds(PositionSpec, leverage=st.floats(1, 125), margin_mode=st.just("isolated"),
              brackets=st.just(BRACKETS)),
    st.builds(PositionSpec, leverage=st.floats(1, 125), margin_mode=st.just("cross"),
              brackets=st.just(BRACKETS), account_equity_quote=st.floats(1, 1e5)),
)


def levels_of(advice) -> list[float]:
    prices = [a.stop_price for a in advice.alternatives]
    return prices + ([advice.stop_price] if advice.stop_price is not None else [])


@settings(max_examples=300)
@given(
    side=st.sampled_from(["long", "short"]), entry=st.floats(90, 110), clusters=clusters_strategy,
    atr=st.floats(0.01, 5), overshoot_pct=st.floats(0, 3),
    max_loss=st.one_of(st.none(), st.floats(0.1, 30)), grid=grids, position=positions,
    quantity=st.one_of(st.none(), st.floats(0.001, 1000)),
)
def test_every_level_is_outside_every_cluster_on_the_losing_side_on_the_tick_and_inside_the_liquidation_price(  # noqa: E501
    side, entry, clusters, atr, overshoot_pct, max_loss, grid, position, quantity
) -> None:
    advice = stop(side, entry, clusters, atr, lambda c: overshoot_pct, max_loss_pct=max_loss,
                  precision=grid, position=position, quantity=quantity)
    sign = 1 if side == "long" else -1
    for level in levels_of(advice):
        assert not [c for c in clusters if c.price_low < level < c.price_high], level
        assert sign * (entry - level) > 0, "on the losing side, never at the entry"
        assert level > 0 and grid.on_price_grid(level)
        if advice.liquidation_price is not None:
            assert sign * (level - advice.liquidation_price) > 0, "never at or beyond LP"
    assert (advice.stop_price is None) == (advice.no_stop is not None)
    if advice.stop_price is None:
        assert not advice.fits_liquidation
        if advice.no_stop == "liquidated_at_once":
            assert sign * (entry - advice.liquidation_price) <= 0
    elif max_loss is not None and not advice.fits_risk and advice.fits_liquidation and (
            advice.stop_price != advice.cluster_aware_stop_price):
        assert advice.distance_pct <= max_loss + 1e-9
    distances = [a.distance_pct for a in advice.alternatives]
    assert distances == sorted(distances)
    if advice.suggested_quantity is not None:
        assert grid.on_lot_grid(advice.suggested_quantity)


@settings(max_examples=200)
@given(side=st.sampled_from(["long", "short"]), clusters=clusters_strategy,
       atr=st.floats(0.01, 5), overshoot_pct=st.floats(0, 3),
       losses=st.lists(st.floats(0.1, 30), min_size=2, max_size=6))
def test_loosening_max_loss_never_turns_fits_risk_from_true_to_false(
    side, clusters, atr, overshoot_pct, losses
) -> None:
    answers = [stop(side, 100.0, clusters, atr, lambda c: overshoot_pct, max_loss_pct=loss)
               for loss in sorted(losses)]
    fits = [a.fits_risk for a in answers]
    assert fits == sorted(fits), list(zip(sorted(losses), fits, strict=True))
    assert len({a.cluster_aware_stop_price for a in answers}) == 1


@given(side=st.sampled_from(["long", "short"]), clusters=clusters_strategy,
       atr=st.floats(0.05, 5))
def test_tight_standard_and_wide_are_distinct_when_there_is_room(side, clusters, atr) -> None:
    """Wide always lies beyond the standard stop (no liquidation price limits it here); tight
    lies in front of it whenever the level 1 ATR from the entry is outside every cluster and at
    least one buffer in front of every cluster that matters."""
    params = PARAMS
    advice = stop(side, 100.0, clusters, atr, params=params)
    tight, standard, wide = (a.stop_price for a in advice.alternatives)
    assert standard != wide
    sign = 1 if side == "long" else -1
    level = 100.0 - sign * atr

    def near(c: Cluster) -> float:
        return 100.0 - c.price_high if side == "long" else c.price_low - 100.0

    buffer = params.atr_multiple * atr
    clear = not [c for c in clusters if c.price_low < level < c.price_high] and all(
        near(c) - atr >= buffer or near(c) + (c.price_high - c.price_low) <= atr
        for c in clusters if c.side == side and c.intensity >= params.min_intensity
        and near(c) <= params.reach_atr * atr)
    if clear and sign * (100.0 - standard) > atr + 0.01:
        assert tight != standard


# ---- take-profit --------------------------------------------------------------------------


def test_take_profit_zones_in_front_of_short_clusters_for_a_long_nearest_first() -> None:
    clusters = [cluster("short", 110.0, 111.0, notional=5e7), cluster("short", 103.0, 104.0),
                cluster("long", 95.0, 96.0)]
    zones = take_profit_zones("long", 100.0, clusters, atr_quote=1.0, band_width_quote=0.1,
                              precision=CENT)
    assert [z.price_low for z in zones] == [103.0, 110.0]  # nearest first, not by size
    assert zones[0].target_price == 102.75  # a quarter ATR before the edge
    assert sum(z.size_fraction for z in zones) == pytest.approx(1.0)
    # fractions by notional / (1 + distance %): 1e7 / 4 against 5e7 / 11
    assert zones[1].size_fraction / zones[0].size_fraction == pytest.approx(
        (5e7 / 11) / (1e7 / 4))
    assert all(z.cluster.side == "short" for z in zones)


def test_a_take_profit_never_sits_inside_its_cluster_with_an_entry_level_with_the_edge() -> None:
    """An entry off the tick grid, level with the cluster's near edge (found by hypothesis): the
    edge snapped toward the entry (down) lay inside the cluster, 102.37 < 102.375."""
    level = [cluster("long", 97.875, 102.375)]
    assert take_profit_zones("short", 102.375, level, 0.0, 0.1, precision=CENT) == []
    above = take_profit_zones("short", 102.385, level, 0.0, 0.1, precision=CENT)
    assert [z.target_price for z in above] == [102.38]
    mirror = take_profit_zones("long", 97.875, [cluster("short", 97.875, 99.0)], 0.0, 0.1,
                               precision=CENT)
    assert mirror == []


@given(side=st.sampled_from(["long", "short"]), clusters=clusters_strategy,
       max_zones=st.integers(1, 5), atr=st.floats(0, 5), grid=grids,
       entry=st.floats(90, 110))
def test_take_profit_properties(side, clusters, max_zones, atr, grid, entry) -> None:
    zones = take_profit_zones(side, entry, clusters, atr, 0.1, max_zones, precision=grid)
    assert len(zones) <= max_zones
    if zones:
        assert sum(z.size_fraction for z in zones) == pytest.approx(1.0)
    distances = [z.distance_pct for z in zones]
    assert distances == sorted(distances) and all(d > 0 for d in distances)
    for zone in zones:
        assert grid.on_price_grid(zone.target_price)
        assert grid.on_price_grid(zone.price_low) and grid.on_price_grid(zone.price_high)
        if side == "long":
            assert entry < zone.target_price <= zone.cluster.price_low
        else:
            assert zone.cluster.price_high <= zone.target_price < entry


@given(fractions=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=6),
       lots=st.integers(1, 10**8), grid=grids)
def test_zone_quantities_are_whole_lots_summing_exactly_to_the_position(
    fractions, lots, grid
) -> None:
    quantity = grid.quantity_of(lots)
    parts = lot_split(fractions, quantity, grid)
    assert all(grid.on_lot_grid(p) and p >= 0 for p in parts)
    total = sum(Decimal(repr(p)) for p in parts)
    assert total == Decimal(repr(quantity))


@given(fractions=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=6),
       quantity=st.floats(1e-6, 1e5), grid=grids)
def test_a_quantity_that_is_not_whole_lots_is_refused_not_split_short(
    fractions, quantity, grid
) -> None:
    """Zones summing to the quantity rounded down (or all 0 below one lot) would not be the
    position; the split takes whole lots only."""
    if quantity >= grid.lot_size and grid.on_lot_grid(quantity):
        assert sum(Decimal(repr(p)) for p in lot_split(fractions, quantity, grid)) == Decimal(
            repr(grid.quantity(quantity)))
        return
    with pytest.raises(LotError):
        lot_split(fractions, quantity, grid)


def test_the_lot_check_quotes_the_value_and_the_nearest_lot_multiple_exactly() -> None:
    btc = MarketPrecision(0.1, 0.001)
    with pytest.raises(LotError, match=r"^0\.0001 is below the lot size 0\.001 base$"):
        lot_split([0.5, 0.5], 0.0001, btc)
    with pytest.raises(LotError) as info:
        lot_split([0.5, 0.5], 101234.6504, btc)
    assert str(info.value) == ("101234.6504 is not a multiple of the lot 0.001 base "
                               "(nearest: 101234.65)")
    assert lot_split([0.5, 0.5], 2.001, btc) == [1.0, 1.001]
