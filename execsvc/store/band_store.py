"""`BandStore`: the cached maps in Redis, their versions, worker status and update notices.

Keys (prefix `execsvc`):
- `map:{exchange}:{symbol}:{window}`: hash `doc` (JSON), `version`, `computed_at_ms` and the
  document's `data_lag_s` / `candle_interval_s` (so freshness is read without the document);
  with a TTL.
- `mapver:{exchange}:{symbol}:{window}`: the version counter (no TTL, so versions only grow).
- `book:{exchange}:{symbol}`: hash `doc` (JSON order book) and `version`; with the same TTL.
- `history:{exchange}:{symbol}:{window}`: stream of compact snapshots (one per new candle),
  at most `HISTORY_LENGTH`, for the heatmap over time.
- `status:{exchange}:{symbol}`: hash of the worker's last success / failure for a symbol.
- `workers`: sorted set of worker ids scored by heartbeat expiry (ms).
- `symbols`: hash symbol -> JSON `{exchange, quote_currency, has_open_interest}`.
- channel `maps`: one JSON notice per map update.

A map write is one Lua script: bump the version, write the hash, set the TTL and publish the
notice, all atomically, so a reader never sees a document without its version.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from execsvc.domain.book import OrderBook
from execsvc.domain.map_document import (
    HistorySnapshot,
    MapDocument,
    MapSummary,
    StaleReason,
    stale_reason,
)

PUT_MAP_SCRIPT = """
local version = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'version', version, 'computed_at_ms', ARGV[2],
           'data_lag_s', ARGV[6], 'candle_interval_s', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], '{"version":' .. version .. ',' .. string.sub(ARGV[5], 2))
