"""`PaperVenue`: the `OrderVenue` of paper trading (`TRADING_MODE=paper`, the default)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from execsvc.domain.orders import (
    DuplicateOrder,
    Order,
    OrderRequest,
    Position,
    marked_position_json,
    same_request,
)
from execsvc.domain.units import without_float_noise
from execsvc.venues.paper.accounts import PaperAccounts


class PaperVenue:
    """Paper accounts (`PaperAccounts`), one per API key id; `symbols` get price ticks every
    `tick_s` seconds."""

    mode = "paper"

    def __init__(self, accounts: PaperAccounts, symbols: list[str], tick_s: float) -> None:
        self.accounts = accounts
        self.symbols = symbols
        self.tick_s = tick_s

    async def existing(self, key: str, request: OrderRequest) -> Order | None:
        order = await self.accounts.broker(key).order_for_client_id(request.client_order_id)
        if order is not None and not same_request(order.request, request):
            raise DuplicateOrder(request.client_order_id, order.id)
        return order

    async def submit(self, key: str, request: OrderRequest) -> Order:
        return await self.accounts.broker(key).submit(key, request)

    async def get(self, key: str, order_id: str) -> Order | None:
        """By the service's order id, or by the client's `client_order_id`."""
        broker = self.accounts.broker(key)
        return await broker.get_order(order_id) or await broker.order_for_client_id(order_id)

    async def cancel(self, key: str, order_id: str) -> Order | None:
        order = await self.get(key, order_id)
        return None if order is None else await self.accounts.broker(key).cancel(order.id)

    async def position(self, key: str, symbol: str) -> Position | None:
        return await self.accounts.position(key, symbol)

    async def positions(self, key: str) -> list[dict[str, Any]]:
        return [marked_position_json(m.position, m.mark_price, m.unrealized_pnl_quote,
                                     m.mark_stale)
                for m in await self.accounts.broker(key).positions()]

    async def account(self, key: str) -> dict[str, Any]:
        account = await self.accounts.broker(key).account()
        fields = asdict(account)
        fields.pop("positions")
        return without_float_noise(fields)

    async def run(self, stop: asyncio.Event) -> None:
        """Feed price ticks to the paper accounts (resting limits, stops, liquidations) every
        `tick_s` seconds until `stop`."""
        await self.accounts.run_market_loop(self.symbols, self.tick_s, stop)

    async def close(self) -> None:
        """Nothing to release: the accounts live in the store."""
