"""The stateful side of risk: per-key order rate, `client_order_id` uniqueness and the audit
stream, in Redis. `RiskGate.check` serves `/risk/check` (reads only, places nothing);
`RiskGate.admit` serves `/orders` (counts the order, claims its id).

API keys appear only as their key id (`execsvc.api.auth.key_id`: a short SHA-256 prefix), never
in clear. Keys (prefix `execsvc`):
- `risk:rate:{key_id}`: the key's admitted orders of the last 60 s, a sorted set scored by
  time (ms). The rate rule is a sliding window: at most `max_orders_per_minute` orders in
  any 60 s, checked and counted in one Lua script (a fixed UTC minute would let twice the limit
  through around a minute boundary). An order over the limit is not counted and raises
  `RateLimited` with the seconds until the oldest counted order leaves the window.
- `risk:coid:{key_id}:{client_order_id}`: the request (`request_digest`) an accepted
  `client_order_id` went to, written with SET NX and a TTL (`dedupe_ttl_s`, default 7 days).
- stream `audit`: one entry per decision (checks and orders), trimmed to about
  `audit_maxlen` (100,000) entries. Fields: `ts` (epoch ms), `kind` (`check`|`order`),
  `api_key_id`, `symbol`, `side`, `quantity`, `price`, `stop_price`, `client_order_id`,
  `order_id` (the id `POST /orders` answers; empty for checks, refusals and orders the venue
  failed to take), `allowed` (`true`|`false`), `max_quantity`, `codes`
  (comma-separated), `policy` and `policy_version`.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from redis.asyncio import Redis

from execsvc.domain.orders import DuplicateOrder, OrderRequest
from execsvc.risk.policy import Policy
from execsvc.risk.rules import (
    OrderLike,
    RiskContext,
    RiskDecision,
    duplicate_order,
    evaluate,
    rate_limited,
)
from execsvc.store.errors import store_call

ANONYMOUS = "anonymous"
WINDOW_S = 60
T = TypeVar("T")

RATE_SCRIPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, count, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, count + 1, 0}
"""


class RateLimited(Exception):
    """The key sent `limit` orders in the last 60 s; `retry_after_s` until the next fits."""

    def __init__(self, limit: int, retry_after_s: float) -> None:
        super().__init__(f"more than {limit} orders in 60 s from this API key; retry in "
                         f"{math.ceil(retry_after_s)} s")
        self.limit = limit
        self.retry_after_s = retry_after_s


