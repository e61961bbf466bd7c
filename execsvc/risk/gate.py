"""The stateful side of risk: per-key order rate, `client_order_id` uniqueness and the audit
stream, in Redis. `RiskGate.check` serves `/risk/check` (reads only, places nothing);
`RiskGate.admit` serves `/orders` (counts the order, claims its id).

API keys appear only as their key id (`execsvc.api.auth.key_id`: a short SHA-256 prefix), never
in clear. Keys (prefix `execsvc`):
- `risk:rate:{key_id}:{minute}`: orders counted in one fixed UTC minute (`epoch_s // 60`);
  INCR and PEXPIRE in one MULTI, expiring two minutes after creation.
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

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from redis.asyncio import Redis

from execsvc.domain.orders import OrderRequest
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

    async def _call(self, awaitable: Awaitable[T]) -> T:
        return await store_call(awaitable)

    def _rate_key(self, key_id: str) -> str:
        return f"{self.prefix}:risk:rate:{key_id}:{int(self.clock() // WINDOW_S)}"

    def _coid_key(self, key_id: str, client_order_id: str) -> str:
        return f"{self.prefix}:risk:coid:{key_id}:{client_order_id}"

    # ---- rate -----------------------------------------------------------------------------

    async def orders_this_minute(self, key_id: str) -> int:
        """Orders counted for the key in the current minute (a read; counts nothing)."""
        value = await self._call(self.redis.get(self._rate_key(key_id)))
        return int(value or 0)

    async def count_order(self, key_id: str) -> int:
        """Count one order for the key in the current minute; returns the count with it."""
        key = self._rate_key(key_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.pexpire(key, 2 * WINDOW_S * 1000)
            count, _ = await self._call(pipe.execute())
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
        """The decision for an order about to be placed. Every attempt counts toward the key's
        orders this minute (refused ones too, so hammering stays limited); the
        `client_order_id` is claimed for `request_id` (`domain.orders.request_digest`) only
        when the order is allowed, so a refused order may be corrected and sent again under the
        same id. A claim already held for the same `request_id` is a retry of this very order
        (e.g. after a store outage), not a duplicate. A refusal is audited here; an allowed
        order is audited by `placed` once the venue has given it its order id."""
        decision = evaluate(policy, order, context)
        coid = order.client_order_id
        count = await self.count_order(key_id)
        if count > policy.max_orders_per_minute:
            decision = decision.with_violations([rate_limited(count,
                                                              policy.max_orders_per_minute)])
        if decision.allowed:
            taken = (not await self.claim(key_id, coid, request_id)
                     and await self.order_id_for(key_id, coid) != request_id)
        else:
            taken = await self.order_id_for(key_id, coid) is not None
        if taken:
            decision = decision.with_violations([duplicate_order(coid)])
        if not decision.allowed:
            await self.record("order", key_id, order, decision)
        return decision

    async def placed(self, key_id: str, order: OrderRequest, decision: RiskDecision,
                     order_id: str | None) -> str:
        """Audit an allowed order with the order id the venue gave it (the id the API
        answers), or with none when the venue failed to take it."""
        return await self.record("order", key_id, order, decision, order_id=order_id)
