"""Liquidation cascades: hand-worked rounds, constructed maps and books, properties against a
closed-form reference of the fixed point, and the bundled real BTCUSDT data."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from execsvc.domain.book import extend_book
from execsvc.liqmap.bands import BandGrid
from execsvc.liqmap.cascade import (
    CascadeResult,
    carry_book,
    cluster_cascade,
    cluster_overshoot_pct,
    cluster_trigger,
    simulate_cascade,
)
from execsvc.liqmap.clusters import Cluster
from execsvc.liqmap.cohorts import open_interest_at_close
from execsvc.liqmap.model import LiquidationMap, MapParams, build_map
from execsvc.maps.refresh import fetch_snapshot
from execsvc.market.replay import ReplaySource
from execsvc.market.replay_books import replay_order_book
from execsvc.settings import WINDOW_SECONDS

PRICE = 100.0
GRID = BandGrid(PRICE, bin_width_bps=10.0, n_side=200)  # bands of 0.1 from 80 to 120
EDGES = GRID.edges()
CENTRES = GRID.centers()


def ladder(mid: float, step_bps: float, count: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric book around `mid`: level i at `mid * (1 -/+ step_bps * (i + 0.5) / 1e4)`,
    every level `size` base units."""
    offsets = step_bps * (np.arange(count) + 0.5) / 1e4
    sizes = np.full(count, float(size))
    bids = np.column_stack([mid * (1.0 - offsets), sizes])
    asks = np.column_stack([mid * (1.0 + offsets), sizes])
    return bids, asks


def long_block(low: float, high: float, per_band: float) -> np.ndarray:
    """Long notional `per_band` (quote) in every band of GRID inside [low, high)."""
    notional = np.zeros(GRID.n_bins)
    notional[np.abs(CENTRES - (low + high) / 2.0) < (high - low) / 2.0] = per_band
    return notional


def down(longs: np.ndarray, bids: np.ndarray, asks: np.ndarray, trigger: float, **kw):
    return simulate_cascade(EDGES, longs, np.zeros_like(longs), PRICE, bids, asks, "down",
                            trigger, **kw)


# --- hand-worked and constructed cases ----------------------------------------------------------


def test_hand_worked_rounds() -> None:
    """Bands of 1 from 96 to 104, 975 quote of longs in [97, 98) = 10 base at the centre 97.5.
    Pushed to 97.8, a fifth of the band (2 base) is sold into bids of 2 base every 0.1 below
    a 97.8 mid: round 1 ends at 97.7; B(97.7) = 3 reaches 97.6; B(97.6) = 4 is exactly the
    first two levels, so 97.6 holds (round 3). 0.4 of the band = 390 quote is liquidated."""
    edges = np.arange(96.0, 104.5, 1.0)
    longs = np.zeros(8)
    longs[1] = 975.0
    bids = np.column_stack([97.8 - 0.1 * np.arange(1, 21), np.full(20, 2.0)])
    asks = np.array([[97.9, 2.0]])
    result = simulate_cascade(edges, longs, np.zeros(8), 100.0, bids, asks, "down", 97.8)
    assert result.terminal_price == pytest.approx(97.6, rel=1e-12)
    assert result.overshoot_pct == pytest.approx(0.2 / 97.8 * 100.0, rel=1e-9)
    assert result.liquidated_notional_quote == pytest.approx(390.0, rel=1e-9)
    assert result.rounds == 3
    assert result.converged and not result.book_exhausted


@pytest.mark.parametrize("direction,trigger", [("down", 97.0), ("up", 103.0), ("down", 100.0)])
def test_empty_map_no_overshoot(direction: str, trigger: float) -> None:
    bids, asks = ladder(PRICE, 1.0, 50, 1.0)
    empty = np.zeros(GRID.n_bins)
    result = simulate_cascade(EDGES, empty, empty, PRICE, bids, asks, direction, trigger)
    assert result == CascadeResult(trigger, 0.0, 0.0, 0, False, True)


def test_cluster_beyond_the_trigger_no_overshoot() -> None:
    """Nothing between the price and the trigger: nothing is sold, the price stays put (the
    cluster at 95-96 is never reached, shorts above are the other direction's business)."""
    bids, asks = ladder(PRICE, 1.0, 200, 1.0)
    longs = long_block(95.0, 96.0, 1e6)
    shorts = np.zeros(GRID.n_bins)
    shorts[GRID.n_side + 5] = 1e6
    result = simulate_cascade(EDGES, longs, shorts, PRICE, bids, asks, "down", 96.5)
    assert result.terminal_price == 96.5
    assert result.overshoot_pct == 0.0
    assert result.rounds == 0


