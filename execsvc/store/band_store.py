"""`BandStore`: the cached maps in Redis, their versions, worker status and update notices.

Keys (prefix `execsvc`):
- `map:{exchange}:{symbol}:{window}`: hash `doc` (JSON), `version`, `computed_at_ms` and the
  document's `data_lag_s` / `candle_interval_s` (so freshness is read without the document);
  with a TTL.
- `mapver:{exchange}:{symbol}:{window}`: the version counter (no TTL, so versions only grow).
- `book:{exchange}:{symbol}`: hash `doc` (JSON order book) and `version`; with the same TTL.
- `last:{exchange}:{symbol}`: hash `price` (quote per base: the book's mid, else the source's
  mark) and `at_ms`, rewritten by every refresh and never expired, so marks, paper
  liquidations and closing orders go on from the last price once maps and books have expired.
- `history:{exchange}:{symbol}:{window}`: stream of compact snapshots (one per new candle),
  at most `HISTORY_LENGTH`, for the heatmap over time.
- `status:{exchange}:{symbol}`: hash of the worker's last success / failure for a symbol.
- `workers`: sorted set of worker ids scored by heartbeat expiry (ms).
- `symbols`: hash symbol -> JSON `{exchange, quote_currency, has_open_interest}`.
- channel `maps`: one JSON notice per map update.

All of a symbol's refresh is one Lua script call (`PUT_REFRESH_SCRIPT`): its book (version,
hash, TTL), each map (bump the version, write the hash, set the TTL, publish the notice), the
history snapshots and the status, atomically, so a reader never sees a document without its
version. The worker sends many symbols' calls in one pipeline (`write_refreshes`): one round
trip and one reply per symbol. What `/readyz` and the store gauges read (every map's freshness,
every symbol's status, the live workers) is one script call too (`health_reads`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from execsvc.domain.book import OrderBook
from execsvc.domain.map_document import (
    EncodedDocument,
    Freshness,
    HistorySnapshot,
    MapDocument,
    MapSummary,
    StaleReason,
    freshness_fields,
    map_summary,
    stale_reason,
)
from execsvc.store.errors import STORE_ERRORS, StoreUnavailable, store_call

PUT_REFRESH_SCRIPT = """
-- KEYS: status, book, last price, then (map, map version) per map, then one history stream
--       per snapshot.
-- ARGV: ttl_ms, channel, history length, success_ms or '', book JSON or '', map count,
--       last price or '', its time (ms),
--       then (document, computed_at_ms, notice, data_lag_s, candle_interval_s) per map,
--       then one snapshot per history stream.
local ttl, channel, history_length = ARGV[1], ARGV[2], ARGV[3]
local versions = {0}
if ARGV[5] ~= '' then
  versions[1] = redis.call('HINCRBY', KEYS[2], 'version', 1)
  redis.call('HSET', KEYS[2], 'doc', ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[3], 'price', ARGV[7], 'at_ms', ARGV[8])
end
local k, a = 4, 9
for i = 1, tonumber(ARGV[6]) do
  local version = redis.call('INCR', KEYS[k + 1])
  redis.call('HSET', KEYS[k], 'doc', ARGV[a], 'version', version, 'computed_at_ms', ARGV[a + 1],
             'data_lag_s', ARGV[a + 3], 'candle_interval_s', ARGV[a + 4])
  redis.call('PEXPIRE', KEYS[k], ttl)
  redis.call('PUBLISH', channel, '{"version":' .. version .. ',' .. string.sub(ARGV[a + 2], 2))
  versions[i + 1] = version
  k, a = k + 2, a + 5
end
while k <= #KEYS do
  redis.call('XADD', KEYS[k], 'MAXLEN', history_length, '*', 'snap', ARGV[a])
  k, a = k + 1, a + 1
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'last_success_ms', ARGV[4], 'consecutive_failures', 0)
end
return versions
"""

HEALTH_READS_SCRIPT = """
-- KEYS: one map hash per map, then one status hash per symbol, then the workers' sorted set.
-- ARGV: the number of maps, now (ms), then the map fields to read.
-- Returns the fields of each map, each status hash (flat), the live workers.
local maps, answer = tonumber(ARGV[1]), {}
local fields = {unpack(ARGV, 3)}
for i = 1, maps do
  answer[i] = redis.call('HMGET', KEYS[i], unpack(fields))
end
for i = maps + 1, #KEYS - 1 do
  answer[i] = redis.call('HGETALL', KEYS[i])
