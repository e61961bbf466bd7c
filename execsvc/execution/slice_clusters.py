"""Where the slicing planner meets the liquidation map (pure; no I/O). Used by `auto` and
`almgren_chriss` only; explicit `twap` and `pov` keep their schedule and a note names the
clusters they ignore. For a buy (a sell mirrors it, sides swapped):

- Long-liquidation bands below the price: forced selling there would fill resting buy limits.
  A limit is placed at the band's peak (its middle when no peak is given), on the tick away
  from the mid. The chance the price trades down to it within the horizon is taken from a
  driftless random walk (reflection principle) `p = erfc(d / (sigma sqrt(2 horizon)))`, `d`
  the distance from the mid. The band gets `MAX_LIMIT_FRACTION * intensity * p` of the order
  (bands with `p < MIN_REACH_PROBABILITY` get nothing), all bands together at most
  `MAX_LIMIT_FRACTION`.
- Short-liquidation bands above the price: a cluster counts as ahead when the price reaches its
  near edge within the horizon with `p >= MIN_REACH_PROBABILITY` or one market order for the
  whole quantity would walk into it. The market schedule is then front-loaded, multiplying the
  trade of slice j by `exp(-beta j / n)` (renormalised), `beta = FRONT_LOAD_MAX * intensity *
  urgency`, urgency 1 when one market order would reach the band, else p; and slices are added
  (up to the bound on n) until every market child's walk stays below the band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from execsvc.domain.book import walk_book
from execsvc.domain.units import OrderSide
from execsvc.execution.slice_request import (
    ChildOrder,
    ClusterLike,
    Market,
    PlanRequest,
    Schedule,
    fmt,
)

MAX_LIMIT_FRACTION = 0.30
MIN_REACH_PROBABILITY = 0.05
FRONT_LOAD_MAX = 2.0


@dataclass(frozen=True, slots=True)
class Band:
    """A limit child placed in a liquidation band on the fill side."""

    cluster: ClusterLike
    limit_price: float
    reach_probability: float
    fraction: float


@dataclass(frozen=True, slots=True)
class Ahead:
    """A liquidation cluster in the direction the order pushes the price."""

    cluster: ClusterLike
    near_edge: float
    reach_probability: float
    market_reaches: bool
    beta: float
    safe_child: float


def reach_probability(distance: float, sigma: float, horizon_s: float) -> float:
    """P(a driftless random walk with volatility `sigma` (quote per sqrt(s)) moves `distance`
    (quote) away from its start within `horizon_s`): erfc(d / (sigma sqrt(2 T))) (1 at d <= 0)."""
    if distance <= 0.0:
        return 1.0
    if sigma <= 0.0:
        return 0.0
    return math.erfc(distance / (sigma * math.sqrt(2.0 * horizon_s)))


def _fill_side(side: OrderSide) -> str:
    """The cluster side whose forced orders fill our limits: long liquidations sell (fill our
    buys), short liquidations buy (fill our sells)."""
    return "long" if side == "buy" else "short"


def _band_limit_price(cluster: ClusterLike, market: Market) -> float | None:
    """The band's peak (or middle) on the tick away from the mid, if it rests passively (below
    the best bid for a buy, above the best ask for a sell) inside the band."""
    peak = getattr(cluster, "peak_price", None)
    numeric = isinstance(peak, int | float) and math.isfinite(peak)
    inside = numeric and cluster.price_low <= peak <= cluster.price_high
    target = peak if inside else (cluster.price_low + cluster.price_high) / 2.0
    limit = market.grid.price_away(target, market.mid)
    if market.sign > 0:
        return limit if cluster.price_low <= limit < market.best_bid else None
    return limit if market.best_ask < limit <= cluster.price_high else None


def bands(clusters: Sequence[ClusterLike], market: Market, request: PlanRequest) -> list[Band]:
    """Limit placements in the fill-side bands, fractions capped at MAX_LIMIT_FRACTION total."""
    found = []
    for cluster in clusters:
        if cluster.side != _fill_side(request.side):
            continue
        limit = _band_limit_price(cluster, market)
        if limit is None:
            continue
        p = reach_probability(abs(market.mid - limit), request.sigma, request.horizon_s)
        fraction = MAX_LIMIT_FRACTION * min(max(cluster.intensity, 0.0), 1.0) * p
        if p >= MIN_REACH_PROBABILITY and fraction > 0.0:
            found.append(Band(cluster, limit, p, fraction))
    total = sum(band.fraction for band in found)
    if total > MAX_LIMIT_FRACTION:
        scale = MAX_LIMIT_FRACTION / total
        found = [Band(b.cluster, b.limit_price, b.reach_probability, b.fraction * scale)
                 for b in found]
    return sorted(found, key=lambda b: -b.fraction)


def _safe_child(market: Market, near_edge: float) -> float:
    """Base quantity a market child can take before its walk reaches `near_edge`."""
    prices, sizes = market.levels[:, 0], market.levels[:, 1]
    below = prices < near_edge if market.sign > 0 else prices > near_edge
    return float(sizes[below].sum())


def ahead(clusters: Sequence[ClusterLike], market: Market, request: PlanRequest) -> Ahead | None:
    """The nearest cluster in the push direction that the price may reach (module docstring)."""
    push_side = "short" if request.side == "buy" else "long"
    worst = walk_book(market.levels, request.quantity, request.side).worst_price
    best: Ahead | None = None
    for cluster in clusters:
        if cluster.side != push_side:
            continue
        edge = cluster.price_low if market.sign > 0 else cluster.price_high
        distance = market.sign * (edge - market.mid)
        if distance <= 0.0:
            continue
        p = reach_probability(distance, request.sigma, request.horizon_s)
        reaches = market.sign * (worst - edge) >= 0.0
        if p < MIN_REACH_PROBABILITY and not reaches:
            continue
        urgency = 1.0 if reaches else p
        beta = FRONT_LOAD_MAX * min(max(cluster.intensity, 0.0), 1.0) * urgency
        candidate = Ahead(cluster, edge, p, reaches, beta, _safe_child(market, edge))
        if best is None or distance < market.sign * (best.near_edge - market.mid):
            best = candidate
    return best


def front_load(schedule: Schedule, found: Ahead, request: PlanRequest) -> Schedule:
    """Multiply slice j's weight by exp(-beta j / n) and renormalise; say why in each reason."""
    n = len(schedule.weights)
    if n == 1 or found.beta <= 0.0:
        return schedule
    tilt = np.exp(-found.beta * np.arange(n) / n)
    pace = tilt / float((schedule.weights * tilt).sum())
    weights = schedule.weights * pace
    c = found.cluster
    direction = "above" if request.side == "buy" else "below"
    verb = "buying" if request.side == "buy" else "selling"
    liq = "short" if request.side == "buy" else "long"
    why = ("one market order for the whole quantity would walk into it" if found.market_reaches
           else f"the price reaches it within the horizon with probability "
                f"{found.reach_probability:.0%}")
    reasons = [
        f"{reason} Pace x{pace[j]:.2f} of that schedule, front-loaded "
        f"to finish {verb} ahead of the {liq}-liquidation cluster {fmt(c.price_low)}-"
        f"{fmt(c.price_high)} {direction} the price (intensity {c.intensity:.2f}): {why}, and "
        f"forced {'buying' if liq == 'short' else 'selling'} there would move the price "
        "against the rest of the order."
        for j, reason in enumerate(schedule.reasons)
    ]
    return Schedule(schedule.strategy, weights, schedule.times, reasons, schedule.interval_s,
                    schedule.eta, schedule.risk_aversion, schedule.notes)


