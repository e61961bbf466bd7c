"""Liquidation cascades: how far the price overshoots once it is pushed into liquidations
(README.md, "Execution advice"). Pure numpy, no I/O; the book is walked by
`execsvc.domain.book.walk_book` only.

Model (direction "down"; "up" mirrors it with shorts, asks and forced buying):

1. An exogenous move pushes the price from `price` to `trigger_price` (e.g. a cluster's near
   or far edge). Makers are assumed to re-quote along the way, so the book arrives at the
   trigger intact: it is treated as a depth profile in bps from its own mid `m0` and carried to
   the trigger, every level (p, q) becoming

       p' = p * r,   q' = q / r,   r = trigger_price / m0

   (offset from the mid in bps and quote notional p*q kept). A book recorded at another price
   level is thereby rescaled too.
2. Every long cohort with liquidation price between `price` and the current level L is
   force-sold at market. The map gives notional per band, spread uniformly over the band's
   price range (so a band is liquidated linearly in how far L went into it). Quote notional is
   turned into base units at the band's centre, `base_k = notional_k / centre_k`: the map does
   not keep entry prices, and the liquidation engine sells the position at about its
   liquidation price. Only `market_fraction` of it reaches the book as market orders; the rest
   is taken to be absorbed by the exchange's liquidation engine / insurance fund (or ADL)
   without touching the book (1 = all of it hits the book, 0 = none). Long notional above
   `price` is ignored (those cohorts would already be gone). The forced base quantity when the
   level is L is therefore

       B(L) = market_fraction * sum_k base_k * |[lo_k, hi_k] ∩ [L, price]| / (hi_k - lo_k)

   which is piecewise linear in L between band edges and is evaluated with one `np.interp` over
   its cumulative sum from `price` outward.
3. The cumulative forced selling B(L) walks the bid side of the carried book (no refill during
   the cascade: liquidation orders arrive faster than makers re-quote). The walk's worst price
   is the new level, `L' = min(L, worst_price)`. Rounds repeat from L_0 = trigger_price.
   Cohorts crossed on the way from `price` to the trigger are part of B and are assumed to hit
   the book at the trigger too (conservative: in reality some of them traded during the push).

The levels are non-increasing and take values among the finitely many book prices, so the
iteration reaches a fixed point (`converged`) in at most one round per book level: the greatest
level L <= trigger_price at which the book holds B(L). It stops early when the book cannot
fill B(L) (`book_exhausted`: the terminal price is then the book's last level, a lower bound of
the real move) or after `max_rounds` walks (`converged` false, terminal = last level reached).
The overshoot is reported in percent beyond the trigger, `|terminal - trigger| / trigger * 100`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from execsvc.domain.book import EXTRAPOLATE_TO_PCT, extend_book, walk_book

if TYPE_CHECKING:
    from execsvc.liqmap.clusters import Cluster
    from execsvc.liqmap.model import LiquidationMap

Direction = Literal["down", "up"]
ClusterEdge = Literal["near", "far"]


@dataclass(frozen=True, slots=True)
class CascadeResult:
    """Outcome of one simulated cascade.

    `terminal_price` (quote per base): where the cascade stops. `overshoot_pct`: the distance
    beyond the trigger in percent of the trigger price, >= 0. `liquidated_notional_quote`: map
    notional (quote, before `market_fraction`) whose liquidation price lies between `price` and
    the terminal price. `rounds`: book walks performed (0 when nothing was liquidated).
    `book_exhausted`: the book could not absorb the forced orders, so the terminal price is the
    book's last level and the true move is larger. `converged`: a fixed point was reached.
    `beyond_recorded_depth`: the cascade ran past the recorded levels into the extrapolated
    depth (`extend_book`), so its size rests on that assumption.
    """

    terminal_price: float
    overshoot_pct: float
    liquidated_notional_quote: float
    rounds: int
    book_exhausted: bool
    converged: bool
    beyond_recorded_depth: bool = False


@dataclass(frozen=True, slots=True)
class _Curve:
    """A cumulative liquidation curve: `values` at the clipped band edges `xs` (ascending),
    linear in between, constant beyond the ends (see `_liquidation_curve`)."""

    xs: np.ndarray
    values: np.ndarray

    def at(self, level: float) -> float:
        return float(np.interp(level, self.xs, self.values))


def _check_positive(name: str, value: float) -> float:
    """`value` as a float, required finite and > 0."""
    number = float(value)
    if not math.isfinite(number) or number <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


def _check_map(
    band_edges: np.ndarray, long_notional: np.ndarray, short_notional: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (n+1,) finite, strictly ascending, > 0; notionals (n,) finite, >= 0; as float64."""
    edges = np.asarray(band_edges, dtype=np.float64)
    longs = np.asarray(long_notional, dtype=np.float64)
    shorts = np.asarray(short_notional, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(f"band_edges must be 1-D with at least 2 edges, got shape {edges.shape}")
    if not np.all(np.isfinite(edges)) or edges[0] <= 0.0 or np.any(np.diff(edges) <= 0.0):
        raise ValueError("band_edges must be finite, positive and strictly ascending")
    for name, arr in (("long_notional", longs), ("short_notional", shorts)):
        if arr.shape != (edges.size - 1,):
            raise ValueError(f"{name} must have shape ({edges.size - 1},), got {arr.shape}")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
            raise ValueError(f"{name} must be finite and >= 0")
    return edges, longs, shorts


def _book_mid(bids: np.ndarray, asks: np.ndarray) -> float:
    """Mid of the best bid and best ask (the walked side is validated by `walk_book`)."""
    for name, side in (("bids", bids), ("asks", asks)):
        if side.ndim != 2 or side.shape[1] != 2 or side.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty (n, 2) array, got shape {side.shape}")
    best_bid, best_ask = float(bids[0, 0]), float(asks[0, 0])
    if not (math.isfinite(best_bid) and math.isfinite(best_ask) and 0.0 < best_bid < best_ask):
        raise ValueError(f"need 0 < best bid < best ask, got {best_bid} and {best_ask}")
    return (best_bid + best_ask) / 2.0


def carry_book(levels: np.ndarray, book_mid: float, anchor: float) -> np.ndarray:
    """One book side moved from `book_mid` to `anchor` by its bps profile: with
    `r = anchor / book_mid`, price `p * r` and size `q / r` (base), so each level keeps its
    offset from the mid in bps and its quote notional `p * q`."""
    ratio = anchor / book_mid
    return np.asarray(levels, dtype=np.float64) * np.array([ratio, 1.0 / ratio])


def _liquidation_curve(
    edges: np.ndarray, per_band: np.ndarray, price: float, direction: Direction
) -> _Curve:
    """What is liquidated (sum of `per_band`, pro rata) when the level moves from `price` to L.

    Down: edges are clipped to `c = min(edges, price)`, band k keeps the share
    `(c_{k+1} - c_k) / (e_{k+1} - e_k)` of its weight (the part below `price`), and the curve at
    `c_j` is the kept weight of bands j.. (outward from the price): `V_j = sum_{k>=j} kept_k`.
    Up mirrors with `c = max(edges, price)` and `V_j = sum_{k<j} kept_k`. Between clipped edges
    the curve is linear (uniform density within a band); repeated clipped edges carry equal
    values, so `np.interp` is exact on it.
    """
    widths = np.diff(edges)
    clipped = np.minimum(edges, price) if direction == "down" else np.maximum(edges, price)
    kept = per_band * (np.diff(clipped) / widths)
    values = np.zeros(edges.size)
    if direction == "down":
        values[:-1] = np.cumsum(kept[::-1])[::-1]
    else:
        values[1:] = np.cumsum(kept)
    return _Curve(clipped, values)


def _check_direction(direction: str, price: float, trigger: float) -> None:
    """Direction is "down" (trigger <= price) or "up" (trigger >= price)."""
    if direction not in ("down", "up"):
        raise ValueError(f"direction must be 'down' or 'up', got {direction!r}")
    if (direction == "down" and trigger > price) or (direction == "up" and trigger < price):
        raise ValueError(
            f"trigger_price {trigger} lies on the wrong side of price {price} for {direction!r}"
        )


def _iterate(
    forced_base: _Curve, levels: np.ndarray, direction: Direction, trigger: float,
    max_rounds: int,
) -> tuple[float, int, bool, bool]:
    """The rounds of the module docstring: (terminal level, rounds, exhausted, converged);
    `exhausted` only when even the extrapolated book could not absorb the orders."""
    side = "sell" if direction == "down" else "buy"
    further = min if direction == "down" else max
    level = trigger
    for rounds in range(max_rounds):
        quantity = forced_base.at(level)
        if quantity <= 0.0:
            return level, rounds, False, True
        walk = walk_book(levels, quantity, side)
        if not walk.fully_filled:
            return further(level, walk.worst_price), rounds + 1, True, False
        reached = further(level, walk.worst_price)
        if reached == level:
            return level, rounds + 1, False, True
        level = reached
    return level, max_rounds, False, False


def simulate_cascade(
    band_edges: np.ndarray,
    long_notional: np.ndarray,
    short_notional: np.ndarray,
    price: float,
    bids: np.ndarray,
    asks: np.ndarray,
    direction: Direction,
    trigger_price: float,
    market_fraction: float = 1.0,
    max_rounds: int = 100,
    *,
    extend_to_pct: float | None = None,
    forced_from: float | None = None,
) -> CascadeResult:
    """Simulate the cascade of the module docstring once the price is pushed to `trigger_price`.

    `band_edges` (n+1, quote per base, ascending) and `long_notional` / `short_notional` (n,
    quote) are a liquidation map's bands; `price` is the map's price (quote per base); `bids`
    (descending) and `asks` (ascending) are (m, 2) arrays of (price, base size) recorded around
    any mid. `direction` "down" liquidates longs into the bids (trigger <= price), "up" shorts
    into the asks (trigger >= price). `market_fraction` in [0, 1] is the part of liquidated
    notional sent to the book as market orders. At most `max_rounds` (>= 1) book walks.
    `extend_to_pct` continues the book past its recorded levels (`extend_book`) out to that
    distance from the trigger. `forced_from` (between `price` and the trigger) counts only
    cohorts beyond that level as forced orders at the trigger: those crossed before it are taken
    to have traded during the push (by default all of them add up at the trigger, the
    conservative reading of step 3). Raises ValueError on malformed input.
    """
    edges, longs, shorts = _check_map(band_edges, long_notional, short_notional)
    price = _check_positive("price", price)
    trigger = _check_positive("trigger_price", trigger_price)
    _check_direction(direction, price, trigger)
    fraction = float(market_fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"market_fraction must be in [0, 1], got {market_fraction!r}")
    if int(max_rounds) < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds!r}")
    bids, asks = np.asarray(bids, dtype=np.float64), np.asarray(asks, dtype=np.float64)
    book_mid = _book_mid(bids, asks)

    notional = longs if direction == "down" else shorts
    centres = (edges[:-1] + edges[1:]) / 2.0
    start = price if forced_from is None else float(forced_from)
    forced_base = _liquidation_curve(edges, fraction * notional / centres, start, direction)
    recorded = carry_book(bids if direction == "down" else asks, book_mid, trigger)
    levels = recorded if extend_to_pct is None else extend_book(recorded, trigger, extend_to_pct)
    terminal, rounds, exhausted, converged = _iterate(
        forced_base, levels, direction, trigger, int(max_rounds)
    )
    last_recorded = float(recorded[-1, 0])
    beyond = terminal < last_recorded if direction == "down" else terminal > last_recorded
    liquidated = _liquidation_curve(edges, notional, price, direction).at(terminal)
    return CascadeResult(
        terminal_price=terminal,
        overshoot_pct=abs(terminal - trigger) / trigger * 100.0,
        liquidated_notional_quote=liquidated,
        rounds=rounds,
        book_exhausted=exhausted,
        converged=converged,
        beyond_recorded_depth=beyond,
    )


