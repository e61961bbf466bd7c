"""`GET /stream/maps` over a real socket (uvicorn in a thread) and a real redis-server: one
event per map update, the symbol filter, heartbeats, one shared subscription, and clean-up
when clients go away. `LiveServer` is also used by the browser test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from execsvc.api.map_feed import MapFeed
from execsvc.api.routes import stream as routes_stream
from execsvc.api.routes.stream import _events
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore, StoreUnavailable
from tests.support.apps import asgi_client
from tests.support.live_server import LiveServer

CHANNEL = "execsvc:maps"


def settings(**overrides: Any) -> Settings:
    base = {"symbols": "BTCUSDT,ETHUSDT", "windows": "1d,7d", "max_map_age_s": 30}
    return Settings(_env_file=None, **{**base, **overrides})


def notice_document(symbol: str, window: str = "7d") -> tuple[dict, dict]:
    """A minimal stored document and its summary: the stream only reads the notice."""
    document = {"exchange": "binanceusdm", "symbol": symbol, "window": window}
    summary = {**document, "model": "oi_delta", "price": 100.5, "data_end": "2026-01-06T11:00:00Z",
               "top_clusters": [{"side": "long", "price_low": 90.0, "price_high": 91.0,
                                 "notional_quote": 1e6, "intensity": 1.0}]}
    return document, summary


@pytest.fixture
async def live(redis_server, redis_client: Redis) -> AsyncIterator[LiveServer]:
    """The API (no worker) on a real port over the test's redis-server."""
    store = BandStore(Redis.from_url(redis_server.url))
    app = make_app(settings(), with_worker=False, store=store)
    with LiveServer(app) as server:
        yield server


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def subscribers(redis: Redis) -> int:
    return dict(await redis.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0)


