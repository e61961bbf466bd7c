"""The slicing planner's inputs and shared shapes: the checked request, the walked side of the
book with its grid, the child order and the market schedule (pure; no I/O).

Grid: the book's `precision` (the symbol's tick and lot, as the worker stored them), else the
`precision` the caller passes, else one inferred from the book (tick: its smallest price step
at the decimals its prices are quoted in; lot: the coarsest power of ten dividing every size,
else the power of ten at or below the smallest). The request's quantity must be whole lots.

Slice count. A market child should take a small share of the visible depth of the side it
walks, and children should be far enough apart for the book to refill:

    n = clamp(ceil(Q / (DEPTH_SHARE * depth)), 1, min(MAX_SLICES, floor(horizon / MIN_INTERVAL_S)))

(and at most one child per lot), evenly spaced `tau = horizon / n` apart, the first at t = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.units import LotError, MarketPrecision, OrderSide
from execsvc.execution.impact import book_side, price_tick

STRATEGIES = ("auto", "twap", "almgren_chriss", "pov")
DEFAULT_RISK_AVERSION = 1e-6
DEFAULT_MAX_PARTICIPATION = 0.10
DEPTH_SHARE = 0.02
MIN_INTERVAL_S = 5.0
MAX_SLICES = 120
MAX_POV_DURATION_S = 30 * 86_400.0
MAP_PRICE_TOLERANCE = 0.01
"""Books whose mid differs from the map's price by more than this get a stale-map note."""


class SlicePlanError(ValueError):
    """Bad input to `plan_slices`; `field` names the offending request field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ClusterLike(Protocol):
    """What the planner reads from a liquidation cluster (`execsvc.liqmap.clusters.Cluster`).

    `side` is 'long' (long liquidations, below the price) or 'short' (above); prices in quote
    units, `notional_quote` the estimated liquidation notional, `intensity` in [0, 1] relative
    to the map's densest band. A `peak_price` attribute is used when present.
    """

    side: str
    price_low: float
    price_high: float
    notional_quote: float
    intensity: float


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """One child: start `t_offset_s` seconds after the plan starts, `quantity` base units
    (whole lots), 'market' or 'limit' (then `limit_price`, on the tick), and why."""

    t_offset_s: float
    quantity: float
    order_type: Literal["market", "limit"]
    limit_price: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class Schedule:
    """Market slice weights (sum 1) at `times` (seconds), a reason per slice and plan-level
    facts: the interval, the fitted `eta` (0 when none was fitted), the risk aversion used."""

    strategy: str
    weights: np.ndarray
    times: np.ndarray
    reasons: list[str]
    interval_s: float
    eta: float
    risk_aversion: float | None
    notes: list[str]


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """A checked request (`validate`)."""

    side: OrderSide
    quantity: float
    horizon_s: float
    strategy: str
    risk_aversion: float | None
    max_participation: float | None
    sigma: float
    volume_rate: float
    price: float | None
    base: str
    quote: str

    @property
    def sign(self) -> float:
        return 1.0 if self.side == "buy" else -1.0


@dataclass(frozen=True, slots=True)
class Market:
    """The walked side of the book (best first) and what is derived from it."""

    levels: np.ndarray
    mid: float
    best_bid: float
    best_ask: float
    depth: float
    grid: MarketPrecision
    sign: float

    @property
    def tick(self) -> float:
        return self.grid.tick_size

    @property
    def lot(self) -> float:
        return self.grid.lot_size


def fmt(value: float, digits: int = 8) -> str:
    """A number for a sentence: `digits` significant digits with thousands separators."""
    return f"{value:,.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"


# ---- validation -----------------------------------------------------------------------------


def _number(field: str, value: object, *, positive: bool) -> float:
    """`value` as a finite float, > 0 when `positive` else >= 0; SlicePlanError naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SlicePlanError(field, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SlicePlanError(field, f"must be finite, got {value!r}")
    if positive and number <= 0.0:
        raise SlicePlanError(field, f"must be > 0, got {value!r}")
    if number < 0.0:
        raise SlicePlanError(field, f"must be >= 0, got {value!r}")
    return number


def _optional(field: str, value: object, *, positive: bool) -> float | None:
    return None if value is None else _number(field, value, positive=positive)


def check_clusters(clusters: Sequence[ClusterLike]) -> None:
    """Each cluster has side 'long'|'short', finite numbers and 0 < price_low <= price_high."""
    for index, cluster in enumerate(clusters):
        fields = ("price_low", "price_high", "notional_quote", "intensity")
        values = [getattr(cluster, name, None) for name in fields]
        if getattr(cluster, "side", None) not in ("long", "short") or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in values
        ):
            raise SlicePlanError(
                "clusters",
                f"cluster {index} needs side 'long'|'short' and finite "
                "price_low, price_high, notional_quote, intensity",
            )
        if not 0.0 < cluster.price_low <= cluster.price_high:
            raise SlicePlanError("clusters", f"cluster {index} needs 0 < price_low <= price_high")


