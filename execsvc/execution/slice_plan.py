"""The cluster-aware slicing planner behind `POST /suggest/slice` (pure functions, no I/O).

`plan_slices` turns a request (side, base quantity in whole lots, horizon in seconds, strategy)
plus the order book, the calibrated volatility and volume rate and the liquidation-map clusters
into child orders `{t_offset_s, quantity, order_type, limit_price, reason}` and three slippage
estimates in bps against the same book and its mid. The parts:

- `slice_request`: the checked request, the walked side, the grid (tick and lot), the count;
- `slice_schedules`: TWAP, Almgren-Chriss, POV, and which one `auto` starts from;
- `slice_clusters`: limit children in fill-side liquidation bands, front-loading ahead of a
  cluster the order pushes the price into;
- `slice_costs`: the plan, TWAP and one market order costed on the same resilient book
  (`resilience`), timing risk, and why a plan costs more than TWAP when it does.

`auto` with Almgren-Chriss keeps that schedule only when, costed on the resilient book, its
expected cost plus risk aversion times timing variance is below TWAP's (same cluster
adjustments); otherwise it plans TWAP and says why.

Quantities: every child is whole lots; the children's lots sum exactly to the request's (the
market children share the scheduled lots by their rounded cumulative weights, so no rounding
accumulates). Limit prices sit on the tick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.units import MarketPrecision, OrderSide
from execsvc.execution.impact import half_spread, impact_from_book
from execsvc.execution.resilience import RECOVERY_RATE_PER_S
from execsvc.execution.slice_clusters import (
    Ahead,
    ahead,
    band_children,
    bands,
    front_load,
    refine_for_ahead,
)
from execsvc.execution.slice_costs import (
    cost_notes,
    cost_of,
    objective,
    plan_costs,
    timing_variance,
)
from execsvc.execution.slice_request import (
    MAP_PRICE_TOLERANCE,
    MAX_SLICES,
    MIN_INTERVAL_S,
    ChildOrder,
    ClusterLike,
    Market,
    PlanRequest,
    Schedule,
    SlicePlanError,
    check_clusters,
    check_lots,
    fmt,
    market_of,
    slice_count,
    validate,
)
from execsvc.execution.slice_schedules import choose_strategy, schedule_for

__all__ = ["ChildOrder", "SlicePlan", "SlicePlanError", "plan_slices", "split_in_lots"]


@dataclass(frozen=True, slots=True)
class SlicePlan:
    """A slicing plan and its slippage estimates (bps vs `mid_price`, positive = cost).

    `n_slices` market slices `slice_interval_s` apart; `eta` (quote per base per base/s),
    `epsilon` (quote per base) and `sigma` (quote per base per sqrt(s)) are the calibrated
    Almgren-Chriss inputs (`eta` from this book with `tau = slice_interval_s`);
    `risk_aversion` is per quote unit (None unless Almgren-Chriss was considered).
    `market_extrapolated`: one market order walks past the visible depth. Timing risks are
    standard deviations in quote; `resilience_rate_per_s` the book's refill rate used.
    """

    side: OrderSide
    quantity: float
    horizon_s: float
    strategy_requested: str
    strategy_used: str
    children: tuple[ChildOrder, ...]
    n_slices: int
    slice_interval_s: float
    mid_price: float
    precision: MarketPrecision
    plan_slippage_bps: float
    plan_slippage_bps_if_limits_unfilled: float
    market_slippage_bps: float
    twap_slippage_bps: float
    market_extrapolated: bool
    plan_timing_risk_quote: float
    twap_timing_risk_quote: float
    resilience_rate_per_s: float
    eta: float
    epsilon: float
    sigma: float
    risk_aversion: float | None
    notes: tuple[str, ...]

    @property
    def lot_size(self) -> float:
        return self.precision.lot_size


def split_in_lots(weights: np.ndarray, total_lots: int) -> np.ndarray:
    """Integer lots per weight summing to `total_lots`: differences of the rounded cumulative
    weights (so every entry is >= 0 and the rounding never accumulates)."""
    cumulative = np.cumsum(weights) / np.sum(weights)
    cum_lots = np.round(cumulative * total_lots).astype(np.int64)
    cum_lots[-1] = total_lots
    return np.diff(np.concatenate([[0], cum_lots]))


def _market_children(schedule: Schedule, lots: int, market: Market) -> list[ChildOrder]:
    """The schedule's market children for `lots` whole lots (empty slices dropped)."""
    shares = split_in_lots(schedule.weights, lots)
    return [ChildOrder(float(schedule.times[j]), market.grid.quantity_of(int(n)), "market",
                       None, reason)
            for j, (n, reason) in enumerate(zip(shares, schedule.reasons, strict=True))
            if n > 0]