def test_market_fraction_zero_sells_nothing_but_counts_the_band_linearly() -> None:
    """Trigger in the middle of a band: half of it is liquidated, none of it reaches the book."""
    bids, asks = ladder(PRICE, 1.0, 200, 1.0)
    longs = long_block(97.0, 98.0, 1000.0)  # 10 bands of 0.1
    result = down(longs, bids, asks, 97.45, market_fraction=0.0)
    assert result.terminal_price == 97.45
    assert result.liquidated_notional_quote == pytest.approx(5500.0, rel=1e-9)
    assert result.rounds == 0 and result.converged


def test_thin_book_overshoots_further_than_a_deep_one() -> None:
    longs = long_block(97.0, 98.0, 1000.0)  # about 10.2 base per band of 10 bps
    deep = down(longs, *ladder(PRICE, 0.5, 1000, 1.0), 97.9)  # 20 base per 10 bps
    thin = down(longs, *ladder(PRICE, 0.5, 1000, 0.25), 97.9)  # 5 base per 10 bps
    for result in (deep, thin):
        assert result.converged and not result.book_exhausted
        assert result.terminal_price < 98.0
    assert thin.overshoot_pct > deep.overshoot_pct > 0.0
    # The thin book cannot stop the cascade inside the cluster: all of it is sold.
    assert thin.terminal_price < 97.0
    assert thin.liquidated_notional_quote == pytest.approx(longs.sum(), rel=1e-9)


def test_book_exhaustion_is_flagged_at_the_last_level() -> None:
    bids, asks = ladder(PRICE, 1.0, 100, 0.01)
    longs = long_block(96.0, 98.0, 1e6)
    result = down(longs, bids, asks, 97.0)
    assert result.book_exhausted and not result.converged
    # The book (recorded at mid 100) was carried to 97: the last bid keeps its bps offset.
    assert result.terminal_price == pytest.approx(97.0 * bids[-1, 0] / PRICE, rel=1e-12)
    assert result.overshoot_pct == pytest.approx((1.0 - bids[-1, 0] / PRICE) * 100, rel=1e-9)


def test_max_rounds_cuts_the_iteration() -> None:
    longs = long_block(97.0, 98.0, 1000.0)
    bids, asks = ladder(PRICE, 0.5, 1000, 1.0)
    full = down(longs, bids, asks, 97.9)
    assert full.rounds > 2
    cut = down(longs, bids, asks, 97.9, max_rounds=2)
    assert cut.rounds == 2 and not cut.converged and not cut.book_exhausted
    assert full.terminal_price <= cut.terminal_price < 98.0


def test_carry_book_keeps_bps_offsets_and_quote_notional() -> None:
    bids, _ = ladder(50.0, 2.0, 10, 3.0)
    carried = carry_book(bids, 50.0, 80.0)
    np.testing.assert_allclose(carried[:, 0] / 80.0, bids[:, 0] / 50.0, rtol=1e-14)
    np.testing.assert_allclose(carried.prod(axis=1), bids.prod(axis=1), rtol=1e-14)


def test_recorded_price_level_does_not_matter() -> None:
    """The same quote depth profile recorded at mid 7 or mid 100 gives the same cascade."""
    longs = long_block(97.0, 98.0, 1000.0)
    at_7 = down(longs, *ladder(7.0, 0.5, 1000, 1.0), 97.9)
    b, a = ladder(PRICE, 0.5, 1000, 1.0)
    b[:, 1] *= 7.0 / PRICE
    a[:, 1] *= 7.0 / PRICE
    at_100 = down(longs, b, a, 97.9)
    assert at_100.terminal_price == pytest.approx(at_7.terminal_price, rel=1e-12)
    assert at_100.rounds == at_7.rounds


def mirror(longs: np.ndarray) -> np.ndarray:
    """Short notional for the band mirrored through PRICE, with the same base quantity
    (quote notional converted at the mirrored band's centre)."""
    shorts = np.zeros_like(longs)
    shorts[GRID.n_side :] = (longs / CENTRES)[: GRID.n_side][::-1] * CENTRES[GRID.n_side :]
    return shorts


