"""`LiquidationStore` against a real redis-server and the embedded store: duplicates dropped
atomically, retention by time and length, time-range pages, hourly score totals, status and
coverage gaps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest
from redis.asyncio import Redis

from execsvc.domain.liquidations import LiquidationEvent, event_id
from execsvc.liqmap.online_score import ScoreTotals
from execsvc.market.liquidation_feed import FeedStatus, Gap
from execsvc.store.liquidation_store import (
    DUPLICATE,
    EXPIRED,
    HOUR_MS,
    STORED,
    LiquidationStore,
)
from tests.support.redis_server import RedisServer

NOW_MS = 1_786_310_817_000  # 2026-08-09 21:26:57 UTC


@pytest.fixture(params=["redis-server", "embedded"])
async def redis(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[Redis]:
    if request.param == "embedded":
        client = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        client = Redis.from_url(redis_server.url)
        await client.flushall()
    yield client
    await client.aclose()


def liquidation(time_ms: int, price: float = 64_000.0, quantity: float = 0.5,
                side: str = "long", symbol: str = "BTCUSDT") -> LiquidationEvent:
    return LiquidationEvent(
        time_ms=time_ms, venue="binanceusdm", symbol=symbol, side=side, price=price,
        quantity_base=quantity, notional_quote=price * quantity,
        event_id=event_id("binanceusdm", symbol, time_ms, side, price, quantity))


def details(version: int = 7) -> dict:
    return {"received_ms": NOW_MS, "map": {"window": "7d", "version": version},
            "score": None, "unscored_reason": "no_map"}


async def test_a_duplicate_is_dropped_and_counted_once(redis: Redis) -> None:
    store = LiquidationStore(redis)
    event = liquidation(NOW_MS - 5_000)
    totals = ScoreTotals.of_event(event.notional_quote, None)
    assert await store.add(event, details(), totals, now_ms=NOW_MS) == STORED
    assert await store.add(event, details(), totals, now_ms=NOW_MS) == DUPLICATE
    stored, more = await store.events("binanceusdm", "BTCUSDT", 0, NOW_MS, 100)
    assert more is False and len(stored) == 1
    assert stored[0]["event_id"] == event.event_id and stored[0]["map"]["version"] == 7
    assert LiquidationEvent.from_dict(stored[0]) == event
    summed = await store.score_totals("binanceusdm", "BTCUSDT", now_ms=NOW_MS)
    assert summed.events == 1 and summed.notional_quote == pytest.approx(32_000.0)


async def test_retention_by_time_and_by_length(redis: Redis) -> None:
    store = LiquidationStore(redis, retention_s=3600, max_per_symbol=5)
    assert await store.add(liquidation(NOW_MS - 3_700_000), details(), ScoreTotals(),
                           now_ms=NOW_MS) == EXPIRED
    for k in range(8):
        await store.add(liquidation(NOW_MS - 3_500_000 + k * 1000), details(), ScoreTotals(),
                        now_ms=NOW_MS)
    stored, _ = await store.events("binanceusdm", "BTCUSDT", 0, NOW_MS, 100)
    assert [e["time_ms"] for e in stored] == [NOW_MS - 3_500_000 + k * 1000 for k in range(3, 8)]
    # an hour later, everything has aged out on the next write
    later = NOW_MS + 3_600_000
    await store.add(liquidation(later - 1000), details(), ScoreTotals(), now_ms=later)
    stored, _ = await store.events("binanceusdm", "BTCUSDT", 0, later, 100)
    assert [e["time_ms"] for e in stored] == [later - 1000]
    assert await redis.zcard("execsvc:liqids:binanceusdm:BTCUSDT") == 1


async def test_an_event_arriving_out_of_order_is_kept_and_found(redis: Redis) -> None:
    store = LiquidationStore(redis)
    for time_ms in (NOW_MS - 3000, NOW_MS - 1000, NOW_MS - 2000):
        await store.add(liquidation(time_ms), details(), ScoreTotals(), now_ms=NOW_MS)
    stored, _ = await store.events("binanceusdm", "BTCUSDT", NOW_MS - 2500, NOW_MS, 10)
    assert sorted(e["time_ms"] for e in stored) == [NOW_MS - 2000, NOW_MS - 1000]


async def test_pages_end_between_milliseconds(redis: Redis) -> None:
    store = LiquidationStore(redis)
    times = [NOW_MS - 5000, NOW_MS - 4000, NOW_MS - 4000, NOW_MS - 3000, NOW_MS - 2000]
    for k, time_ms in enumerate(times):
        await store.add(liquidation(time_ms, price=64_000.0 + k), details(), ScoreTotals(),
                        now_ms=NOW_MS)
    page, more = await store.events("binanceusdm", "BTCUSDT", 0, NOW_MS, 2)
    assert more and [e["time_ms"] for e in page] == [NOW_MS - 5000]
    page, more = await store.events("binanceusdm", "BTCUSDT", NOW_MS - 4999, NOW_MS, 2)
    assert more and [e["time_ms"] for e in page] == [NOW_MS - 4000] * 2
    page, more = await store.events("binanceusdm", "BTCUSDT", NOW_MS - 3999, NOW_MS - 2001, 2)
    assert not more and [e["time_ms"] for e in page] == [NOW_MS - 3000]


async def test_score_totals_cover_the_last_hours_only(redis: Redis) -> None:
    store = LiquidationStore(redis, score_hours=24)
    current = NOW_MS // HOUR_MS * HOUR_MS
    for hours_ago, notional in ((0, 1.0), (5, 2.0), (24, 4.0), (25, 8.0)):
        event = liquidation(current - hours_ago * HOUR_MS + 10, price=notional, quantity=1.0)
        await store.add(event, details(), ScoreTotals.of_event(notional, None), now_ms=NOW_MS)
    totals = await store.score_totals("binanceusdm", "BTCUSDT", now_ms=NOW_MS)
    assert totals.events == 3 and totals.notional_quote == pytest.approx(7.0)
    ttl = await redis.pttl(f"execsvc:liqscore:binanceusdm:BTCUSDT:{current}")
    assert 24 * HOUR_MS < ttl <= 26 * HOUR_MS


async def test_status_and_gaps_round_trip(redis: Redis) -> None:
    store = LiquidationStore(redis, retention_s=86_400)
    assert await store.status("binanceusdm") is None
    status = FeedStatus(venue="binanceusdm", symbols=["BTCUSDT"], state="connected",
                        since_ms=NOW_MS - 60_000, events=3, reconnects=1)
    await store.put_status(status, now_ms=NOW_MS)
    assert await store.status("binanceusdm") == (status, NOW_MS)
    gaps = [Gap(NOW_MS - 90_000, NOW_MS - 80_000, "NetworkError"),
            Gap(NOW_MS - 30_000, NOW_MS - 29_000, "NetworkError")]
    await store.add_gaps("binanceusdm", gaps, now_ms=NOW_MS)
    assert await store.gaps("binanceusdm", NOW_MS - 85_000, NOW_MS) == gaps
    assert await store.gaps("binanceusdm", NOW_MS - 79_000, NOW_MS) == gaps[1:]
    assert await store.gaps("binanceusdm", NOW_MS - 79_000, NOW_MS - 40_000) == []