def cluster_trigger(cluster: Cluster, edge: ClusterEdge = "far") -> float:
    """The price at a cluster's `edge`: "near" is the edge facing the map price (a long
    cluster's `price_high`, a short cluster's `price_low`), "far" the other one."""
    if edge not in ("near", "far"):
        raise ValueError(f"edge must be 'near' or 'far', got {edge!r}")
    near_is_high = cluster.side == "long"
    return cluster.price_high if (edge == "near") == near_is_high else cluster.price_low


def cluster_cascade(
    liq_map: LiquidationMap,
    bids: np.ndarray,
    asks: np.ndarray,
    cluster: Cluster,
    edge: ClusterEdge = "far",
    market_fraction: float = 1.0,
    max_rounds: int = 100,
) -> CascadeResult:
    """`simulate_cascade` on `liq_map` triggered at `cluster`'s `edge` (`cluster_trigger`), down
    for a long cluster, up for a short one.

    For stop placement: with `edge="far"` the whole cluster (and everything between it and the
    price) has been liquidated, and `overshoot_pct` says how far beyond its far edge the price
    is expected to run; a long's stop goes below `price_low * (1 - overshoot_pct / 100)`.
    """
    return simulate_cascade(
        liq_map.grid.edges(), liq_map.long_notional, liq_map.short_notional, liq_map.price,
        bids, asks, "down" if cluster.side == "long" else "up", cluster_trigger(cluster, edge),
        market_fraction, max_rounds,
    )


def cluster_overshoot_pct(
    band_edges: np.ndarray, long_notional: np.ndarray, short_notional: np.ndarray,
    price: float, bids: np.ndarray, asks: np.ndarray, cluster: Cluster,
    market_fraction: float = 1.0,
) -> float:
    """Percent the price runs past `cluster`'s far edge once a move sweeps through it.

    What stop placement needs: cohorts between the price and the cluster's near edge traded
    during the push (`forced_from` = near edge); a sweep through the cluster liquidates it
    faster than makers re-quote, so its notional (and any beyond, as the price runs on) hits
    the book at the far edge, extended past its recorded depth (`extend_book`). Returns
    `overshoot_pct` of that cascade.
    """
    near, far = cluster_trigger(cluster, "near"), cluster_trigger(cluster, "far")
    down = cluster.side == "long"
    near = min(near, price) if down else max(near, price)
    result = simulate_cascade(
        band_edges, long_notional, short_notional, price, bids, asks,
        "down" if down else "up", far, market_fraction,
        extend_to_pct=EXTRAPOLATE_TO_PCT, forced_from=near,
    )
    return result.overshoot_pct