def validate(
    side: str, quantity: object, horizon_s: object, strategy: str, risk_aversion: object,
    max_participation: object, sigma: object, volume_rate: object, price: object, base: str,
    quote: str,
) -> PlanRequest:
    """The request with every field checked (SlicePlanError names the first bad one)."""
    if side not in ("buy", "sell"):
        raise SlicePlanError("side", f"must be 'buy' or 'sell', got {side!r}")
    if strategy not in STRATEGIES:
        allowed = ", ".join(STRATEGIES)
        raise SlicePlanError("strategy", f"must be one of {allowed}, got {strategy!r}")
    participation = _optional("max_participation", max_participation, positive=True)
    if participation is not None and participation > 1.0:
        raise SlicePlanError("max_participation", f"must be in (0, 1], got {max_participation!r}")
    return PlanRequest(
        side="buy" if side == "buy" else "sell",
        quantity=_number("quantity", quantity, positive=True),
        horizon_s=_number("horizon_s", horizon_s, positive=True),
        strategy=strategy,
        risk_aversion=_optional("risk_aversion", risk_aversion, positive=False),
        max_participation=participation,
        sigma=_number("sigma_quote_per_sqrt_s", sigma, positive=False),
        volume_rate=_number("volume_rate_base_per_s", volume_rate, positive=False),
        price=_optional("price", price, positive=True),
        base=base,
        quote=quote,
    )


# ---- the book -------------------------------------------------------------------------------


def decimals_of(values: np.ndarray) -> int | None:
    """The fewest decimals d (0..12) with every value within 1e-6 units of 10**-d of a multiple
    of 10**-d, or None."""
    arr = np.asarray(values, dtype=np.float64)
    for decimals in range(13):
        scaled = arr * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6):
            return decimals
    return None


def infer_lot_size(sizes: np.ndarray) -> float:
    """The coarsest power of ten (1 down to 1e-12) that divides every size of the book; when
    none does, the power of ten at or below the smallest size."""
    arr = np.asarray(sizes, dtype=np.float64)
    arr = arr[arr > 0.0]
    if arr.size == 0:
        raise SlicePlanError("book", "has no positive sizes")
    decimals = decimals_of(arr)
    if decimals is not None:
        return 10.0**-decimals
    return 10.0 ** math.floor(math.log10(float(arr.min())))


def inferred_grid(bids: np.ndarray, asks: np.ndarray) -> MarketPrecision:
    """The grid of a book that does not carry one (module docstring)."""
    prices = np.concatenate([bids[:, 0], asks[:, 0]])
    decimals = decimals_of(prices)
    raw = price_tick(np.concatenate([bids, asks[::-1]]))
    tick = round(raw, decimals) if decimals is not None else raw
    lot = infer_lot_size(np.concatenate([bids[:, 1], asks[:, 1]]))
    return MarketPrecision(tick, lot, "inferred from the book")


def market_of(book: OrderBook, request: PlanRequest,
              precision: MarketPrecision | None) -> Market:
    """The walked side, mid, best prices, visible depth and grid of `book`."""
    bids = np.asarray(book.bids, dtype=np.float64)
    asks = np.asarray(book.asks, dtype=np.float64)
    if bids.ndim != 2 or asks.ndim != 2 or len(bids) == 0 or len(asks) == 0:
        raise SlicePlanError("book", "needs at least one bid and one ask level")
    levels = book_side(book, request.side)
    grid = book.precision or precision or inferred_grid(bids, asks)
    return Market(levels=levels, mid=book.mid, best_bid=float(bids[0, 0]),
                  best_ask=float(asks[0, 0]), depth=float(levels[:, 1].sum()), grid=grid,
                  sign=request.sign)


def check_lots(request: PlanRequest, market: Market) -> int:
    """The request's quantity in whole lots (`MarketPrecision.checked_lots`); SlicePlanError
    naming `quantity` when it is below one lot, not a multiple of the lot, or beyond
    `MAX_LOTS`."""
    try:
        return market.grid.checked_lots(request.quantity, request.base)
    except LotError as exc:
        raise SlicePlanError("quantity", str(exc)) from exc


def slice_count(lots: int, lot: float, depth: float, horizon_s: float) -> int:
    """n = clamp(ceil(Q / (DEPTH_SHARE depth)), 1, min(MAX_SLICES, horizon / MIN_INTERVAL_S,
    lots))."""
    wanted = math.ceil(lots * lot / (DEPTH_SHARE * depth))
    bound = min(MAX_SLICES, math.floor(horizon_s / MIN_INTERVAL_S), lots)
    return max(1, min(wanted, bound))
