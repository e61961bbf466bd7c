"""Pure evaluation of a risk policy against one order: `evaluate(policy, order, context)`.

Units: prices in quote per base, quantities in base units, notionals in quote currency,
`*_pct` in percent of the mark price, leverage a plain multiple.

Definitions the rules share:
- **Reference price** `P`: the order's limit `price`; for a stop order without one, its
  `stop_price` (where it triggers); otherwise the mark price. An order's notional is
  `quantity * P`, and the resulting position is valued at `P` too.
- **Resulting position**: the held signed size plus the order (`+quantity` buy, `-quantity`
  sell). An order *adds exposure* unless it only shrinks the position (same sign, not larger);
  the position rules (`POSITION_EXCEEDS_MAX`, `NEAR_CLUSTER_CAP`) apply only to orders that add
  exposure, so closing is never blocked by them. The order rules apply to every order.
- **Protective stop**: a `stop_price` on the losing side of `P` for the order's direction
  (below `P` for a buy, above for a sell).
- **Risk level**: where the resulting position is forced out. The protective stop when there
  is one; otherwise the Binance USD-M isolated liquidation price of the resulting position at
  the order's leverage (entry: the average of the held position's entry and `P`).
- **Near-cluster cap**: `NEAR_CLUSTER_CAP` when the resulting position notional exceeds
  `near_cluster.max_position_notional_quote` and the risk level, at any size between that cap
  and the requested size, lies within `distance_pct` (of the mark price) of the extent
  `price_low..price_high` of a cluster on the position's own side (long-liquidation clusters
  for a long) with `intensity >= min_intensity`. The liquidation price of a new position moves
  steadily toward entry as it grows (higher brackets), so the levels at the two sizes bound it.
- **Stop inside a cluster**: a `stop_price` strictly inside the extent of a cluster on the side
  of the mark it sits on (below the mark: long-liquidation clusters, where stops of longs get
  run) with `intensity >= stop_cluster_min_intensity`: an error under `refuse`, a warning under
  `flag`.
- **Stop beyond the liquidation price**: the stop protecting a position lies at or beyond
  that position's liquidation price (below it for a long, above for a short), so the exchange
  liquidates the position before the stop triggers: `STOP_BEYOND_LIQUIDATION`, an error under
  `refuse`, a warning under `flag`. The protected position is the resulting one of an order
  with a protective stop (its isolated liquidation price at the order's leverage, as for the
  risk level), or the held position a stop order closes (its liquidation price as the venue
  reports it, else the same formula at its leverage).
- Limits are inclusive: a value equal to its limit passes (a relative tolerance of 1e-9 absorbs
  float rounding, so a quantity computed from a limit passes).

`max_quantity` is the largest quantity passing the quantity rules (order notional, position
notional, near-cluster cap) with everything else about the order unchanged; every smaller
quantity passes them too. The stateful rules (`RATE_LIMITED`, `DUPLICATE_ORDER`) live in
`execsvc.risk.gate`; their violations are built here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from execsvc.domain.brackets import Bracket
from execsvc.domain.orders import OrderType, Position
from execsvc.domain.units import OrderSide, price_decimals
from execsvc.liqmap.clusters import Cluster
from execsvc.liqmap.margin import liquidation_price
from execsvc.risk.policy import Limits, NearCluster, Policy

TOLERANCE = 1e-9
BISECTION_STEPS = 80

NOTIONAL_EXCEEDS_MAX = "NOTIONAL_EXCEEDS_MAX"
POSITION_EXCEEDS_MAX = "POSITION_EXCEEDS_MAX"
LEVERAGE_EXCEEDS_MAX = "LEVERAGE_EXCEEDS_MAX"
NEAR_CLUSTER_CAP = "NEAR_CLUSTER_CAP"
STOP_INSIDE_CLUSTER = "STOP_INSIDE_CLUSTER"
STOP_BEYOND_LIQUIDATION = "STOP_BEYOND_LIQUIDATION"
PRICE_OUTSIDE_COLLAR = "PRICE_OUTSIDE_COLLAR"
RATE_LIMITED = "RATE_LIMITED"
DUPLICATE_ORDER = "DUPLICATE_ORDER"
QUANTITY_CODES = frozenset({NOTIONAL_EXCEEDS_MAX, POSITION_EXCEEDS_MAX, NEAR_CLUSTER_CAP})

Severity = Literal["error", "warning"]


class OrderLike(Protocol):
    """What the rules read of an order: `OrderRequest` and `RiskOrder` both fit."""

    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> OrderSide: ...
    @property
    def quantity(self) -> float: ...
    @property
    def price(self) -> float | None: ...
    @property
    def stop_price(self) -> float | None: ...
    @property
    def type(self) -> OrderType | None: ...
    @property
    def leverage(self) -> float: ...
    @property
    def client_order_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RiskOrder:
    """An order as `/risk/check` describes it. `stop_price` is the order's stop: its trigger
    for a stop order, else the stop that will protect the position it opens."""

    symbol: str
    side: OrderSide
    quantity: float
    price: float | None = None
    stop_price: float | None = None
    type: OrderType | None = None
    leverage: float = 10.0
    reduce_only: bool = False
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class RiskContext:
    """The market an order meets: the mark price (quote per base), the map's clusters, the
    held position of the order's symbol (or None) and the symbol's maintenance brackets."""

    mark_price: float
    brackets: Sequence[Bracket]
    clusters: Sequence[Cluster] = ()
    position: Position | None = None
    quote_currency: str = "USDT"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: `rule` names the policy field, `limit` and `value` are in `unit`."""

    code: str
    rule: str
    limit: float
    value: float
    unit: str
    message: str
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class PolicyRef:
    name: str
    version: int | str

    @classmethod
    def of(cls, policy: Policy) -> PolicyRef:
        return cls(policy.name, policy.version)


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """`allowed` is false when any violation is an error; warnings only inform."""

    allowed: bool
    max_quantity: float
    policy: PolicyRef
    violations: tuple[Violation, ...] = field(default_factory=tuple)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(v.code for v in self.violations)

    def with_violations(self, extra: Sequence[Violation]) -> RiskDecision:
        violations = (*self.violations, *extra)
        return replace(self, violations=violations, allowed=_allowed(violations))