async def read_events(lines: AsyncIterator[str], count: int) -> list[dict[str, Any]]:
    """The next `count` events (comments skipped) as `{event, data}`."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async for line in lines:
        if line.startswith("event:"):
            current["event"] = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            current["data"] = orjson.loads(line.split(":", 1)[1])
        elif line == "" and current:
            events.append(current)
            current = {}
            if len(events) == count:
                return events
    raise AssertionError("stream ended early")


async def test_one_event_per_update_filtered_by_symbol(live, redis_client: Redis) -> None:
    store = BandStore(redis_client)
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client, client.stream(
        "GET", "/stream/maps", params={"symbol": "ethusdt"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await eventually(lambda: subscribers(redis_client))
        await store.put_map(*notice_document("BTCUSDT"))
        v1 = await store.put_map(*notice_document("ETHUSDT", "7d"))
        v2 = await store.put_map(*notice_document("ETHUSDT", "1d"))
        events = await asyncio.wait_for(read_events(response.aiter_lines(), 2), 10)
    assert [e["event"] for e in events] == ["map", "map"]
    first, second = (e["data"] for e in events)
    assert first["symbol"] == "ETHUSDT" and first["window"] == "7d" and first["version"] == v1
    assert second["window"] == "1d" and second["version"] == v2
    assert first["exchange"] == "binanceusdm" and first["computed_at_ms"] > 0
    assert first["summary"]["price"] == 100.5
    assert first["summary"]["top_clusters"][0]["side"] == "long"


async def test_window_filter(live, redis_client: Redis) -> None:
    store = BandStore(redis_client)
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client, client.stream(
        "GET", "/stream/maps", params={"symbol": "BTCUSDT", "window": "1d"}
    ) as response:
        await eventually(lambda: subscribers(redis_client))
        await store.put_map(*notice_document("BTCUSDT", "7d"))
        await store.put_map(*notice_document("BTCUSDT", "1d"))
        (event,) = await asyncio.wait_for(read_events(response.aiter_lines(), 1), 10)
    assert event["data"]["window"] == "1d"


async def test_exchange_filter_keeps_the_venues_sum(live, redis_client: Redis) -> None:
    """BTCUSDT registered on two venues: `exchange=all` streams the sum's updates only, and a
    venue the symbol is not on is a 404 naming `query.exchange`."""
    store = BandStore(redis_client)
    await store.register_symbols({"BTCUSDT": {
        "exchange": "binanceusdm", "exchanges": ["binanceusdm", "bybit"], "default_map": "all",
        "quote_currency": "USDT", "has_open_interest": True}})
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        unknown = await client.get("/stream/maps", params={"exchange": "kraken"})
        assert unknown.status_code == 404 and unknown.json()["field"] == "query.exchange"
        async with client.stream("GET", "/stream/maps",
                                 params={"symbol": "BTCUSDT", "exchange": "all"}) as response:
            assert response.status_code == 200
            await eventually(lambda: subscribers(redis_client))
            for exchange in ("binanceusdm", "all"):
                document, summary = notice_document("BTCUSDT")
                await store.put_map({**document, "exchange": exchange},
                                    {**summary, "exchange": exchange})
            (event,) = await asyncio.wait_for(read_events(response.aiter_lines(), 1), 10)
    assert event["data"]["exchange"] == "all"


async def test_heartbeats(live, redis_client: Redis, monkeypatch) -> None:
    monkeypatch.setattr(routes_stream, "HEARTBEAT_S", 0.2)
    comments = []
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client, client.stream(
        "GET", "/stream/maps"
    ) as response:
        async def two_pings() -> None:
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    comments.append(line)
                    if len(comments) == 2:
                        return
        await asyncio.wait_for(two_pings(), 5)
    assert all("ping" in c for c in comments)


async def test_clients_share_one_subscription_and_are_cleaned_up(live, redis_client) -> None:
    feed_of = lambda: live.app.state.ctx.feed  # noqa: E731
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        streams = [client.stream("GET", "/stream/maps", params={"symbol": s})
                   for s in ("BTCUSDT", "ETHUSDT", "BTCUSDT")]
        responses = [await s.__aenter__() for s in streams]
        assert all(r.status_code == 200 for r in responses)
        await eventually(lambda: feed_of() is not None and feed_of().clients == 3)
        await eventually(lambda: subscribers(redis_client))
        assert await subscribers(redis_client) == 1
        for s in streams:
            await s.__aexit__(None, None, None)
    await eventually(lambda: feed_of().clients == 0)
    await eventually(lambda: not feed_of().running)
    await eventually(async_not(lambda: subscribers(redis_client)))


def async_not(check: Callable[[], Any]) -> Callable[[], Any]:
    async def negated() -> bool:
        return not await check()
    return negated


async def test_bad_filters_are_problems(redis_client: Redis) -> None:
    app = make_app(settings(), with_worker=False, store=BandStore(redis_client))
    async with asgi_client(app) as c:
        unknown = await c.get("/stream/maps", params={"symbol": "DOGEUSDT"})
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")
        assert unknown.json()["field"] == "query.symbol"
        window = await c.get("/stream/maps", params={"window": "30d"})
        assert window.status_code == 422 and window.json()["errors"][0]["field"] == "query.window"


class FailingStore:
    """Publishes one notice, then loses Redis."""

    async def notices(self) -> AsyncIterator[dict[str, Any]]:
        yield {"version": 3, "exchange": "x", "symbol": "BTCUSDT", "window": "7d", "price": 1.0,
               "computed_at_ms": 1}
        raise StoreUnavailable("redis unreachable: gone")


async def test_store_failure_ends_the_stream_with_an_error_event() -> None:
    feed = MapFeed(FailingStore())  # type: ignore[arg-type]
    events = []
    async for event in _events(feed, "BTCUSDT", None):
        events.append(event)
    assert [e.event for e in events] == ["map", "error"]
    assert orjson.loads(events[0].data)["version"] == 3
    assert events[1].retry == routes_stream.RETRY_MS
    await eventually(lambda: not feed.running and feed.clients == 0)