def refine_for_ahead(n: int, bound: int, weights_max: float, quantity: float,
                     found: Ahead | None) -> int:
    """More slices (up to `bound`) so the largest market child stays below the ahead band."""
    if found is None or found.safe_child <= 0.0:
        return n
    largest = weights_max * quantity
    if largest <= found.safe_child:
        return n
    return min(bound, max(n + 1, math.ceil(n * largest / found.safe_child)))


def band_children(found: list[Band], market: Market, request: PlanRequest) -> list[ChildOrder]:
    """One resting limit child per band, its fraction of the order rounded down to lots."""
    children = []
    verb, done = ("buy", "bought") if request.side == "buy" else ("sell", "sold")
    forced = "selling" if request.side == "buy" else "buying"
    better = "below" if request.side == "buy" else "above"
    for band in found:
        lots = market.grid.lots_down(band.fraction * request.quantity)
        if lots < 1:
            continue
        c = band.cluster
        children.append(ChildOrder(
            t_offset_s=0.0,
            quantity=market.grid.quantity_of(lots),
            order_type="limit",
            limit_price=band.limit_price,
            reason=(
                f"Resting limit {verb} at {fmt(band.limit_price)} inside the {c.side}-"
                f"liquidation band {fmt(c.price_low)}-{fmt(c.price_high)} {better} the price "
                f"(~{fmt(c.notional_quote, 3)} {request.quote} of estimated liquidations, "
                f"intensity {c.intensity:.2f}): forced {forced} there would fill it {better} the "
                f"mid. The price reaches it within the horizon with probability "
                f"{band.reach_probability:.0%} (driftless random walk), so it holds "
                f"{band.fraction:.1%} of the order (30% x intensity x probability, at most 30% "
                f"over all bands); whatever has not filled at t+{request.horizon_s:g} s is to "
                f"be {done} at market."
            ),
        ))
    return children