def _allowed(violations: Sequence[Violation]) -> bool:
    return not any(v.severity == "error" for v in violations)


def exceeds(value: float, limit: float) -> bool:
    return value > limit * (1.0 + TOLERANCE)


def rate_limited(count: int, limit: int) -> Violation:
    return Violation(
        RATE_LIMITED, "max_orders_per_minute", float(limit), float(count), "orders/min",
        f"{count} orders this minute from this API key; the policy allows {limit} per minute",
    )


def duplicate_order(client_order_id: str) -> Violation:
    return Violation(
        DUPLICATE_ORDER, "client_order_id", 1.0, 2.0, "uses",
        f"client_order_id {client_order_id!r} was already used by this API key "
        "(each id is accepted once)",
    )


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _held_size(order: OrderLike, position: Position | None) -> float:
    if position is None:
        return 0.0
    if position.symbol.upper() != order.symbol.upper():
        raise ValueError(f"position is for {position.symbol}, the order for {order.symbol}")
    return position.size


def quantity_for_cap(held: float, sign: int, cap_size: float) -> float:
    """Order quantity (base) that brings the resulting position to `cap_size` (base) on the
    order's side: beyond the held size when adding, through it and out when reversing."""
    if held * sign >= 0:
        return max(0.0, cap_size - abs(held))
    return abs(held) + cap_size


