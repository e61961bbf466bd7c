"""`LiveVenue`: the `OrderVenue` of live trading (`TRADING_MODE=live`), over `LiveRouter`.

Exactly once. Before anything is sent, the request reserves its `client_order_id` in Redis
(`LiveOrderRecords.reserve`: one atomic script; the record is pending, names this attempt and
its deadline). Only the request that made the reservation sends; it records the order when the
exchange answers. Every other request with that id (a concurrent copy, a client's retry, a
retry after the service died between the exchange's answer and the record) finds the record:

- done: the recorded order is the answer (a different body under the id is `DuplicateOrder`);
- pending: it waits for the record to be done. A reservation older than `early_lookup_s` (its
  owner may have died after sending) is looked up at the exchange by client order id once: an
  order found there is the answer, and nothing is sent. Once the owner's deadline plus the
  router's `settle_s` has passed, no send of the owner can still be accepted, so an order the
  exchange does not hold then never will be: the waiter takes the reservation over (compare
  and set, so only one does) and sends itself.

Each request has one overall deadline (`timeout_s`, `EXECSVC_LIVE_REQUEST_TIMEOUT_S`): past it
the answer is `OrderStateUnknownError` (504) and nothing more is sent; a retry with the same id
resolves the order as above.

Each API key trades on its own exchange account (`routers`: key id -> `LiveRouter`; the
settings refuse several keys on one account), and at the exchange its client order ids carry
the key's prefix (`{key[:8]}-{id}`), so one key can never look up, cancel or see another
key's orders, positions or balance.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from execsvc.domain.orders import (
    DuplicateOrder,
    Order,
    OrderRequest,
    Position,
    marked_position_json,
    request_digest,
)
from execsvc.venues.errors import LiveRoutingError, OrderStateUnknownError
from execsvc.venues.live_records import LiveOrderRecords, LiveRecord, pending_record

if TYPE_CHECKING:  # ccxt loads with the router, built only in live mode
    from execsvc.venues.live_router import LiveRouter

LIVE_PREFIX_CHARS = 8
MAX_LIVE_CLIENT_ID = 36 - LIVE_PREFIX_CHARS - 1
"""Binance allows 36 characters; the key's prefix and a dash take the rest."""
POLL_S = 0.05
PROCESS = f"{socket.gethostname()}-{os.getpid()}"