@dataclass(frozen=True, slots=True)
class _Planner:
    book: OrderBook
    market: Market
    request: PlanRequest
    found_ahead: Ahead | None
    scheduled_lots: int
    bound: int

    @property
    def scheduled(self) -> float:
        return self.market.grid.quantity_of(self.scheduled_lots)

    def schedule(self, strategy: str, n: int) -> Schedule:
        """`strategy`'s schedule in n slices, front-loaded (and with more slices, up to the
        bound) ahead of a cluster the order pushes into."""
        schedule = schedule_for(strategy, n, self.scheduled, self.book, self.market,
                                self.request)
        if self.found_ahead is None or strategy == "pov":
            return schedule
        schedule = front_load(schedule, self.found_ahead, self.request)
        refined = refine_for_ahead(n, self.bound, float(schedule.weights.max()),
                                   self.scheduled, self.found_ahead)
        if refined == n:
            return schedule
        return front_load(schedule_for(strategy, refined, self.scheduled, self.book,
                                       self.market, self.request), self.found_ahead,
                          self.request)


def _keep_or_twap(
    planner: _Planner, schedule: Schedule, lead: list[ChildOrder], n: int, rate: float,
) -> tuple[Schedule, str | None]:
    """For `auto`: the Almgren-Chriss schedule, or TWAP when that has the lower expected cost
    plus risk aversion times variance on the resilient book; with the note saying why."""
    request, market = planner.request, planner.market
    lam = schedule.risk_aversion or 0.0
    twap = planner.schedule("twap", n)
    scores = []
    for candidate in (schedule, twap):
        children = lead + _market_children(candidate, planner.scheduled_lots, market)
        cost = cost_of(children, market, request, rate)
        risk = math.sqrt(timing_variance(children, request.quantity, request.horizon_s,
                                         request.sigma))
        scores.append((objective(cost, risk, request.quantity, market.mid, lam), cost, risk))
    if scores[0][0] <= scores[1][0]:
        return schedule, None
    (_, ac_cost, ac_risk), (_, tw_cost, tw_risk) = scores
    extra = (ac_cost.slippage_bps - tw_cost.slippage_bps) / 1e4 * market.mid * request.quantity
    worth = lam * (tw_risk**2 - ac_risk**2)
    return twap, (
        f"auto planned TWAP: on the resilient book Almgren-Chriss would cost "
        f"{fmt(extra, 4)} {request.quote} more in expected slippage to cut the timing risk "
        f"from {fmt(tw_risk, 4)} to {fmt(ac_risk, 4)} {request.quote}, which risk aversion "
        f"{lam:g} values at only {fmt(worth, 4)} {request.quote}."
    )


def _cluster_notes(clusters: Sequence[ClusterLike], market: Market, request: PlanRequest,
                   used: bool) -> list[str]:
    """Notes on a map priced away from the book and on clusters an explicit strategy ignores."""
    notes = []
    if request.price is not None and abs(market.mid / request.price - 1.0) > MAP_PRICE_TOLERANCE:
        notes.append(
            f"The book's mid {fmt(market.mid)} is more than {MAP_PRICE_TOLERANCE:.0%} from the "
            f"map's price {fmt(request.price)}; the clusters may be stale."
        )
    if clusters and not used:
        notes.append(
            f"Strategy '{request.strategy}' was asked for explicitly, so its schedule ignores "
            f"the {len(clusters)} liquidation cluster(s); 'auto' would use them."
        )
    return notes


