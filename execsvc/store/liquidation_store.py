"""`LiquidationStore`: realised liquidations in Redis, with their online score.

Keys (prefix `execsvc`):
- `liq:{exchange}:{symbol}`: stream, one entry per event (field `ev`: JSON of the event, the
  map it was scored against, its score, `received_ms`). Entry ids are the event time
  (`<ms>-<seq>`, raised to the previous entry's ms when an event arrives out of order), so a
  time range is an id range. Trimmed on every write to `max_per_symbol` entries and to the
  retention time.
- `liqids:{exchange}:{symbol}`: sorted set of event ids scored by event time (the duplicate
  check), trimmed to the same retention.
- `liqscore:{exchange}:{symbol}:{hour_ms}`: hash of additive score totals
  (`liqmap.online_score.ScoreTotals`) of the events of one UTC hour; expires after the
  scoring window.
- `liqfeed:{exchange}`: hash, the ingest's last `FeedStatus` (JSON) and `updated_ms`.
- `liqgaps:{exchange}`: sorted set of coverage gaps (JSON) scored by start time.

A write is one Lua script: drop the event if its id is known (or older than the retention),
else add it to the stream, the id set and its hour's score totals, and trim: a duplicate from
a reconnect or a second replica can never be half-written or counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import orjson
from redis.asyncio import Redis

from execsvc.domain.liquidations import LiquidationEvent
from execsvc.liqmap.online_score import ScoreTotals
from execsvc.market.liquidation_feed import FeedStatus, Gap
from execsvc.store.band_store import store_call

HOUR_MS = 3_600_000

ADD_SCRIPT = """
local event_ms = tonumber(ARGV[2])
if event_ms < tonumber(ARGV[5]) then return -1 end
if redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
local id_ms = ARGV[2]
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] then
  local last_ms = string.match(last[1][1], '^(%d+)')
  if tonumber(last_ms) > event_ms then id_ms = last_ms end
end
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], id_ms .. '-*', 'ev', ARGV[3])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[5])
for i = 7, #ARGV, 2 do
  redis.call('HINCRBYFLOAT', KEYS[3], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 1
"""

STORED, DUPLICATE, EXPIRED = 1, 0, -1
"""Outcomes of `add`: written, already known, older than the retention."""


class LiquidationStore:
    """`retention_s` and `max_per_symbol` bound each stream; `score_hours` is the rolling
    window of the online score. Redis faults raise `StoreUnavailable` (as `BandStore`)."""

    def __init__(
        self, redis: Redis, *, retention_s: float = 7 * 86_400, max_per_symbol: int = 100_000,
        score_hours: int = 24, prefix: str = "execsvc",
    ) -> None:
        self.redis = redis
        self.retention_ms = int(retention_s * 1000)
        self.max_per_symbol = max_per_symbol
        self.score_hours = score_hours
        self.prefix = prefix
        self._add = redis.register_script(ADD_SCRIPT)

    def _key(self, kind: str, *parts: str) -> str:
        return ":".join((self.prefix, kind, *parts))

    async def add(
        self, event: LiquidationEvent, details: dict[str, Any], totals: ScoreTotals,
        *, now_ms: int | None = None,
    ) -> int:
        """Store `event` with `details` (map reference, score, receive time) and add `totals`
        to its hour's score; returns `STORED`, `DUPLICATE` or `EXPIRED`."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        hour = event.time_ms // HOUR_MS * HOUR_MS
        increments = [x for name, value in totals.as_fields().items() if value
                      for x in (name, repr(value))]
        outcome = await store_call(self._add(
            keys=[self._key("liq", event.venue, event.symbol),
                  self._key("liqids", event.venue, event.symbol),
                  self._key("liqscore", event.venue, event.symbol, str(hour))],
            args=[event.event_id, event.time_ms,
                  orjson.dumps({**event.to_dict(), **details}), self.max_per_symbol,
                  now - self.retention_ms, (self.score_hours + 2) * HOUR_MS, *increments],
        ))
        return int(outcome)

    async def events(
        self, exchange: str, symbol: str, since_ms: int, until_ms: int, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Stored events with `since_ms <= time_ms <= until_ms`, oldest first, at most `limit`;
        and whether more matched. A page never ends inside a millisecond that has more
        events (unless that millisecond alone fills it), so `since = last time + 1` pages on
        without repeats."""
        key = self._key("liq", exchange, symbol)
        entries = await store_call(
            self.redis.xrange(key, min=str(since_ms), max=f"({until_ms + 1}", count=limit + 1))
        found = [orjson.loads(fields[b"ev"]) for _, fields in entries]
        found = [e for e in found if since_ms <= e["time_ms"] <= until_ms]
        if len(found) <= limit:
            return found, False
        page = found[:limit]
        boundary = found[limit]["time_ms"]
        whole = [e for e in page if e["time_ms"] != boundary]
        return (whole or page), True

    async def last_id(self, exchange: str, symbol: str) -> str | None:
        """The id of the newest stored event's entry (changes with every new event), or None."""
        entries = await store_call(
            self.redis.xrevrange(self._key("liq", exchange, symbol), count=1))
        return entries[0][0].decode() if entries else None

    async def score_totals(self, exchange: str, symbol: str, now_ms: int | None = None
                           ) -> ScoreTotals:
        """The score totals of the last `score_hours` whole UTC hours and the current one."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        current = now // HOUR_MS * HOUR_MS
        hours = [current - k * HOUR_MS for k in range(self.score_hours + 1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(self._key("liqscore", exchange, symbol, str(hour)))
            buckets = await store_call(pipe.execute())
        total = ScoreTotals()
        for bucket in buckets:
            total = total + ScoreTotals.from_fields(
                {k.decode(): float(v) for k, v in bucket.items()})
        return total

    async def put_status(self, status: FeedStatus, now_ms: int | None = None) -> None:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        await store_call(self.redis.hset(
            self._key("liqfeed", status.venue),
            mapping={"doc": orjson.dumps(asdict(status)), "updated_ms": now}))

    async def status(self, exchange: str) -> tuple[FeedStatus, int] | None:
        """The ingest's last status for `exchange` and when it was written (ms), or None."""
        doc, updated = await store_call(
            self.redis.hmget(self._key("liqfeed", exchange), "doc", "updated_ms"))
        if doc is None or updated is None:
            return None
        return FeedStatus(**orjson.loads(doc)), int(updated)

    async def add_gaps(self, exchange: str, gaps: Sequence[Gap], now_ms: int | None = None
                       ) -> None:
        if not gaps:
            return
        now = int(time.time() * 1000) if now_ms is None else now_ms
        key = self._key("liqgaps", exchange)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {orjson.dumps(asdict(gap)): gap.start_ms for gap in gaps})
            pipe.zremrangebyscore(key, "-inf", f"({now - self.retention_ms}")
            await store_call(pipe.execute())

    async def gaps(self, exchange: str, since_ms: int, until_ms: int) -> list[Gap]:
        """Coverage gaps overlapping `[since_ms, until_ms]`, oldest first."""
        raw = await store_call(
            self.redis.zrangebyscore(self._key("liqgaps", exchange), "-inf", until_ms))
        gaps = [Gap(**orjson.loads(item)) for item in raw]
        return [g for g in gaps if g.end_ms >= since_ms]