class _Evaluation:
    """One order against one symbol's limits; every method is a pure function of those."""

    def __init__(self, limits: Limits, order: OrderLike, context: RiskContext) -> None:
        if not (0 < order.quantity < math.inf and 0 < context.mark_price < math.inf):
            raise ValueError("quantity and mark price must be positive and finite")
        self.limits = limits
        self.order = order
        self.ctx = context
        self.mark = context.mark_price
        self.sign = 1 if order.side == "buy" else -1
        self.side = "long" if order.side == "buy" else "short"
        self.held = _held_size(order, context.position)
        self.ref = self._reference_price()
        if not (0 < self.ref < math.inf
                and math.isfinite(limits.max_position_notional_quote / self.ref)):
            raise ValueError(f"the order's price must be positive and in range, not {self.ref!r}")
        self.ccy = context.quote_currency
        self.digits = price_decimals(self.mark)
        self._levels: dict[float, float] = {}  # liquidation price by size, for the bisection

    def _reference_price(self) -> float:
        if self.order.price is not None:
            return self.order.price
        if self.order.type == "stop" and self.order.stop_price is not None:
            return self.order.stop_price
        return self.mark

    def _price(self, value: float) -> str:
        return f"{value:,.{self.digits}f}"

    def resulting(self, quantity: float) -> float:
        return self.held + self.sign * quantity

    def adds_exposure(self, quantity: float) -> bool:
        new = self.resulting(quantity)
        return not (new * self.held >= 0 and abs(new) <= abs(self.held))

    # ---- order rules ----------------------------------------------------------------------

    def price_collar(self) -> list[Violation]:
        found = []
        collar = self.limits.price_collar_pct
        for name, price in (("price", self.order.price), ("stop_price", self.order.stop_price)):
            if price is None:
                continue
            deviation = abs(price - self.mark) / self.mark * 100.0
            if exceeds(deviation, collar):
                found.append(Violation(
                    PRICE_OUTSIDE_COLLAR, "price_collar_pct", collar, deviation, "%",
                    f"{name} {self._price(price)} is {deviation:.2f} % from the mark price "
                    f"{self._price(self.mark)}; the collar is {collar:g} %",
                ))
        return found

    def leverage(self) -> list[Violation]:
        limit = self.limits.max_leverage
        if not exceeds(self.order.leverage, limit):
            return []
        return [Violation(
            LEVERAGE_EXCEEDS_MAX, "max_leverage", limit, self.order.leverage, "x",
            f"leverage {self.order.leverage:g}x exceeds the maximum {limit:g}x",
        )]

    def order_notional(self, quantity: float) -> list[Violation]:
        limit = self.limits.max_order_notional_quote
        notional = quantity * self.ref
        if not exceeds(notional, limit):
            return []
        return [Violation(
            NOTIONAL_EXCEEDS_MAX, "max_order_notional_quote", limit, notional, self.ccy,
            f"order notional {_money(notional, self.ccy)} ({quantity:g} at "
            f"{self._price(self.ref)}) exceeds the maximum {_money(limit, self.ccy)} per order",
        )]

    # ---- position rules -------------------------------------------------------------------

    def position_notional(self, quantity: float) -> list[Violation]:
        limit = self.limits.max_position_notional_quote
        notional = abs(self.resulting(quantity)) * self.ref
        if not self.adds_exposure(quantity) or not exceeds(notional, limit):
            return []
        return [Violation(
            POSITION_EXCEEDS_MAX, "max_position_notional_quote", limit, notional, self.ccy,
            f"the resulting {self.side} position of {_money(notional, self.ccy)} exceeds the "
            f"maximum {_money(limit, self.ccy)} for {self.order.symbol}",
        )]

    def protective_stop(self) -> float | None:
        stop = self.order.stop_price
        if stop is None or self.sign * (self.ref - stop) <= 0:
            return None
        return stop

    def risk_levels(self, size_low: float, size_high: float) -> tuple[float, float]:
        """The lowest and highest risk level of a resulting position between the two sizes
        (base units) on the order's side."""
        stop = self.protective_stop()
        if stop is not None:
            return stop, stop
        if size_low not in self._levels:
            self._levels[size_low] = self.liquidation_at(size_low)
        levels = [self._levels[size_low], self.liquidation_at(size_high)]
        return min(levels), max(levels)

    def liquidation_at(self, size: float) -> float:
        """Isolated liquidation price of a resulting position of `size` (base) on the order's
        side: averaged with a held position on the same side, else opened at `P`."""
        entry = self.ref
        position = self.ctx.position
        if position is not None and self.held * self.sign > 0:
            held = abs(self.held)
            entry = (held * position.entry_price + (size - held) * self.ref) / size
        return float(liquidation_price(self.side, entry, size, self.order.leverage,
                                       self.ctx.brackets))

    def cluster_in_reach(self, near: NearCluster, low: float, high: float) -> Cluster | None:
        """The nearest cluster on the order's side, intense enough, whose extent lies within
        `distance_pct` of the mark price from the level range `low..high`."""
        reach = near.distance_pct / 100.0 * self.mark
        best: tuple[float, Cluster] | None = None
        for cluster in self.ctx.clusters:
            if cluster.side != self.side or cluster.intensity < near.min_intensity:
                continue
            gap = max(cluster.price_low - high, low - cluster.price_high, 0.0)
            if gap <= reach * (1.0 + TOLERANCE) and (best is None or gap < best[0]):
                best = (gap, cluster)
        return None if best is None else best[1]

    def near_floor_size(self, near: NearCluster) -> float:
        """The smallest resulting size the near-cluster rule can concern (base units)."""
        floor = near.max_position_notional_quote / self.ref
        return max(floor, abs(self.held)) if self.held * self.sign > 0 else floor

    def near_cluster_hit(self, quantity: float) -> tuple[Cluster, float, float] | None:
        near = self.limits.near_cluster
        if near is None or not self.adds_exposure(quantity):
            return None
        size = abs(self.resulting(quantity))
        if not exceeds(size * self.ref, near.max_position_notional_quote):
            return None
        low, high = self.risk_levels(self.near_floor_size(near), size)
        cluster = self.cluster_in_reach(near, low, high)
        return None if cluster is None else (cluster, low, high)

    def near_cluster(self, quantity: float) -> list[Violation]:
        hit = self.near_cluster_hit(quantity)
        near = self.limits.near_cluster
        if hit is None or near is None:
            return []
        cluster, low, high = hit
        limit = near.max_position_notional_quote
        notional = abs(self.resulting(quantity)) * self.ref
        what = "stop" if self.protective_stop() is not None else "liquidation price"
        level = self._price(low) if low == high else f"{self._price(low)}..{self._price(high)}"
        return [Violation(
            NEAR_CLUSTER_CAP, "near_cluster.max_position_notional_quote", limit, notional,
            self.ccy,
            f"the position's {what} ({level}) lies within {near.distance_pct:g} % of a "
            f"{cluster.side}-liquidation cluster {self._price(cluster.price_low)}.."
            f"{self._price(cluster.price_high)} (intensity {cluster.intensity:.2f}); there "
            f"the position is capped at {_money(limit, self.ccy)}, and it would be "
            f"{_money(notional, self.ccy)}",
        )]

    def stop_inside_cluster(self) -> list[Violation]:
        stop = self.order.stop_price
        if stop is None or stop == self.mark:
            return []
        side = "long" if stop < self.mark else "short"
        inside = [c for c in self.ctx.clusters
                  if c.side == side and c.price_low < stop < c.price_high
                  and c.intensity >= self.limits.stop_cluster_min_intensity]
        if not inside:
            return []
        cluster = max(inside, key=lambda c: c.intensity)
        beyond = cluster.price_low if side == "long" else cluster.price_high
        mode = self.limits.stop_inside_cluster
        return [Violation(
            STOP_INSIDE_CLUSTER, "stop_inside_cluster", beyond, stop, self.ccy,
            f"stop {self._price(stop)} lies inside the {side}-liquidation cluster "
            f"{self._price(cluster.price_low)}..{self._price(cluster.price_high)} (intensity "
            f"{cluster.intensity:.2f}), where stops get run; place it beyond "
            f"{self._price(beyond)}",
            "error" if mode == "refuse" else "warning",
        )]

    def protected_liquidation(self) -> tuple[str, float, float] | None:
        """(position side, stop, liquidation price) of the position the order's stop protects,
        or None when the stop protects none (see the module docstring)."""
        stop = self.order.stop_price
        if stop is None:
            return None
        position = self.ctx.position
        if self.order.type == "stop":
            if position is None or self.held * self.sign >= 0:
                return None
            level = position.liquidation_price
            if level is None:
                level = float(liquidation_price(
                    "long" if self.held > 0 else "short", position.entry_price,
                    abs(self.held), position.leverage, self.ctx.brackets))
            return ("long" if self.held > 0 else "short"), stop, level
        if self.protective_stop() is None or not self.adds_exposure(self.order.quantity):
            return None
        size = abs(self.resulting(self.order.quantity))
        return self.side, stop, self.liquidation_at(size)

    def stop_beyond_liquidation(self) -> list[Violation]:
        found = self.protected_liquidation()
        if found is None:
            return []
        side, stop, level = found
        if level <= 0.0 or (stop - level if side == "long" else level - stop) > 0.0:
            return []
        mode = self.limits.stop_beyond_liquidation
        return [Violation(
            STOP_BEYOND_LIQUIDATION, "stop_beyond_liquidation", level, stop, self.ccy,
            f"stop {self._price(stop)} lies at or beyond the {side} position's liquidation "
            f"price {self._price(level)}: the position would be liquidated before the stop "
            "triggers; lower the leverage or move the stop inside the liquidation price",
            "error" if mode == "refuse" else "warning",
        )]

    # ---- max quantity ---------------------------------------------------------------------

    def max_quantity(self) -> float:
        """Largest quantity passing the quantity rules; every smaller one passes as well."""
        limits = self.limits
        best = min(
            limits.max_order_notional_quote / self.ref,
            quantity_for_cap(self.held, self.sign, limits.max_position_notional_quote / self.ref),
        )
        near = limits.near_cluster
        if near is None or best <= 0 or self.near_cluster_hit(best) is None:
            return best
        passing = quantity_for_cap(self.held, self.sign,
                                   near.max_position_notional_quote / self.ref)
        if self.protective_stop() is not None:
            return passing  # the level does not move with size: past the cap, it is in reach
        failing = best
        for _ in range(BISECTION_STEPS):
            if failing - passing <= TOLERANCE * failing:
                break
            middle = (passing + failing) / 2.0
            if self.near_cluster_hit(middle) is None:
                passing = middle
            else:
                failing = middle
        return passing

    def quantity_violations(self, quantity: float) -> list[Violation]:
        return [*self.order_notional(quantity), *self.position_notional(quantity),
                *self.near_cluster(quantity)]


def evaluate(policy: Policy, order: OrderLike, context: RiskContext) -> RiskDecision:
    """Every rule of `policy` for `order.symbol` against `order` in `context`: the violations
    (errors and warnings), whether the order may go, and the largest quantity that may."""
    run = _Evaluation(policy.limits_for(order.symbol), order, context)
    violations = (
        *run.price_collar(), *run.leverage(), *run.quantity_violations(order.quantity),
        *run.stop_inside_cluster(), *run.stop_beyond_liquidation(),
    )
    return RiskDecision(_allowed(violations), run.max_quantity(), PolicyRef.of(policy),
                        violations)
