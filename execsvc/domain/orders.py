"""Orders, fills, positions and the account: the one order type the risk check, the paper
engine, the live router and the API share, its JSON codec and its shape check. Pure, no I/O.

Units: `quantity` and sizes in base units, prices in quote per base, money in quote currency
(`_quote`), times in epoch milliseconds. A position's `size` is signed (long > 0, short < 0).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import orjson

from execsvc.domain.units import (
    MarketPrecision,
    OrderSide,
    decimal_text,
    position_side_of,
    without_float_noise,
)

OrderType = Literal["market", "limit", "stop"]
TimeInForce = Literal["GTC", "IOC", "POST_ONLY"]
OrderStatus = Literal[
    "new", "partially_filled", "filled", "canceled", "rejected", "expired"
]
TERMINAL_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected", "expired"})


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a client asks for. `price` is the limit price (type "limit"); `stop_price` triggers
    a stop-market order (type "stop"); `leverage` applies to the position the order opens."""

    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: float
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    time_in_force: TimeInForce = "GTC"
    leverage: float = 10.0


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: str
    symbol: str
    side: OrderSide
    quantity: float
    price: float
    fee_quote: float
    liquidity: Literal["maker", "taker"]
    timestamp_ms: int
    id: str = ""


@dataclass(frozen=True, slots=True)
class Order:
    """An order's current state. `id` is the service's id; `exchange_order_id` is set by the
    live router."""

    id: str
    request: OrderRequest
    status: OrderStatus
    filled_quantity: float = 0.0
    average_price: float | None = None
    fees_quote: float = 0.0
    created_at_ms: int = 0
    updated_at_ms: int = 0
    reason: str | None = None
    exchange_order_id: str | None = None
    fills: tuple[Fill, ...] = field(default_factory=tuple)
    api_key_id: str | None = None

    @property
    def remaining_quantity(self) -> float:
        return max(0.0, self.request.quantity - self.filled_quantity)

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    size: float
    entry_price: float
    leverage: float
    margin_quote: float
    liquidation_price: float | None
    realized_pnl_quote: float = 0.0

    def unrealized_pnl_quote(self, mark_price: float) -> float:
        return self.size * (mark_price - self.entry_price)

    @property
    def notional_at_entry_quote(self) -> float:
        return abs(self.size) * self.entry_price


@dataclass(frozen=True, slots=True)
class Account:
    """Wallet balance (deposits + realised PnL - fees) and the positions it holds."""

    balance_quote: float
    positions: dict[str, Position] = field(default_factory=dict)
    fees_paid_quote: float = 0.0
    realized_pnl_quote: float = 0.0
    unrealized_pnl_quote: float = 0.0
    position_margin_quote: float = 0.0
    order_margin_quote: float = 0.0

    @property
    def equity_quote(self) -> float:
        """Wallet balance plus unrealised PnL at the marks used to build this account."""
        return self.balance_quote + self.unrealized_pnl_quote

    @property
    def available_quote(self) -> float:
        """What new orders may commit as initial margin: balance minus the isolated margin of
        positions and the margin reserved by resting orders."""
        return self.balance_quote - self.position_margin_quote - self.order_margin_quote


class DuplicateOrder(ValueError):
    """A `client_order_id` already used for a different request; `order_id` names the order it
    was used for (None while that order is still being placed)."""

    def __init__(self, client_order_id: str, order_id: str | None) -> None:
        named = f"order {order_id}" if order_id else "another order"
        super().__init__(f"client_order_id {client_order_id!r} already names {named} "
                         "with a different request")
        self.client_order_id = client_order_id
        self.order_id = order_id


def same_request(a: OrderRequest, b: OrderRequest) -> bool:
    return request_to_json(a) == request_to_json(b)


def request_digest(request: OrderRequest) -> str:
    """Names one exact request: a retry of it matches, a different body under the same
    `client_order_id` does not."""
    body = orjson.dumps(request_to_json(request), option=orjson.OPT_SORT_KEYS)
    return f"{request.client_order_id}#{hashlib.sha256(body).hexdigest()[:16]}"


def order_shape_problem(
    type_: str, quantity: float, price: float | None, stop_price: float | None,
    time_in_force: str = "GTC", *, protective_stop: bool = False,
) -> tuple[str, str] | None:
    """`(field, message)` when the prices do not fit the order type, else None: a limit order
    needs `price` and only a limit order takes one; a stop order needs `stop_price`, which
    other orders take only as the stop protecting the position (`protective_stop`, as
    `/risk/check` describes an order); `time_in_force` applies to limit orders only."""
    if not (math.isfinite(quantity) and quantity > 0):
        return "quantity", f"quantity must be positive and finite, got {quantity}"
    if type_ == "limit" and price is None:
        return "price", "a limit order needs a price"
    if type_ != "limit" and price is not None:
        return "price", "price applies to limit orders only"
    if type_ == "stop" and stop_price is None:
        return "stop_price", "a stop order needs a stop_price"
    if type_ != "stop" and stop_price is not None and not protective_stop:
        return "stop_price", ("stop_price applies to stop orders only; send the stop as its "
                              "own order")
    if type_ != "limit" and time_in_force != "GTC":
        return "time_in_force", "time_in_force applies to limit orders only"
    return None


def off_grid_problem(request: OrderRequest, precision: MarketPrecision) -> tuple[str, str] | None:
    """`(field, message)` when the quantity is not whole lots or a price is off the tick, else
    None: the exchange would refuse such an order, so the paper venue does too."""
    if not precision.on_lot_grid(request.quantity):
        return "quantity", (f"quantity {decimal_text(request.quantity)} is not a multiple of "
                            f"the lot {decimal_text(precision.lot_size)} (nearest: "
                            f"{decimal_text(precision.quantity(request.quantity))})")
    for name in ("price", "stop_price"):
        price = getattr(request, name)
        if price is not None and not precision.on_price_grid(price):
            return name, (f"{name} {decimal_text(price)} is not on the tick "
                          f"{decimal_text(precision.tick_size)} "
                          f"(nearest: {decimal_text(precision.price(price))})")
    return None


_REQUEST_FIELDS = tuple(f.name for f in fields(OrderRequest))


def request_to_json(request: OrderRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in _REQUEST_FIELDS}


def request_from_json(data: dict[str, Any]) -> OrderRequest:
    return OrderRequest(**data)


def order_to_json(order: Order) -> dict[str, Any]:
    """The order as its JSON document (request nested, fills a list): what the paper journal
    and the live order records store, and (with `remaining_quantity`) what the API answers."""
    return orjson.loads(orjson.dumps(order))


def order_from_json(data: dict[str, Any]) -> Order:
    data = dict(data)
    data.pop("remaining_quantity", None)
    request = request_from_json(data.pop("request"))
    fills = tuple(Fill(**f) for f in data.pop("fills"))
    return Order(request=request, fills=fills, **data)


def position_to_json(position: Position) -> dict[str, Any]:
    return asdict(position)


def marked_position_json(position: Position, mark_price: float | None,
                         unrealized_pnl_quote: float, mark_stale: bool = False
                         ) -> dict[str, Any]:
    """A position as the API answers it: its fields, `side`, entry notional and the mark it was
    valued at (`mark_stale` when that is an old last price) with the unrealised PnL (quote),
    free of float noise."""
    return without_float_noise({
        **position_to_json(position),
        "side": position_side_of(position.size),
        "notional_at_entry_quote": position.notional_at_entry_quote,
        "mark_price": mark_price,
        "mark_stale": mark_stale,
        "unrealized_pnl_quote": unrealized_pnl_quote,
    })