def plan_slices(
    book: OrderBook,
    side: OrderSide,
    quantity: float,
    horizon_s: float,
    strategy: str = "auto",
    risk_aversion: float | None = None,
    max_participation: float | None = None,
    *,
    sigma_quote_per_sqrt_s: float,
    volume_rate_base_per_s: float,
    clusters: Sequence[ClusterLike] = (),
    price: float | None = None,
    precision: MarketPrecision | None = None,
    resilience_rate_per_s: float = RECOVERY_RATE_PER_S,
    base_currency: str = "base",
    quote_currency: str = "quote",
) -> SlicePlan:
    """Plan the child orders of a `side` order of `quantity` base units over `horizon_s`
    seconds (method and assumptions in the module docstrings of the parts).

    `sigma_quote_per_sqrt_s` and `volume_rate_base_per_s` come from
    `execsvc.execution.impact` (candles); `clusters` from the liquidation map computed at
    `price`; `precision` is the symbol's grid when the book carries none; the currency names
    only appear in reasons and notes. Raises `SlicePlanError` (a ValueError whose `field` names
    the request field) for an unknown side or strategy, a quantity that is not whole lots, a
    horizon that is not finite and > 0, a negative or non-finite risk aversion, volatility or
    volume rate, a participation outside (0, 1], malformed clusters, or a POV schedule without
    volume.
    """
    request = validate(side, quantity, horizon_s, strategy, risk_aversion, max_participation,
                       sigma_quote_per_sqrt_s, volume_rate_base_per_s, price, base_currency,
                       quote_currency)
    check_clusters(clusters)
    market = market_of(book, request, precision)
    lots = check_lots(request, market)
    strategy_used = choose_strategy(request)
    cluster_aware = request.strategy in ("auto", "almgren_chriss")
    lead = band_children(bands(clusters, market, request), market, request) if (
        cluster_aware) else []
    scheduled_lots = lots - sum(market.grid.lots(c.quantity) for c in lead)
    bound = max(1, min(MAX_SLICES, math.floor(request.horizon_s / MIN_INTERVAL_S),
                       scheduled_lots))
    planner = _Planner(book, market, request,
                       ahead(clusters, market, request) if cluster_aware else None,
                       scheduled_lots, bound)
    n = slice_count(scheduled_lots, market.lot, market.depth, request.horizon_s)
    schedule = planner.schedule(strategy_used, n)
    considered_lambda = schedule.risk_aversion
    choice_note = None
    if request.strategy == "auto" and strategy_used == "almgren_chriss":
        schedule, choice_note = _keep_or_twap(planner, schedule, lead, n,
                                              resilience_rate_per_s)
        strategy_used = schedule.strategy
    children = lead + _market_children(schedule, scheduled_lots, market)
    n_market = len(schedule.weights)
    costs = plan_costs(children, n_market, lots, market, request, resilience_rate_per_s)
    fit_eta = schedule.eta if schedule.eta > 0.0 else impact_from_book(
        book, request.side, min(planner.scheduled, 2.0 * planner.scheduled / n_market),
        schedule.interval_s).eta
    notes = [*cost_notes(costs, market, request, resilience_rate_per_s, considered_lambda,
                         planner.found_ahead is not None and strategy_used != "pov"),
             *([choice_note] if choice_note else []), *schedule.notes,
             *_cluster_notes(clusters, market, request, cluster_aware)]
    return SlicePlan(
        side=request.side,
        quantity=request.quantity,
        horizon_s=request.horizon_s,
        strategy_requested=request.strategy,
        strategy_used=strategy_used,
        children=tuple(children),
        n_slices=n_market,
        slice_interval_s=schedule.interval_s,
        mid_price=market.mid,
        precision=market.grid,
        plan_slippage_bps=costs.plan.slippage_bps,
        plan_slippage_bps_if_limits_unfilled=costs.plan_if_limits_unfilled.slippage_bps,
        market_slippage_bps=costs.market.slippage_bps,
        twap_slippage_bps=costs.twap.slippage_bps,
        market_extrapolated=costs.market.extrapolated,
        plan_timing_risk_quote=costs.plan_risk_quote,
        twap_timing_risk_quote=costs.twap_risk_quote,
        resilience_rate_per_s=resilience_rate_per_s,
        eta=fit_eta,
        epsilon=half_spread(book),
        sigma=request.sigma,
        risk_aversion=considered_lambda,
        notes=tuple(notes),
    )