@pytest.mark.parametrize("size", [1.0, 0.25, 0.001])
def test_up_mirrors_down(size: float) -> None:
    """Shorts mirrored through the price (same base per band), and asks at the same distances
    above 101.6 as the bids below 98.4 (each book recorded at its trigger, so carrying it is
    the identity): the up cascade runs as far above 101.6 as the down one below 98.4."""
    longs = long_block(96.0, 98.5, 800.0) + long_block(97.2, 97.5, 3000.0)
    bids, asks = ladder(98.4, 0.5, 1000, size)
    gaps = asks[:, 0] - 98.4
    mirrored_bids = np.column_stack([101.6 - gaps, bids[:, 1]])
    mirrored_asks = np.column_stack([101.6 + gaps, bids[:, 1]])
    zeros = np.zeros_like(longs)
    sell = simulate_cascade(EDGES, longs, zeros, PRICE, bids, asks, "down", 98.4)
    buy = simulate_cascade(EDGES, zeros, mirror(longs), PRICE, mirrored_bids, mirrored_asks,
                           "up", 101.6)
    assert sell.terminal_price < 98.4
    assert buy.terminal_price - 101.6 == pytest.approx(98.4 - sell.terminal_price, rel=1e-9)
    assert buy.liquidated_notional_quote > sell.liquidated_notional_quote  # higher centres
    assert (buy.rounds, buy.book_exhausted, buy.converged) == (
        sell.rounds, sell.book_exhausted, sell.converged
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"direction": "down", "trigger_price": 101.0}, "wrong side"),
        ({"direction": "up", "trigger_price": 99.0}, "wrong side"),
        ({"direction": "sideways"}, "direction"),
        ({"market_fraction": 1.5}, "market_fraction"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"trigger_price": math.nan}, "trigger_price"),
        ({"price": -1.0}, "price"),
    ],
)
def test_bad_input_is_rejected(kwargs: dict, match: str) -> None:
    bids, asks = ladder(PRICE, 1.0, 10, 1.0)
    call = {"band_edges": EDGES, "long_notional": np.zeros(GRID.n_bins),
            "short_notional": np.zeros(GRID.n_bins), "price": PRICE, "bids": bids,
            "asks": asks, "direction": "down", "trigger_price": 99.0} | kwargs
    with pytest.raises(ValueError, match=match):
        simulate_cascade(**call)


def test_bad_map_arrays_are_rejected() -> None:
    bids, asks = ladder(PRICE, 1.0, 10, 1.0)
    with pytest.raises(ValueError, match="shape"):
        simulate_cascade(EDGES, np.zeros(3), np.zeros(3), PRICE, bids, asks, "down", 99.0)
    negative = np.zeros(GRID.n_bins)
    negative[5] = -1.0
    with pytest.raises(ValueError, match=">= 0"):
        simulate_cascade(EDGES, negative, negative, PRICE, bids, asks, "down", 99.0)
    with pytest.raises(ValueError, match="ascending"):
        simulate_cascade(EDGES[::-1], negative, negative, PRICE, bids, asks, "down", 99.0)


def test_cluster_trigger_edges() -> None:
    long_cluster = Cluster("long", 95.0, 96.0, 95.5, 1.0, 1.0, 4.0)
    short_cluster = Cluster("short", 104.0, 105.0, 104.5, 1.0, 1.0, 4.0)
    assert cluster_trigger(long_cluster, "near") == 96.0
    assert cluster_trigger(long_cluster, "far") == 95.0
    assert cluster_trigger(short_cluster, "near") == 104.0
    assert cluster_trigger(short_cluster, "far") == 105.0
    with pytest.raises(ValueError, match="edge"):
        cluster_trigger(long_cluster, "middle")  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------------


