"""`LiveOrderRecords`: each API key's live orders in Redis, and the reservation that makes a
live order happen once.

Hash `live:{key}:orders` (prefix `execsvc`), client order id -> JSON record:
- pending `{"state": "pending", "digest", "owner", "started_ms", "deadline_ms"}`: one request
  reserved the id (atomically, before anything was sent) and may be sending it. `owner` names
  that attempt, `deadline_ms` (epoch ms) is when it gives up: it sends nothing after it.
- done `{"state": "done", "digest", "order"}`: the order as the exchange reported it.

`digest` (`domain.orders.request_digest`) names the exact request, so a different body under
the same id is told apart from a retry. Records of an older format (a bare order) read as
done. Nothing here talks to the exchange: `execsvc.venues.live.LiveVenue` runs the protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis.asyncio import Redis

from execsvc.domain.orders import Order, order_from_json, order_to_json, request_digest
from execsvc.store.errors import store_call

RESERVE_SCRIPT = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw then return raw end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return false
"""

# Replace the record only if it still is exactly `ARGV[2]` (compare and set).
REPLACE_SCRIPT = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
    return 1
end
return 0
"""

# Delete the record only if it still is exactly `ARGV[2]`.
RELEASE_SCRIPT = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

# Record the order unless one is recorded already (then that one is the answer).
SETTLE_SCRIPT = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw and string.find(raw, '"state":"done"', 1, true) then return raw end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
"""


@dataclass(frozen=True, slots=True)
class LiveRecord:
    """One stored record (`raw` is its exact stored text, for compare-and-set)."""

    state: Literal["pending", "done"]
    digest: str
    raw: bytes
    owner: str = ""
    started_ms: int = 0
    deadline_ms: int = 0
    order: Order | None = None


def parse_record(raw: bytes) -> LiveRecord:
    data: dict[str, Any] = orjson.loads(raw)
    if "state" not in data:  # a bare order, as earlier versions stored it
        order = order_from_json(data)
        return LiveRecord("done", request_digest(order.request), raw, order=order)
    if data["state"] == "done":
        return LiveRecord("done", data["digest"], raw, order=order_from_json(data["order"]))
    return LiveRecord("pending", data["digest"], raw, owner=data["owner"],
                      started_ms=int(data["started_ms"]), deadline_ms=int(data["deadline_ms"]))


def pending_record(digest: str, owner: str, deadline_ms: int) -> bytes:
    return orjson.dumps({"state": "pending", "digest": digest, "owner": owner,
                         "started_ms": int(time.time() * 1000), "deadline_ms": deadline_ms})


def done_record(digest: str, order: Order) -> bytes:
    return orjson.dumps({"state": "done", "digest": digest, "order": order_to_json(order)})


class LiveOrderRecords:
    def __init__(self, redis: Redis, prefix: str = "execsvc") -> None:
        self.redis = redis
        self.prefix = prefix
        self._reserve = redis.register_script(RESERVE_SCRIPT)
        self._replace = redis.register_script(REPLACE_SCRIPT)
        self._settle = redis.register_script(SETTLE_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:live:{key}:orders"

    async def load(self, key: str, client_id: str) -> LiveRecord | None:
        raw = await store_call(self.redis.hget(self._key(key), client_id))
        return None if raw is None else parse_record(raw)

    async def reserve(self, key: str, client_id: str, pending: bytes) -> LiveRecord | None:
        """Store `pending` for the id if it has no record (None: reserved); else the record."""
        raw = await store_call(self._reserve(keys=[self._key(key)], args=[client_id, pending]))
        return None if raw is None else parse_record(raw)

    async def take_over(self, key: str, client_id: str, stale: LiveRecord,
                        pending: bytes) -> bool:
        """Replace the expired reservation `stale` by ours; False if it changed meanwhile."""
        replaced = await store_call(self._replace(keys=[self._key(key)],
                                                  args=[client_id, stale.raw, pending]))
        return bool(replaced)

    async def release(self, key: str, client_id: str, pending: bytes) -> None:
        """Drop our reservation (nothing was placed), unless it changed meanwhile."""
        await store_call(self._release(keys=[self._key(key)], args=[client_id, pending]))

    async def settle(self, key: str, client_id: str, digest: str, order: Order) -> Order:
        """Record the order (unless one is recorded already); returns the recorded order."""
        raw = await store_call(self._settle(keys=[self._key(key)],
                                            args=[client_id, done_record(digest, order)]))
        record = parse_record(raw)
        assert record.order is not None
        return record.order

    async def update(self, key: str, client_id: str, digest: str, order: Order) -> None:
        """Store the order's newer state (fetch, cancel) over its done record."""
        await store_call(self.redis.hset(self._key(key), client_id, done_record(digest, order)))