return version
"""

HISTORY_LENGTH = 288
"""Map snapshots kept per (exchange, symbol, window) for the heatmap over time."""

STORE_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class StoreUnavailable(RuntimeError):
    """Redis could not be reached or answered with an error; `str()` is the reason."""


@dataclass(frozen=True, slots=True)
class StoredMap:
    document: MapDocument
    version: int
    computed_at_ms: int

    def age_s(self, now_ms: float | None = None) -> float:
        now = time.time() * 1000.0 if now_ms is None else now_ms
        return max(0.0, (now - self.computed_at_ms) / 1000.0)


@dataclass(frozen=True, slots=True)
class MapFreshness:
    """What `map_freshness` reads of a stored map: enough for `stale_reason`."""

    version: int
    computed_at_ms: int
    data_lag_s: float | None
    candle_interval_s: float

    def age_s(self, now_ms: float | None = None) -> float:
        now = time.time() * 1000.0 if now_ms is None else now_ms
        return max(0.0, (now - self.computed_at_ms) / 1000.0)

    def stale_reason(self, max_map_age_s: float, now_ms: float | None = None
                     ) -> StaleReason | None:
        return stale_reason(self.age_s(now_ms), self.data_lag_s, self.candle_interval_s,
                            max_map_age_s)


class BandStore:
    def __init__(self, redis: Redis, *, ttl_s: float = 120.0, prefix: str = "execsvc") -> None:
        self.redis = redis
        self.ttl_ms = int(ttl_s * 1000)
        self.prefix = prefix
        self.channel = f"{prefix}:maps"
        self._put_map = redis.register_script(PUT_MAP_SCRIPT)

    def _key(self, kind: str, *parts: str) -> str:
        return ":".join((self.prefix, kind, *parts))

    async def ping(self) -> None:
        await self._call(self.redis.ping())

    async def put_map(
        self, document: MapDocument, summary: MapSummary, computed_at_ms: int | None = None
    ) -> int:
        """Store a map document; returns its new version. `summary` goes into the notice."""
        ident = (document["exchange"], document["symbol"], document["window"])
        computed = int(time.time() * 1000) if computed_at_ms is None else computed_at_ms
        notice = {**summary, "computed_at_ms": computed}
        stats = document.get("stats") or {}
        lag = stats.get("data_lag_s")
        version = await self._call(
            self._put_map(
                keys=[self._key("map", *ident), self._key("mapver", *ident)],
                args=[orjson.dumps(document), computed, self.ttl_ms, self.channel,
                      orjson.dumps(notice), "" if lag is None else lag,
                      stats.get("candle_interval_s", 0.0)],
            )
        )
        return int(version)

    async def get_map(self, exchange: str, symbol: str, window: str) -> StoredMap | None:
        raw = await self._call(self.redis.hgetall(self._key("map", exchange, symbol, window)))
        if not raw or b"doc" not in raw:
            return None
        return StoredMap(
            document=orjson.loads(raw[b"doc"]),
            version=int(raw[b"version"]),
            computed_at_ms=int(raw[b"computed_at_ms"]),
        )

    async def map_freshness(self, exchange: str, symbol: str, window: str) -> MapFreshness | None:
        """Version, time and data lag of a stored map without reading the document, or None."""
        key = self._key("map", exchange, symbol, window)
        version, computed, lag, interval = await self._call(
            self.redis.hmget(key, "version", "computed_at_ms", "data_lag_s", "candle_interval_s")
        )
        if version is None or computed is None:
            return None
        return MapFreshness(int(version), int(computed), float(lag) if lag else None,
                            float(interval or 0.0))

    async def put_book(self, exchange: str, symbol: str, book: OrderBook) -> int:
        """Store the latest order book of a symbol; returns its version."""
        key = self._key("book", exchange, symbol)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "version", 1)
            pipe.hset(key, "doc", orjson.dumps(book.to_json()))
            pipe.pexpire(key, self.ttl_ms)
            version, *_ = await self._call(pipe.execute())
        return int(version)

    async def book_version(self, exchange: str, symbol: str) -> int | None:
        version = await self._call(self.redis.hget(self._key("book", exchange, symbol), "version"))
        return None if version is None else int(version)

    async def get_book(self, exchange: str, symbol: str) -> OrderBook | None:
        """The latest stored book with its `version`, or None."""
        key = self._key("book", exchange, symbol)
        version, doc = await self._call(self.redis.hmget(key, "version", "doc"))
        if version is None or doc is None:
            return None
        return OrderBook.from_json(orjson.loads(doc), version=int(version))

    async def append_history(
        self, exchange: str, symbol: str, window: str, snapshot: HistorySnapshot,
        max_len: int = HISTORY_LENGTH,
    ) -> None:
        """Append a compact map snapshot to the bounded history (a stream, oldest trimmed)."""
        key = self._key("history", exchange, symbol, window)
        await self._call(self.redis.xadd(
            key, {"snap": orjson.dumps(snapshot)}, maxlen=max_len, approximate=False
        ))

    async def history(
        self, exchange: str, symbol: str, window: str, count: int = HISTORY_LENGTH
    ) -> list[HistorySnapshot]:
        """Up to `count` newest snapshots, oldest first."""
        key = self._key("history", exchange, symbol, window)
        entries = await self._call(self.redis.xrevrange(key, count=count))
        return [orjson.loads(fields[b"snap"]) for _, fields in reversed(entries)]

    async def register_symbols(self, registry: dict[str, dict[str, Any]]) -> None:
        if registry:
            mapping = {symbol: orjson.dumps(info) for symbol, info in registry.items()}
            await self._call(self.redis.hset(self._key("symbols"), mapping=mapping))

    async def symbol_registry(self) -> dict[str, dict[str, Any]]:
        raw = await self._call(self.redis.hgetall(self._key("symbols")))
        return {k.decode(): orjson.loads(v) for k, v in raw.items()}

    async def record_success(self, exchange: str, symbol: str, now_ms: int) -> None:
        key = self._key("status", exchange, symbol)
        await self._call(
            self.redis.hset(key, mapping={"last_success_ms": now_ms, "consecutive_failures": 0})
        )

    async def record_failure(self, exchange: str, symbol: str, reason: str, now_ms: int) -> int:
        """Count a failure; returns the number of consecutive failures."""
        key = self._key("status", exchange, symbol)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "consecutive_failures", 1)
            pipe.hincrby(key, "failures_total", 1)
            pipe.hset(key, mapping={"last_error": reason[:500], "last_error_ms": now_ms})
            consecutive, *_ = await self._call(pipe.execute())
        return int(consecutive)

    async def status(self, exchange: str, symbol: str) -> dict[str, str]:
        raw = await self._call(self.redis.hgetall(self._key("status", exchange, symbol)))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def heartbeat(self, worker_id: str, ttl_s: float) -> None:
        """Record that `worker_id` is alive until `ttl_s` from now (sorted set `workers`,
        scored by expiry in ms; expired members are dropped on the next heartbeat)."""
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._key("workers"), {worker_id: now_ms + int(ttl_s * 1000)})
            pipe.zremrangebyscore(self._key("workers"), "-inf", now_ms)
            await self._call(pipe.execute())

    async def live_workers(self) -> list[str]:
        """Workers whose last heartbeat has not expired (one small read, no key scan)."""
        now_ms = int(time.time() * 1000)
        members = await self._call(self.redis.zrangebyscore(self._key("workers"), now_ms, "+inf"))
        return sorted(m.decode() for m in members)

    async def notices(self) -> AsyncIterator[dict[str, Any]]:
        """Map update notices as they are published (until the consumer stops iterating)."""
        pubsub = self.redis.pubsub()
        await self._call(pubsub.subscribe(self.channel))
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield orjson.loads(message["data"])
        finally:
            await pubsub.unsubscribe(self.channel)
            await pubsub.aclose()

    @staticmethod
    async def _call(awaitable: Any) -> Any:
        return await store_call(awaitable)


async def store_call(awaitable: Any) -> Any:
    """Await a Redis call; any Redis fault becomes `StoreUnavailable` with the reason."""
    try:
        return await awaitable
    except STORE_ERRORS as exc:
        raise StoreUnavailable(f"redis unreachable: {exc}") from exc
    except redis_errors.RedisError as exc:
        raise StoreUnavailable(f"redis error: {exc}") from exc
