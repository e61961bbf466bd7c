"""Where accepted orders go: `OrderVenue`, the one interface the order routes use. Two venues
implement it: paper accounts (`execsvc.venues.paper.venue.PaperVenue`, the default) and the
exchange (`execsvc.venues.live.LiveVenue`, `TRADING_MODE=live`).

Every method takes the caller's API key id, which names the account (one paper account per
key; live orders are recorded per key so a key only sees its own). Money in quote currency,
quantities in base units. `run(stop)` is the venue's background work while the service runs
(paper: price ticks for resting orders and liquidations), `close()` releases its clients.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal, Protocol

from execsvc.domain.orders import Order, OrderRequest, Position

TradingMode = Literal["paper", "live"]


class OrderVenue(Protocol):
    mode: TradingMode

    async def existing(self, key: str, request: OrderRequest) -> Order | None:
        """The order a retried request already created; `DuplicateOrder` if the id was used
        for a different request; None for a new id."""

    async def submit(self, key: str, request: OrderRequest) -> Order: ...

    async def get(self, key: str, order_id: str) -> Order | None:
        """By the service's order id, or by the client's `client_order_id`."""

    async def cancel(self, key: str, order_id: str) -> Order | None: ...

    async def position(self, key: str, symbol: str) -> Position | None: ...

    async def positions(self, key: str) -> list[dict[str, Any]]: ...

    async def account(self, key: str) -> dict[str, Any]: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    async def close(self) -> None: ...