end
answer[#KEYS] = redis.call('ZRANGEBYSCORE', KEYS[#KEYS], ARGV[2], '+inf')
return answer
"""

PIPELINE_BYTES = 4 << 20
"""About how much one pipelined round trip of `write_refreshes` carries. Larger ones cost more
CPU than they save: asyncio joins what it sends and buffers again what the socket does not
take at once (1,000 symbols' maps and books, 350 MB, took 0.6 s of CPU in 17 MB round trips
and 0.2 s in 3.5 MB ones)."""

HISTORY_LENGTH = 288
"""Map snapshots kept per (exchange, symbol, window) for the heatmap over time."""



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

    def fields(self, max_map_age_s: float, now_ms: float | None = None) -> Freshness:
        """The freshness fields a served map carries."""
        now = time.time() * 1000.0 if now_ms is None else now_ms
        return freshness_fields(self.version, self.computed_at_ms, now, self.data_lag_s,
                                self.candle_interval_s, max_map_age_s)


_FRESHNESS_FIELDS = ("version", "computed_at_ms", "data_lag_s", "candle_interval_s")


def _freshness(version: bytes | None, computed: bytes | None, lag: bytes | None,
               interval: bytes | None) -> MapFreshness | None:
    if version is None or computed is None:
        return None
    return MapFreshness(int(version), int(computed), float(lag) if lag else None,
                        float(interval or 0.0))


@dataclass(frozen=True, slots=True)
class HealthReads:
    """What readiness and the store gauges read, in one round trip (`BandStore.health_reads`):
    the freshness of each map asked for (None: no map), the status hash of each symbol asked
    for (as `BandStore.status` gives it) and the live workers (as `live_workers`)."""

    freshness: dict[tuple[str, str, str], MapFreshness | None]
    status: dict[tuple[str, str], dict[str, str]]
    live_workers: list[str]


@dataclass(frozen=True, slots=True)
class SymbolWrites:
    """What one symbol's refresh stores: its map `documents` (with the time they were computed,
    epoch ms, now if None), the order book (JSON bytes, or None to leave the stored one), the
    documents whose snapshot joins the history, the time (ms) of the success to record, and
    the symbol's last price (quote per base; None to leave the stored one)."""

    exchange: str
    symbol: str
    documents: Sequence[EncodedDocument | MapDocument] = ()
    book_json: bytes | None = None
    history: Sequence[EncodedDocument] = ()
    success_ms: int | None = None
    computed_at_ms: int | None = None
    last_price: float | None = None


def payload_bytes(write: SymbolWrites) -> int:
    """The bytes of documents and book in `write` (what dominates its size)."""
    return len(write.book_json or b"") + sum(
        len(d.json) if isinstance(d, EncodedDocument) else 0 for d in write.documents)


@dataclass(frozen=True, slots=True)
class LastPrice:
    """The last price the worker saw for a symbol (quote per base) and when (epoch ms)."""

    price: float
    at_ms: int

    def age_s(self, now_ms: float | None = None) -> float:
        now = time.time() * 1000.0 if now_ms is None else now_ms
        return max(0.0, (now - self.at_ms) / 1000.0)


