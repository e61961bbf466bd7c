"""What a slicing plan costs, against TWAP and one market order, on the same resilient book
(pure; no I/O).

All three estimates walk the same side of the book under the resilience model of
`execution.resilience` (what a child takes refills at `rate` per second; past the visible
depth the side is continued at its average density), in bps against the arrival mid
(positive = cost):

- the plan: its market children at their times; limit children are assumed to fill at their
  price (`plan_bps`), or, for `plan_if_limits_unfilled_bps`, their quantity is bought with one
  more market order at the horizon;
- TWAP: the plan's number of market slices, equal in lots, evenly over the horizon;
- one market order: the whole quantity at once (`market_extrapolated` when it walks past the
  visible depth, so its figure rests on the extrapolated depth).

Timing risk: a schedule still holding `x_k` base units to trade between children k and k+1
(limit children counted as held to the horizon) is exposed to the price's random walk:
`V = sigma^2 * sum_k (t_{k+1} - t_k) * x_k^2` (quote^2; the horizon closes the last interval),
the Almgren-Chriss variance. A plan that trades faster early costs more in slippage and less in
variance; risk aversion `lambda` (per quote) prices the difference, `lambda * (V_twap - V_plan)`
quote, against the extra expected cost `E_plan - E_twap` quote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from execsvc.execution.resilience import ScheduleCost, half_life_s, schedule_cost
from execsvc.execution.slice_request import ChildOrder, Market, PlanRequest, fmt


@dataclass(frozen=True, slots=True)
class PlanCosts:
    """The three estimates (bps), their quote costs and timing risks (std, quote)."""

    plan: ScheduleCost
    plan_if_limits_unfilled: ScheduleCost
    twap: ScheduleCost
    market: ScheduleCost
    plan_risk_quote: float
    twap_risk_quote: float


def _split(children: Sequence[ChildOrder]) -> tuple[list[tuple[float, float]],
                                                     list[tuple[float, float]]]:
    market = [(c.t_offset_s, c.quantity) for c in children if c.order_type == "market"]
    limits = [(c.quantity, c.limit_price or 0.0) for c in children if c.order_type == "limit"]
    return sorted(market), limits


def timing_variance(children: Sequence[ChildOrder], quantity: float, horizon_s: float,
                    sigma: float) -> float:
    """`V` of the module docstring (quote^2)."""
    market, _ = _split(children)
    held = quantity
    variance = 0.0
    times = [t for t, _ in market]
    for k, (_, q) in enumerate(market):
        held -= q
        end = times[k + 1] if k + 1 < len(times) else horizon_s
        variance += (end - times[k]) * max(held, 0.0) ** 2
    return sigma**2 * variance


def twap_children(lots: int, n: int, horizon_s: float, market: Market) -> list[ChildOrder]:
    """n market children equal in lots (the first ones one lot larger when they do not divide
    evenly), `horizon / n` apart."""
    base, extra = divmod(lots, n)
    tau = horizon_s / n
    return [ChildOrder(j * tau, market.grid.quantity_of(base + (1 if j < extra else 0)),
                       "market", None, "TWAP") for j in range(n) if base + (j < extra) > 0]


def cost_of(children: Sequence[ChildOrder], market: Market, request: PlanRequest, rate: float,
            limits_fill: bool = True) -> ScheduleCost:
    """One schedule on the resilient book (module docstring)."""
    orders, limits = _split(children)
    if not limits_fill and limits:
        orders.append((request.horizon_s, sum(q for q, _ in limits)))
        limits = []
    return schedule_cost(market.levels, market.mid, market.sign, orders, rate, fixed=limits)


def plan_costs(children: Sequence[ChildOrder], n_market: int, lots: int, market: Market,
               request: PlanRequest, rate: float) -> PlanCosts:
    twap = twap_children(lots, n_market, request.horizon_s, market)
    whole = [ChildOrder(0.0, request.quantity, "market", None, "market order")]
    return PlanCosts(
        plan=cost_of(children, market, request, rate),
        plan_if_limits_unfilled=cost_of(children, market, request, rate, limits_fill=False),
        twap=cost_of(twap, market, request, rate),
        market=cost_of(whole, market, request, rate),
        plan_risk_quote=math.sqrt(timing_variance(children, request.quantity,
                                                  request.horizon_s, request.sigma)),
        twap_risk_quote=math.sqrt(timing_variance(twap, request.quantity, request.horizon_s,
                                                  request.sigma)),
    )


def objective(cost: ScheduleCost, risk_quote: float, quantity: float, mid: float,
              risk_aversion: float) -> float:
    """Expected cost plus risk aversion times variance (quote)."""
    return cost.slippage_bps / 1e4 * mid * quantity + risk_aversion * risk_quote**2


def cost_notes(costs: PlanCosts, market: Market, request: PlanRequest, rate: float,
               risk_aversion: float | None, front_loaded: bool) -> list[str]:
    """The resilience assumption, an extrapolated market order, and why a plan costing more
    than TWAP was chosen, in numbers."""
    quote, base = request.quote, request.base
    notes = [
        f"Costs walk the same book for the plan, TWAP and one market order; what a child takes "
        f"refills at {rate:.4g} per s (half-life {half_life_s(rate):.2f} s, fitted on recorded "
        "Binance BTCUSDT depth diffs), so children closer together meet a thinner book. Limit "
        "children are assumed to fill at their price; the price is not moved otherwise (no "
        "permanent impact)."
    ]
    if costs.market.extrapolated:
        beyond = max(request.quantity - market.depth, 0.0)
        notes.append(
            f"One market order walks past the visible {fmt(market.depth)} {base} of the book "
            f"({fmt(beyond, 6)} {base} beyond it): its estimate is extrapolated at the book's "
            "average depth density."
        )
    extra_bps = costs.plan.slippage_bps - costs.twap.slippage_bps
    if extra_bps > 1e-9:
        notional = request.quantity * market.mid
        extra_quote = extra_bps / 1e4 * notional
        saved = costs.twap_risk_quote**2 - costs.plan_risk_quote**2
        why = (f"The plan costs {extra_bps:.3g} bps ({fmt(extra_quote, 4)} {quote}) more than "
               f"TWAP in expected slippage")
        if saved > 0.0:
            why += (f" because it trades faster early: its timing risk (std of the cost from "
                    f"price moves, sigma {request.sigma:.4g} {quote}/sqrt(s)) is "
                    f"{fmt(costs.plan_risk_quote, 4)} {quote} against TWAP's "
                    f"{fmt(costs.twap_risk_quote, 4)} {quote} (variance "
                    f"{-saved / max(costs.twap_risk_quote**2, 1e-300):+.0%})")
            if risk_aversion is not None:
                why += (f"; at risk aversion {risk_aversion:g} per {quote} that reduction is "
                        f"worth {fmt(risk_aversion * saved, 4)} {quote}")
        if front_loaded:
            why += "; it is also front-loaded ahead of a liquidation cluster (see the children)"
        notes.append(why + ".")
    return notes
