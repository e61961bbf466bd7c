"""Orders, fills, positions and the account: the types the risk check, the paper engine, the
live router and the API share. Pure data, no I/O.

Units: `quantity` and sizes in base units, prices in quote per base, money in quote currency
(`_quote`), times in epoch milliseconds. A position's `size` is signed (long > 0, short < 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

OrderSide = Literal["buy", "sell"]
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