class BandStore:
    def __init__(self, redis: Redis, *, ttl_s: float = 120.0, prefix: str = "execsvc") -> None:
        self.redis = redis
        self.ttl_ms = int(ttl_s * 1000)
        self.prefix = prefix
        self.channel = f"{prefix}:maps"
        self._put_refresh = redis.register_script(PUT_REFRESH_SCRIPT)
        self._health_reads = redis.register_script(HEALTH_READS_SCRIPT)

    def _key(self, kind: str, *parts: str) -> str:
        return ":".join((self.prefix, kind, *parts))

    async def ping(self) -> None:
        await self._call(self.redis.ping())

    async def put_map(
        self, document: MapDocument | EncodedDocument, summary: MapSummary | None = None,
        computed_at_ms: int | None = None,
    ) -> int:
        """Store one map document (a dict, or encoded); returns its new version. The notice
        carries `summary` (by default the document's own, `map_summary`)."""
        head = document.head if isinstance(document, EncodedDocument) else document
        write = SymbolWrites(head["exchange"], head["symbol"], [document],
                             computed_at_ms=computed_at_ms)
        versions = await self._call(self._queue(self.redis, write, [summary]))
        return int(versions[1])

    async def write_refreshes(self, writes: Sequence[SymbolWrites]
                              ) -> dict[tuple[str, str], str]:
        """Store many symbols' refreshes, one script call each (a symbol's maps, book,
        history and status change together), pipelined in round trips of about
        `PIPELINE_BYTES`; returns the reason for each (exchange, symbol) whose writes failed.
        Raises StoreUnavailable when Redis cannot be reached at all."""
        failed: dict[tuple[str, str], str] = {}
        start, size = 0, 0
        for end, write in enumerate(writes, start=1):
            size += payload_bytes(write)
            if size >= PIPELINE_BYTES or end == len(writes):
                failed.update(await self._write_pipelined(writes[start:end]))
                start, size = end, 0
        return failed

    async def _write_pipelined(self, writes: Sequence[SymbolWrites]
                               ) -> dict[tuple[str, str], str]:
        pipe = self.redis.pipeline(transaction=False)
        for write in writes:
            await self._queue(pipe, write)
        results = await self._call(pipe.execute(raise_on_error=False))
        return {(write.exchange, write.symbol): f"redis error: {result}"
                for write, result in zip(writes, results, strict=True)
                if isinstance(result, Exception)}

    def _queue(self, client: Redis | Pipeline, write: SymbolWrites,
               summaries: Sequence[MapSummary | None] = ()) -> Any:
        """The refresh script call for `write` on `client` (awaited: the versions, book's
        first, or the pipeline it was queued on)."""
        computed = int(time.time() * 1000) if write.computed_at_ms is None else (
            write.computed_at_ms)
        keys = [self._key("status", write.exchange, write.symbol),
                self._key("book", write.exchange, write.symbol),
                self._key("last", write.exchange, write.symbol)]
        args: list[Any] = [self.ttl_ms, self.channel, HISTORY_LENGTH,
                           "" if write.success_ms is None else write.success_ms,
                           write.book_json or "", len(write.documents),
                           "" if write.last_price is None else repr(float(write.last_price)),
                           computed]
        for index, document in enumerate(write.documents):
            if isinstance(document, EncodedDocument):
                head, text = document.head, document.json
            else:
                head, text = document, orjson.dumps(document)
            summary = summaries[index] if index < len(summaries) else None
            ident = (write.exchange, write.symbol, head["window"])
            keys += [self._key("map", *ident), self._key("mapver", *ident)]
            stats = head.get("stats") or {}
            lag = stats.get("data_lag_s")
            notice = {**(map_summary(head) if summary is None else summary),
                      "computed_at_ms": computed}
            args += [text, computed, orjson.dumps(notice), "" if lag is None else lag,
                     stats.get("candle_interval_s", 0.0)]
        for document in write.history:
            keys.append(self._key("history", write.exchange, write.symbol,
                                  document.head["window"]))
            args.append(orjson.dumps(document.history))
        return self._put_refresh(keys=keys, args=args, client=client)

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
        return _freshness(*await self._call(self.redis.hmget(key, *_FRESHNESS_FIELDS)))

    async def map_json(self, exchange: str, symbol: str, window: str
                       ) -> tuple[bytes, MapFreshness] | None:
        """A stored map's document as stored (JSON bytes, not parsed) and its freshness, read
        together, or None."""
        key = self._key("map", exchange, symbol, window)
        doc, *fields = await self._call(self.redis.hmget(key, "doc", *_FRESHNESS_FIELDS))
        fresh = _freshness(*fields)
        return None if doc is None or fresh is None else (doc, fresh)

    async def last_price(self, exchange: str, symbol: str) -> LastPrice | None:
        price, at = await self._call(self.redis.hmget(self._key("last", exchange, symbol),
                                                      "price", "at_ms"))
        return None if price is None or at is None else LastPrice(float(price), int(at))

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
        scored by expiry in ms). Every heartbeat drops the expired members, and the set itself
        expires with its last member, so a killed worker vanishes from the registry."""
        now_ms = int(time.time() * 1000)
        ttl_ms = int(ttl_s * 1000)
        key = self._key("workers")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {worker_id: now_ms + ttl_ms})
            pipe.zremrangebyscore(key, "-inf", now_ms)
            pipe.pexpire(key, ttl_ms, gt=True)
            pipe.pexpire(key, ttl_ms, nx=True)
            await self._call(pipe.execute())

    async def leave(self, worker_id: str) -> None:
        """Remove `worker_id` from the registry (a clean stop: its symbols move at once)."""
        await self._call(self.redis.zrem(self._key("workers"), worker_id))

    async def live_workers(self) -> list[str]:
        """Workers whose last heartbeat has not expired (one small read, no key scan)."""
        now_ms = int(time.time() * 1000)
        members = await self._call(self.redis.zrangebyscore(self._key("workers"), now_ms, "+inf"))
        return sorted(m.decode() for m in members)

    async def health_reads(self, maps: Sequence[tuple[str, str, str]],
                           symbols: Sequence[tuple[str, str]]) -> HealthReads:
        """The freshness of each (exchange, symbol, window) of `maps`, the status of each
        (exchange, symbol) of `symbols` and the live workers: one script call
        (`HEALTH_READS_SCRIPT`), one round trip whatever the number of symbols and windows.
        `StoreUnavailable` when Redis cannot be reached or any of the reads fails (as each of
        the single reads would raise)."""
        keys = [*(self._key("map", *ident) for ident in maps),
                *(self._key("status", *ident) for ident in symbols), self._key("workers")]
        answer = await self._call(self._health_reads(
            keys=keys, args=[len(maps), int(time.time() * 1000), *_FRESHNESS_FIELDS]))
        fields, statuses, workers = answer[: len(maps)], answer[len(maps) : -1], answer[-1]
        return HealthReads(
            freshness={ident: _freshness(*values) for ident, values in zip(maps, fields,
                                                                            strict=True)},
            status={ident: {flat[i].decode(): flat[i + 1].decode()
                            for i in range(0, len(flat), 2)}
                    for ident, flat in zip(symbols, statuses, strict=True)},
            live_workers=sorted(m.decode() for m in workers),
        )

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


__all__ = ["STORE_ERRORS", "BandStore", "HealthReads", "LastPrice", "MapFreshness",
           "StoreUnavailable", "StoredMap", "store_call"]