def reference_terminal(longs, bids, asks, trigger, fraction) -> tuple[float, bool]:
    """The greatest fixed point below the trigger, computed without iterating: carry the bids
    to the trigger, evaluate the forced base B(p_j) at every bid price by a per-band loop, and
    take the first level j whose cumulative size C_j holds B(p_j) (exhausted if none does)."""
    mid = (bids[0, 0] + asks[0, 0]) / 2.0
    prices = bids[:, 0] * trigger / mid
    cum = np.cumsum(bids[:, 1] * mid / trigger)

    def forced(level: float) -> float:
        total = 0.0
        for k in range(GRID.n_bins):
            lo, hi = EDGES[k], min(EDGES[k + 1], PRICE)
            overlap = max(0.0, hi - max(lo, level)) / (EDGES[k + 1] - EDGES[k])
            total += fraction * longs[k] / CENTRES[k] * overlap
        return total

    if forced(trigger) == 0.0:
        return trigger, False
    need = np.array([forced(p) for p in prices])
    assume(np.all(np.abs(need - cum) > 1e-9 * cum[-1]))  # no float ties with a level boundary
    held = np.flatnonzero(need <= cum)
    return (float(prices[held[0]]), False) if held.size else (float(prices[-1]), True)


# Twelve blocks of five bands (6 % below the price) of up to 300 quote each: against books of
# 20-300 levels of 0.05-5 base this mixes still, moving and exhausting cascades.
band_notional = st.lists(st.floats(0.0, 300.0), min_size=12, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    blocks=band_notional,
    sizes=st.lists(st.floats(0.05, 5.0), min_size=20, max_size=300),
    step_bps=st.floats(0.2, 20.0),
    trigger=st.floats(94.5, 99.9),
    fraction=st.floats(0.0, 1.0),
)
def test_iteration_reaches_the_closed_form_fixed_point(blocks, sizes, step_bps, trigger,
                                                       fraction) -> None:
    longs = np.zeros(GRID.n_bins)
    longs[GRID.n_side - 60 : GRID.n_side] = np.repeat(blocks, 5)  # 6 % below the price
    bids, asks = ladder(63.0, step_bps, len(sizes), 1.0)
    bids[:, 1] = sizes
    expected, exhausted = reference_terminal(longs, bids, asks, trigger, fraction)
    result = down(longs, bids, asks, trigger, market_fraction=fraction, max_rounds=10_000)
    assert result.terminal_price == pytest.approx(expected, rel=1e-12)
    assert result.book_exhausted == exhausted
    assert result.converged == (not exhausted)
    assert result.overshoot_pct >= 0.0


@settings(max_examples=100, deadline=None)
@given(
    blocks=band_notional,
    scales=st.tuples(st.floats(0.0, 50.0), st.floats(0.0, 50.0)).map(sorted),
    size=st.floats(0.05, 5.0),
    trigger=st.floats(94.0, 100.0),
    max_rounds=st.integers(1, 100),
)
def test_overshoot_is_monotone_in_the_notional(blocks, scales, size, trigger, max_rounds) -> None:
    longs = np.zeros(GRID.n_bins)
    longs[GRID.n_side - 60 : GRID.n_side] = np.repeat(blocks, 5)
    bids, asks = ladder(PRICE, 1.0, 400, size)
    small, big = (
        down(longs * scale, bids, asks, trigger, max_rounds=max_rounds) for scale in scales
    )
    assert 0.0 <= small.overshoot_pct <= big.overshoot_pct
    assert big.terminal_price <= small.terminal_price <= trigger
    assert small.liquidated_notional_quote <= big.liquidated_notional_quote * (1 + 1e-12)


# --- real data ----------------------------------------------------------------------------------


def real_map(elapsed_ms: int) -> tuple[LiquidationMap, np.ndarray, np.ndarray]:
    """BTCUSDT 7d map from the bundled replay data at a replay position, and the recorded book
    re-centred on the map price at the same replay time (1000 levels asked, 800 recorded)."""
    source = ReplaySource(speed=720, symbols=["BTCUSDT"], clock=lambda: 0.0)
    source.set_elapsed_ms(elapsed_ms)
    info = source.symbols()[0]
    snap = asyncio.run(fetch_snapshot(source, info, WINDOW_SECONDS["7d"]))
    oi = snap.open_interest
    oi_at_close = open_interest_at_close(
        snap.candles.open_time_ms, snap.candles.interval_ms, oi.time_ms, oi.oi_quote
    )
    liq_map = build_map(snap.candles, oi_at_close, snap.brackets, snap.price, snap.now_ms,
                        MapParams())
    book = replay_order_book("BTCUSDT", mid_price=snap.price, at_ms=snap.now_ms, depth=1000)
    return liq_map, book.bids, book.asks