class LiveVenue:
    mode = "live"

    def __init__(self, routers: LiveRouter | Mapping[str, LiveRouter], redis: Redis,
                 prefix: str = "execsvc", *, timeout_s: float = 30.0,
                 early_lookup_s: float = 2.0) -> None:
        self.routers = routers
        self.records = LiveOrderRecords(redis, prefix)
        self.timeout_s = timeout_s
        self.early_lookup_s = early_lookup_s

    def router(self, key: str) -> LiveRouter:
        """The router of the key's exchange account."""
        if not isinstance(self.routers, Mapping):
            return self.routers
        try:
            return self.routers[key]
        except KeyError:
            raise LiveRoutingError("this API key has no exchange account "
                                   "(EXECSVC_LIVE_ACCOUNTS)") from None

    @staticmethod
    def _at_exchange(key: str, request: OrderRequest) -> OrderRequest:
        prefixed = f"{key[:LIVE_PREFIX_CHARS]}-{request.client_order_id}"
        return replace(request, client_order_id=prefixed)

    @staticmethod
    def _for_client(order: Order) -> Order:
        client_id = order.request.client_order_id.split("-", 1)[1]
        return replace(order, id=client_id,
                       request=replace(order.request, client_order_id=client_id))

    def _answer(self, record: LiveRecord, request: OrderRequest) -> Order | None:
        """The recorded order for `request` (None while pending); DuplicateOrder when the id
        went to another request."""
        if record.digest != request_digest(request):
            raise DuplicateOrder(request.client_order_id,
                                 request.client_order_id if record.order else None)
        return None if record.order is None else self._for_client(record.order)

    async def existing(self, key: str, request: OrderRequest) -> Order | None:
        record = await self.records.load(key, request.client_order_id)
        return None if record is None else self._answer(record, request)

    async def submit(self, key: str, request: OrderRequest) -> Order:
        if len(request.client_order_id) > MAX_LIVE_CLIENT_ID:
            raise ValueError(f"client_order_id may have at most {MAX_LIVE_CLIENT_ID} characters "
                             "in live mode")
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._place_once(key, request)
        except TimeoutError as exc:
            raise OrderStateUnknownError(
                f"order {request.client_order_id} is not settled within {self.timeout_s:g} s; "
                "retry with the same client_order_id: the order is looked up at the exchange "
                "before anything is sent again") from exc

    async def _place_once(self, key: str, request: OrderRequest) -> Order:
        cid = request.client_order_id
        digest = request_digest(request)
        deadline_ms = int((time.time() + self.timeout_s) * 1000)
        mine = pending_record(digest, f"{PROCESS}-{uuid.uuid4().hex[:8]}", deadline_ms)
        found = await self.records.reserve(key, cid, mine)
        if found is not None:
            answer = self._answer(found, request)
            if answer is not None:
                return answer
            resolved = await self._resolve(key, request, found, mine)
            if resolved is not None:
                return resolved
        router = self.router(key)
        try:  # `submit`'s timeout (this request's deadline) also bounds the router
            order = await router.submit(self._at_exchange(key, request))
        except OrderStateUnknownError:
            raise  # the reservation stays: a retry looks the order up
        except LiveRoutingError:
            await self.records.release(key, cid, mine)  # nothing was placed
            raise
        return self._for_client(await self.records.settle(key, cid, digest, order))

    async def _resolve(self, key: str, request: OrderRequest, pending: LiveRecord,
                       mine: bytes) -> Order | None:
        """Wait for another attempt's reservation (see the module doc): its order, or None once
        this request holds the reservation and must send."""
        cid = request.client_order_id
        router = self.router(key)
        looked_up = False
        while True:
            now_ms = time.time() * 1000
            expired = now_ms >= pending.deadline_ms + router.settle_s * 1000
            if expired or (not looked_up and
                           now_ms - pending.started_ms >= self.early_lookup_s * 1000):
                looked_up = True
                order = await router.find(self._at_exchange(key, request))
                if order is not None:
                    settled = await self.records.settle(key, cid, pending.digest, order)
                    return self._for_client(settled)
                if expired and await self.records.take_over(key, cid, pending, mine):
                    return None
            await asyncio.sleep(POLL_S)
            record = await self.records.load(key, cid)
            if record is None:
                if await self.records.reserve(key, cid, mine) is None:
                    return None
                continue
            answer = self._answer(record, request)
            if answer is not None:
                return answer
            if record.raw != pending.raw:  # another waiter took it over: wait for that one
                pending, looked_up = record, False

    async def get(self, key: str, order_id: str) -> Order | None:
        record = await self.records.load(key, order_id)
        if record is None or record.order is None:
            return None
        order = record.order
        if order.is_open:
            order = await self.router(key).fetch(order)
            await self.records.update(key, order_id, record.digest, order)
        return self._for_client(order)

    async def cancel(self, key: str, order_id: str) -> Order | None:
        record = await self.records.load(key, order_id)
        if record is None or record.order is None:
            return None
        order = await self.router(key).cancel(record.order)
        await self.records.update(key, order_id, record.digest, order)
        return self._for_client(order)

    async def position(self, key: str, symbol: str) -> Position | None:
        positions = await self.router(key).positions()
        return next((p for p in positions if p.symbol == symbol), None)

    async def positions(self, key: str) -> list[dict[str, Any]]:
        marked = await self.router(key).marked_positions()
        return [marked_position_json(p, mark, pnl) for p, mark, pnl in marked]

    async def account(self, key: str) -> dict[str, Any]:
        return await self.router(key).balance()

    async def run(self, stop: asyncio.Event) -> None:
        """Nothing runs in the background: the exchange fills and liquidates."""
        await stop.wait()

    async def close(self) -> None:
        routers = list(self.routers.values()) if isinstance(self.routers, Mapping) else [
            self.routers]
        for router in {id(r): r for r in routers}.values():
            await router.close()
