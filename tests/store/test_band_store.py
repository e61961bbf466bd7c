"""BandStore against a real redis-server, and the in-process store running the same code."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.connection import connect, is_embedded

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]


def settings(**overrides) -> Settings:
    base = {"symbols": ",".join(SYMBOLS), "refresh_interval_s": 0.2, "windows": "1d,7d"}
    return Settings(_env_file=None, **{**base, **overrides})


async def test_put_map_is_versioned_and_published(redis_client: Redis) -> None:
    store = BandStore(redis_client, ttl_s=30)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(store.channel)
    await pubsub.get_message(timeout=1)  # subscribe confirmation
    doc = {"exchange": "binanceusdm", "symbol": "BTCUSDT", "window": "7d", "bands": [1, 2]}
    first = await store.put_map(doc, {"symbol": "BTCUSDT", "window": "7d"}, computed_at_ms=1000)
    second = await store.put_map(doc, {"symbol": "BTCUSDT", "window": "7d"}, computed_at_ms=2000)
    assert (first, second) == (1, 2)
    stored = await store.get_map("binanceusdm", "BTCUSDT", "7d")
    assert stored.version == 2 and stored.computed_at_ms == 2000 and stored.document == doc
    ttl_ms = await redis_client.pttl("execsvc:map:binanceusdm:BTCUSDT:7d")
    assert 0 < ttl_ms <= 30_000
    notices = []
    while len(notices) < 2:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
        if message:
            notices.append(orjson.loads(message["data"]))
    assert [n["version"] for n in notices] == [1, 2]
    assert notices[1]["symbol"] == "BTCUSDT" and notices[1]["computed_at_ms"] == 2000
    await pubsub.aclose()


async def test_embedded_store_runs_the_same_code() -> None:
    redis = connect(settings())
    assert is_embedded(redis)
    store = BandStore(redis)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, settings())
    report = await worker.tick()
    assert report.failed == {} and report.built == 6
    assert (await store.get_map("binanceusdm", "ETHUSDT", "7d")).version == 1
