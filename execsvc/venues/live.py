"""`LiveVenue`: the `OrderVenue` of live trading (`TRADING_MODE=live`), over `LiveRouter`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
from redis.asyncio import Redis

from execsvc.domain.orders import (
    DuplicateOrder,
    Order,
    OrderRequest,
    Position,
    marked_position_json,
    order_from_json,
    order_to_json,
    same_request,
)
from execsvc.venues.live_router import LiveRouter

LIVE_PREFIX_CHARS = 8
MAX_LIVE_CLIENT_ID = 36 - LIVE_PREFIX_CHARS - 1
"""Binance allows 36 characters; the key's prefix and a dash take the rest."""


class LiveVenue:
    """The exchange through `LiveRouter`. Each key's orders are recorded in Redis
    (`live:{key}:orders`, client order id -> order) so a key sees only its own and retries
    resolve to the same order. At the exchange a client order id is prefixed with the
    key id (`{key[:8]}-{id}`): two keys using the same id get two orders, and one key can
    never look up, or cancel, another key's order."""

    mode = "live"

    def __init__(self, router: LiveRouter, redis: Redis, prefix: str = "execsvc") -> None:
        self.router = router
        self.redis = redis
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:live:{key}:orders"

    async def _load(self, key: str, client_id: str) -> Order | None:
        """The order as the exchange knows it (prefixed client id)."""
        raw = await self.redis.hget(self._key(key), client_id)
        return None if raw is None else order_from_json(orjson.loads(raw))

    async def _save(self, key: str, client_id: str, order: Order) -> None:
        await self.redis.hset(self._key(key), client_id, orjson.dumps(order_to_json(order)))

    @staticmethod
    def _at_exchange(key: str, request: OrderRequest) -> OrderRequest:
        prefixed = f"{key[:LIVE_PREFIX_CHARS]}-{request.client_order_id}"
        return replace(request, client_order_id=prefixed)

    @staticmethod
    def _for_client(order: Order) -> Order:
        client_id = order.request.client_order_id.split("-", 1)[1]
        return replace(order, id=client_id,
                       request=replace(order.request, client_order_id=client_id))

    async def existing(self, key: str, request: OrderRequest) -> Order | None:
        order = await self._load(key, request.client_order_id)
        if order is None:
            return None
        order = self._for_client(order)
        if not same_request(order.request, request):
            raise DuplicateOrder(request.client_order_id, order.id)
        return order

    async def submit(self, key: str, request: OrderRequest) -> Order:
        if len(request.client_order_id) > MAX_LIVE_CLIENT_ID:
            raise ValueError(f"client_order_id may have at most {MAX_LIVE_CLIENT_ID} characters "
                             "in live mode")
        order = await self.router.submit(self._at_exchange(key, request))
        await self._save(key, request.client_order_id, order)
        return self._for_client(order)

    async def get(self, key: str, order_id: str) -> Order | None:
        order = await self._load(key, order_id)
        if order is not None and order.is_open:
            order = await self.router.fetch(order)
            await self._save(key, order_id, order)
        return None if order is None else self._for_client(order)

    async def cancel(self, key: str, order_id: str) -> Order | None:
        order = await self._load(key, order_id)
        if order is None:
            return None
        order = await self.router.cancel(order)
        await self._save(key, order_id, order)
        return self._for_client(order)

    async def position(self, key: str, symbol: str) -> Position | None:
        return next((p for p in await self.router.positions() if p.symbol == symbol), None)

    async def positions(self, key: str) -> list[dict[str, Any]]:
        marked = await self.router.marked_positions()
        return [marked_position_json(p, mark, pnl) for p, mark, pnl in marked]

    async def account(self, key: str) -> dict[str, Any]:
        return await self.router.balance()

    async def run(self, stop: asyncio.Event) -> None:
        """Nothing runs in the background: the exchange fills and liquidates."""
        await stop.wait()

    async def close(self) -> None:
        await self.router.close()
