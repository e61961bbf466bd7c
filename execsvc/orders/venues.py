"""Where accepted orders go: the paper engine (default) or the exchange (`TRADING_MODE=live`).

`OrderVenue` is what the order routes need; every method takes the caller's API key id, which
names the account (one paper account per key; live orders are recorded per key so a key only
sees its own). Money in quote currency, quantities in base units.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis

from execsvc.orders.model import Order, OrderRequest, Position


class DuplicateOrder(ValueError):
    """A `client_order_id` already used for a different request."""

    def __init__(self, client_order_id: str, order_id: str) -> None:
        super().__init__(f"client_order_id {client_order_id!r} already names order {order_id} "
                         "with a different request")
        self.order_id = order_id


class OrderVenue(Protocol):
    mode: str

    async def existing(self, key: str, request: OrderRequest) -> Order | None:
        """The order a retried request already created; DuplicateOrder if the id was used for
        a different request; None for a new id."""

    async def submit(self, key: str, request: OrderRequest) -> Order: ...

    async def get(self, key: str, order_id: str) -> Order | None:
        """By the service's order id, or by the client's `client_order_id`."""

    async def cancel(self, key: str, order_id: str) -> Order | None: ...

    async def position(self, key: str, symbol: str) -> Position | None: ...

    async def positions(self, key: str) -> list[dict[str, Any]]: ...

    async def account(self, key: str) -> dict[str, Any]: ...


def _same(a: OrderRequest, b: OrderRequest) -> bool:
    return asdict(a) == asdict(b)


def position_json(position: Position, mark: float | None, unrealized: float) -> dict[str, Any]:
    return {
        **asdict(position),
        "side": "long" if position.size > 0 else "short",
        "notional_at_entry_quote": position.notional_at_entry_quote,
        "mark_price": mark,
        "unrealized_pnl_quote": unrealized,
    }


class PaperVenue:
    """Paper accounts (`execsvc.paper.accounts.PaperAccounts`), one per API key id."""

    mode = "paper"

    def __init__(self, accounts: Any) -> None:
        self.accounts = accounts

    async def existing(self, key: str, request: OrderRequest) -> Order | None:
        order = await self.accounts.broker(key).order_for_client_id(request.client_order_id)
        if order is not None and not _same(order.request, request):
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
        return [position_json(m.position, m.mark_price, m.unrealized_pnl_quote)
                for m in await self.accounts.broker(key).positions()]

    async def account(self, key: str) -> dict[str, Any]:
        account = await self.accounts.broker(key).account()
        fields = asdict(account)
        fields.pop("positions")
        return fields


LIVE_PREFIX_CHARS = 8
MAX_LIVE_CLIENT_ID = 36 - LIVE_PREFIX_CHARS - 1
"""Binance allows 36 characters; the key's prefix and a dash take the rest."""


class LiveVenue:
    """The exchange through `execsvc.exchange.LiveRouter`. Each key's orders are recorded in
    Redis (`live:{key}:orders`, client order id -> order) so a key sees only its own and
    retries resolve to the same order. At the exchange a client order id is prefixed with the
    key id (`{key[:8]}-{id}`): two keys using the same id get two orders, and one key can
    never look up, or cancel, another key's order."""

    mode = "live"

    def __init__(self, router: Any, redis: Redis, prefix: str = "execsvc") -> None:
        self.router = router
        self.redis = redis
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:live:{key}:orders"

    async def _load(self, key: str, client_id: str) -> Order | None:
        """The order as the exchange knows it (prefixed client id)."""
        raw = await self.redis.hget(self._key(key), client_id)
        return None if raw is None else _order_from_json(orjson.loads(raw))

    async def _save(self, key: str, client_id: str, order: Order) -> None:
        await self.redis.hset(self._key(key), client_id, orjson.dumps(asdict(order)))

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
        if not _same(order.request, request):
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
        return [position_json(p, mark, pnl) for p, mark, pnl in marked]

    async def account(self, key: str) -> dict[str, Any]:
        return await self.router.balance()


def _order_from_json(data: dict[str, Any]) -> Order:
    from execsvc.orders.model import Fill

    request = OrderRequest(**data.pop("request"))
    fills = tuple(Fill(**f) for f in data.pop("fills"))
    return Order(request=request, fills=fills, **data)