@pytest.fixture(scope="module", params=[0, 20 * 86_400_000])
def btc_7d(request: pytest.FixtureRequest):
    return real_map(request.param)


def nearest(liq_map: LiquidationMap, side: str, count: int) -> list[Cluster]:
    found = sorted((c for c in liq_map.clusters if c.side == side), key=lambda c: c.distance_pct)
    return found[:count]


@pytest.mark.parametrize("market_fraction", [1.0, 0.1])
def test_real_data_nearest_long_cluster(btc_7d, market_fraction: float) -> None:
    liq_map, bids, asks = btc_7d
    cluster = nearest(liq_map, "long", 1)[0]
    assert cluster.notional_quote > 0.0
    near = cluster_cascade(liq_map, bids, asks, cluster, "near", market_fraction)
    trigger = cluster.price_high
    between = liq_map.long_notional[(liq_map.grid.centers() > trigger)].sum()
    assert math.isfinite(near.overshoot_pct) and near.overshoot_pct >= 0.0
    assert near.terminal_price <= trigger
    assert (near.terminal_price < trigger) == (between > 0.0)
    far = cluster_cascade(liq_map, bids, asks, cluster, "far", market_fraction)
    assert math.isfinite(far.overshoot_pct) and far.overshoot_pct > 0.0
    assert far.terminal_price < cluster.price_low
    assert far.liquidated_notional_quote >= between + cluster.notional_quote * (1 - 1e-9)


def test_real_data_every_cluster_both_sides(btc_7d) -> None:
    liq_map, bids, asks = btc_7d
    for side in ("long", "short"):
        for cluster in nearest(liq_map, side, 3):
            for fraction in (1.0, 0.1, 0.01):
                result = cluster_cascade(liq_map, bids, asks, cluster, "far", fraction)
                assert math.isfinite(result.terminal_price)
                assert result.overshoot_pct >= 0.0
                if side == "long":
                    assert result.terminal_price < cluster.price_low
                else:
                    assert result.terminal_price > cluster.price_high
                assert result.converged != result.book_exhausted


# --- depth beyond the record, and the overshoot stops use -----------------------------------------


def test_extend_book_continues_at_the_recorded_density() -> None:
    bids, _ = ladder(PRICE, step_bps=1.0, count=20, size=1.0)  # 20 bps of bids, ~100 quote/bps
    extended = extend_book(bids, PRICE, reach_pct=5.0)
    assert np.array_equal(extended[:20], bids)
    tail = extended[20:]
    assert np.all(np.diff(extended[:, 0]) < 0), "bids keep descending"
    assert tail[-1, 0] == pytest.approx(PRICE * 0.95, rel=1e-3)
    density = float(bids[:, 0] @ bids[:, 1]) / 19.5  # the last level is 19.5 bps out
    step_quote = tail[:, 0] * tail[:, 1]
    assert step_quote == pytest.approx(np.full(len(tail), density * 2.0))


def test_extrapolated_depth_lets_a_cascade_run_past_the_record() -> None:
    bids, asks = ladder(PRICE, step_bps=1.0, count=20, size=1.0)
    longs = long_block(97.0, 99.0, per_band=2_000.0)
    recorded_only = down(longs, bids, asks, 98.0)
    extended = down(longs, bids, asks, 98.0, extend_to_pct=30.0)
    assert recorded_only.book_exhausted and not recorded_only.beyond_recorded_depth
    assert extended.beyond_recorded_depth and extended.converged
    assert extended.terminal_price < recorded_only.terminal_price


def test_cluster_overshoot_grows_with_the_cluster_and_shrinks_with_depth() -> None:
    bids, asks = ladder(PRICE, step_bps=1.0, count=50, size=5.0)
    cluster = Cluster("long", 97.0, 98.0, 97.5, 0.0, 1.0, 2.0, 1)

    def overshoot(per_band: float, depth_scale: float = 1.0) -> float:
        scaled = bids * np.array([1.0, depth_scale])
        return cluster_overshoot_pct(EDGES, long_block(97.0, 98.0, per_band),
                                     np.zeros(GRID.n_bins), PRICE, scaled, asks, cluster)

    assert overshoot(0.0) == 0.0
    assert 0.0 < overshoot(2_000.0) < overshoot(8_000.0)
    assert overshoot(8_000.0, depth_scale=4.0) < overshoot(8_000.0)