class RiskGate:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "execsvc",
        dedupe_ttl_s: float = 7 * 86_400,
        audit_maxlen: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.audit_stream = f"{prefix}:audit"
        self.dedupe_ttl_ms = int(dedupe_ttl_s * 1000)
        self.audit_maxlen = audit_maxlen
        self.clock = clock
        self._rate = redis.register_script(RATE_SCRIPT)

    async def _call(self, awaitable: Awaitable[T]) -> T:
        return await store_call(awaitable)

    def _rate_key(self, key_id: str) -> str:
        return f"{self.prefix}:risk:rate:{key_id}"

    def _coid_key(self, key_id: str, client_order_id: str) -> str:
        return f"{self.prefix}:risk:coid:{key_id}:{client_order_id}"

    # ---- rate -----------------------------------------------------------------------------

    async def orders_this_minute(self, key_id: str) -> int:
        """Orders counted for the key in the last 60 s (a read; counts nothing)."""
        now_ms = self.clock() * 1000
        return int(await self._call(self.redis.zcount(
            self._rate_key(key_id), f"({now_ms - WINDOW_S * 1000}", "+inf")))

    async def count_order(self, key_id: str, limit: int) -> int:
        """Count one order for the key; returns the orders of the last 60 s with it. Raises
        `RateLimited` (counting nothing) when `limit` of them were already sent."""
        now_ms = self.clock() * 1000
        allowed, count, wait_ms = await self._call(self._rate(
            keys=[self._rate_key(key_id)],
            args=[now_ms, WINDOW_S * 1000, limit, f"{now_ms:.3f}-{uuid.uuid4().hex[:8]}"]))
        if not int(allowed):
            raise RateLimited(limit, max(float(wait_ms), 0.0) / 1000)
        return int(count)

    # ---- client order ids -----------------------------------------------------------------

    async def order_id_for(self, key_id: str, client_order_id: str) -> str | None:
        """The order id an accepted `client_order_id` of this key went to, or None."""
        value = await self._call(self.redis.get(self._coid_key(key_id, client_order_id)))
        return None if value is None else value.decode()

    async def claim(self, key_id: str, client_order_id: str, order_id: str) -> bool:
        """Reserve `client_order_id` for `order_id`; False when it was already taken."""
        key = self._coid_key(key_id, client_order_id)
        taken = await self._call(self.redis.set(key, order_id, nx=True, px=self.dedupe_ttl_ms))
        return bool(taken)

    # ---- audit ----------------------------------------------------------------------------

    async def record(
        self,
        kind: Literal["check", "order"],
        key_id: str,
        order: OrderLike,
        decision: RiskDecision,
        order_id: str | None = None,
    ) -> str:
        """Append one decision to the audit stream; returns the entry id."""
        fields: dict[Any, Any] = {
            "ts": int(self.clock() * 1000),
            "kind": kind,
            "api_key_id": key_id,
            "symbol": order.symbol,
            "side": order.side,
            "quantity": repr(float(order.quantity)),
            "price": "" if order.price is None else repr(float(order.price)),
            "stop_price": "" if order.stop_price is None else repr(float(order.stop_price)),
            "client_order_id": order.client_order_id or "",
            "order_id": order_id or "",
            "allowed": "true" if decision.allowed else "false",
            "max_quantity": repr(float(decision.max_quantity)),
            "codes": ",".join(decision.codes),
            "policy": decision.policy.name,
            "policy_version": str(decision.policy.version),
        }
        entry = await self._call(self.redis.xadd(
            self.audit_stream, fields, maxlen=self.audit_maxlen, approximate=True))
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    # ---- decisions ------------------------------------------------------------------------

    async def check(
        self,
        policy: Policy,
        order: OrderLike,
        context: RiskContext,
        key_id: str = ANONYMOUS,
    ) -> RiskDecision:
        """What `admit` would decide for the key's next order, without counting it or claiming
        its id; audited as a `check`. Anonymous checks skip the rate and id rules."""
        decision = evaluate(policy, order, context)
        extra = []
        if key_id != ANONYMOUS:
            upcoming = await self.orders_this_minute(key_id) + 1
            if upcoming > policy.max_orders_per_minute:
                extra.append(rate_limited(upcoming, policy.max_orders_per_minute))
            coid = order.client_order_id
            if coid and await self.order_id_for(key_id, coid) is not None:
                extra.append(duplicate_order(coid))
        decision = decision.with_violations(extra)
        await self.record("check", key_id, order, decision)
        return decision

    async def admit(
        self,
        policy: Policy,
        order: OrderRequest,
        context: RiskContext,
        key_id: str,
        request_id: str,
    ) -> RiskDecision:
        """The decision for an order about to be placed.

        The rate comes first: over `max_orders_per_minute` in 60 s raises `RateLimited`
        (audited, not counted). Every other attempt counts, refused ones too, so hammering stays
        limited. The `client_order_id` is claimed for `request_id`
        (`domain.orders.request_digest`) only when the order is allowed, so a refused order
        may be corrected and sent again under the same id; a claim already held for the same
        `request_id` is a retry of this very order (e.g. after a store outage, or a concurrent
        copy), and one held for another request raises `DuplicateOrder` (audited), however
        close together the two arrived. Other refusals are audited here; an allowed order is
        audited by `placed` once the venue has given it its order id."""
        coid = order.client_order_id
        limit = policy.max_orders_per_minute
        try:
            await self.count_order(key_id, limit)
        except RateLimited:
            await self.record("order", key_id, order, evaluate(policy, order, context)
                              .with_violations([rate_limited(limit + 1, limit)]))
            raise
        decision = evaluate(policy, order, context)
        if decision.allowed:
            claimed = await self.claim(key_id, coid, request_id)
            holder = None if claimed else await self.order_id_for(key_id, coid)
            if holder is not None and holder != request_id:
                await self.record("order", key_id, order,
                                  decision.with_violations([duplicate_order(coid)]))
                raise DuplicateOrder(coid, None)
        else:
            await self.record("order", key_id, order, decision)
        return decision

    async def placed(self, key_id: str, order: OrderRequest, decision: RiskDecision,
                     order_id: str | None) -> str:
        """Audit an allowed order with the order id the venue gave it (the id the API
        answers), or with none when the venue failed to take it."""
        return await self.record("order", key_id, order, decision, order_id=order_id)
