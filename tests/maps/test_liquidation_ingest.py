"""The liquidation ingest end to end: ccxt's websocket client against the local stream server,
the map the worker built from the local Binance REST server, a real redis-server; plus the
scoring rules (which map, when none) and the venue lease."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from redis.asyncio import Redis

from execsvc.domain.liquidations import LiquidationEvent, event_id
from execsvc.liqmap.online_score import MapBands, ScoreTotals, score_event, summarise
from execsvc.maps.liquidations import LiquidationIngest, MapHistory, ScoringMap, score_details
from execsvc.maps.worker import MapWorker
from execsvc.market.liquidation_feed import (
    Backoff,
    FeedStatus,
    FeedUpdate,
    LiquidationFeed,
    build_ws_exchange,
)
from execsvc.runtime import ccxt_source
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.liquidation_store import LiquidationStore
from tests.support.binance_stub import BinanceStub
from tests.support.liquidation_streams import LiquidationStreams, binance_force_order
from tests.support.redis_server import RedisServer


async def build_maps(rest: BinanceStub, band_store: BandStore) -> dict:
    """The worker's BTCUSDT 1d map from the local Binance REST server, as stored."""
    settings = Settings(_env_file=None, source="ccxt", symbols="BTCUSDT", windows="1d",
                        ccxt_timeframe="5m")
    source = ccxt_source(settings, base_url=rest.base_url)
    try:
        report = await MapWorker(source, band_store, settings).tick()
    finally:
        await source.close()
    assert report.failed == {}
    stored = await band_store.get_map("binanceusdm", "BTCUSDT", "1d")
    return {"document": stored.document, "version": stored.version,
            "computed_at_ms": stored.computed_at_ms}


def make_ingest(rest: BinanceStub, streams: LiquidationStreams, redis: Redis, **options
                ) -> LiquidationIngest:
    def make_feed(resume_from_ms: int | None) -> LiquidationFeed:
        exchange = build_ws_exchange("binanceusdm", rest_origin=rest.base_url,
                                     urls_override={"ws": {"linear": streams.binance_ws_url}})
        return LiquidationFeed("binanceusdm", ["BTCUSDT"], exchange=exchange, heartbeat_s=0.2,
                               backoff=Backoff(0.05, 0.5, rng=random.Random(3)),
                               resume_from_ms=resume_from_ms)

    return LiquidationIngest(make_feed, LiquidationStore(redis), BandStore(redis),
                             exchange="binanceusdm", score_window="1d", max_map_age_s=30.0,
                             **options)


async def eventually(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_local_stream_is_stored_once_each_and_scored_against_the_map(
    binance_stub: BinanceStub, streams: LiquidationStreams, redis_client: Redis
) -> None:
    band_store = BandStore(redis_client)
    built = await build_maps(binance_stub, band_store)
    bands = MapBands.from_document(built["document"])
    price = built["document"]["price"]
    start = int(time.time() * 1000) + 50
    # longs below the price, one short on the wrong side, one long outside the range
    orders = [("SELL", price * 0.995), ("SELL", price * 0.98), ("BUY", price * 1.01),
              ("SELL", price * 1.002), ("SELL", price * 0.5), ("BUY", price * 1.03)]
    frames = [binance_force_order("BTCUSDT", side, round(p, 1), 0.1 + k / 100, start + k * 1000)
              for k, (side, p) in enumerate(orders)]
    store = LiquidationStore(redis_client)

    async def stored_count(n: int):
        async def check() -> bool:
            found, _ = await store.events("binanceusdm", "BTCUSDT", 0, start + 10_000, 100)
            return len(found) >= n
        return check

    ingest = make_ingest(binance_stub, streams, redis_client)
    stop = asyncio.Event()
    task = asyncio.create_task(ingest.run(stop))
    try:
        await eventually(lambda: _true(streams.subscribed("binance", "BTCUSDT")))
        for frame in frames[:3]:
            streams.publish("binance", "BTCUSDT", frame)
        await eventually(await stored_count(3))
        streams.drop_connections("binance")
        streams.publish("binance", "BTCUSDT", frames[2])  # delivered again after the reconnect
        for frame in frames[3:]:
            streams.publish("binance", "BTCUSDT", frame)
        await eventually(await stored_count(6))
        await eventually(lambda: _true(ingest.counts.duplicates == 1))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

    found, more = await store.events("binanceusdm", "BTCUSDT", 0, start + 10_000, 100)
    assert not more and [e["time_ms"] for e in found] == [start + k * 1000 for k in range(6)]
    assert ingest.counts.stored == 6 and ingest.counts.duplicates == 1
    expected_totals = ScoreTotals()
    for entry in found:
        event = LiquidationEvent.from_dict(entry)
        assert entry["map"] == {"window": "1d", "version": built["version"],
                                "computed_at_ms": built["computed_at_ms"],
                                "model_version": built["document"]["model_version"],
                                "price": price}
        score = score_event(event.side, event.price, bands)
        assert entry["score"] == score.to_dict() and entry["unscored_reason"] is None
        expected_totals = expected_totals + ScoreTotals.of_event(event.notional_quote, score)
    assert [e["side"] for e in found] == ["long", "long", "short", "long", "long", "short"]
    assert [e["score"]["side_match"] for e in found] == [True, True, True, False, True, True]
    assert found[4]["score"]["band_index"] is None  # half the price: outside the map's range
    totals = await store.score_totals("binanceusdm", "BTCUSDT")
    # Redis adds each increment in long double and keeps 17 significant digits
    # (HINCRBYFLOAT), per hour bucket, and the buckets are added here: another order and
    # precision than this loop's double sums of the same six terms. Each agrees to a few ulps
    # (relative 6 * 2**-52 ~ 1.3e-15 of the largest term), so 1e-12 relative bounds it with
    # room; the rounded summary could still differ in its last digit at a rounding half.
    assert totals.as_fields() == pytest.approx(expected_totals.as_fields(), rel=1e-12,
                                               abs=1e-9)
    assert summarise(totals)["events"] == 6 and summarise(totals)["scored_events"] == 6

    status, updated_ms = await store.status("binanceusdm")
    assert status.reconnects == 1 and status.events >= 6
    assert updated_ms >= start
    gaps = await store.gaps("binanceusdm", start, start + 10_000)
    assert len(gaps) == 1 and "NetworkError" in gaps[0].reason


async def _true(value: bool) -> bool:
    return value


async def test_one_ingest_per_venue_and_a_standby_takes_over(
    binance_stub: BinanceStub, streams: LiquidationStreams, redis_client: Redis
) -> None:
    first = make_ingest(binance_stub, streams, redis_client, owner="first", lease_s=1.0)
    second = make_ingest(binance_stub, streams, redis_client, owner="second", lease_s=1.0)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    running = [asyncio.create_task(first.run(stop_first))]
    await eventually(lambda: _true(streams.subscribed("binance", "BTCUSDT")))
    running.append(asyncio.create_task(second.run(stop_second)))
    await asyncio.sleep(1.0)
    assert streams.connects("binance") == 1, "the standby does not connect"
    stop_first.set()
    await asyncio.wait_for(running[0], 10)
    await eventually(lambda: _true(streams.connects("binance") == 2 and
                                   streams.subscribed("binance", "BTCUSDT")))
    now = int(time.time() * 1000)
    streams.publish("binance", "BTCUSDT", binance_force_order("BTCUSDT", "SELL", 64_000.0,
                                                              0.5, now))
    store = LiquidationStore(redis_client)

    async def arrived() -> bool:
        return len((await store.events("binanceusdm", "BTCUSDT", now, now, 10))[0]) == 1

    await eventually(arrived)
    stop_second.set()
    await asyncio.wait_for(running[1], 10)
    assert second.counts.stored == 1 and first.counts.stored == 0
    gaps = await store.gaps("binanceusdm", 0, now)
    assert [g.reason for g in gaps] == ["no ingest was running"]


def scoring_map(version: int, computed_at_ms: int, price: float = 100.0) -> ScoringMap:
    edges = np.linspace(90.0, 110.0, 21)
    bands = MapBands.build(price, edges[:-1], edges[1:], np.arange(20, dtype=np.float64))
    return ScoringMap(version, computed_at_ms, "2.test", price, bands)


def an_event(time_ms: int, price: float = 95.5, side: str = "long") -> LiquidationEvent:
    return LiquidationEvent(time_ms, "binanceusdm", "BTCUSDT", side, price, 2.0, price * 2.0,
                            event_id("binanceusdm", "BTCUSDT", time_ms, side, price, 2.0))


def test_an_event_without_a_fresh_map_is_stored_unscored_with_the_reason() -> None:
    event = an_event(100_000)
    details, totals = score_details(event, None, "7d", 30.0, received_ms=100_050)
    assert details == {"received_ms": 100_050, "map": None, "score": None,
                       "unscored_reason": "no_map"}
    assert totals == ScoreTotals.of_event(191.0, None)
    stale = scoring_map(3, computed_at_ms=100_000 - 31_000)
    details, totals = score_details(event, stale, "7d", 30.0, received_ms=100_050)
    assert details["unscored_reason"] == "map_stale" and details["map"]["version"] == 3
    assert totals.scored_events == 0 and totals.events == 1
    fresh = scoring_map(4, computed_at_ms=100_000 - 29_000)
    details, totals = score_details(event, fresh, "7d", 30.0, received_ms=100_050)
    assert details["score"] == score_event("long", 95.5, fresh.bands).to_dict()
    assert totals.scored_events == 1 and details["map"]["window"] == "7d"


async def test_the_map_of_the_events_moment_is_used(redis_client: Redis) -> None:
    """A map stored between an event and its processing is newer than the event: the event is
    scored by the one before."""
    band_store = BandStore(redis_client)
    history = MapHistory(band_store, "binanceusdm", "7d")
    document = {"exchange": "binanceusdm", "symbol": "BTCUSDT", "window": "7d", "price": 100.0,
                "model_version": "2.test",
                "bands": [{"price_low": 99.0, "price_high": 101.0, "long_notional_quote": 1.0,
                           "short_notional_quote": 0.0}]}
    await band_store.put_map(document, {}, computed_at_ms=10_000)
    await history.refresh("BTCUSDT")
    await band_store.put_map({**document, "price": 100.5}, {}, computed_at_ms=20_000)
    await history.refresh("BTCUSDT")
    assert history.at("BTCUSDT", 15_000).version == 1
    assert history.at("BTCUSDT", 20_000).version == 2
    assert history.at("BTCUSDT", 9_999) is None
    assert history.at("ETHUSDT", 15_000) is None


def restart_on_same_port(server: RedisServer) -> None:
    """Start a fresh redis-server where `server` was (its data is gone: no persistence)."""
    server.process = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(server.port), "--bind", "127.0.0.1",
         "--dir", str(server.directory), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server._wait_ready()


async def test_a_store_outage_holds_the_events_until_redis_is_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    redis = Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    ingest = LiquidationIngest(
        lambda resume: None, LiquidationStore(redis), BandStore(redis), exchange="binanceusdm",
        score_window="7d", max_map_age_s=30.0, backoff=Backoff(0.05, 0.2, jitter=0.0))
    now = int(time.time() * 1000)
    events = [an_event(now), an_event(now + 1, price=95.6)]
    status = FeedStatus(venue="binanceusdm", symbols=["BTCUSDT"], state="connected")
    try:
        server.stop()
        task = asyncio.create_task(ingest.ingest(FeedUpdate(events, status)))
        await asyncio.sleep(0.6)
        assert not task.done(), "held and retried while the store is down"
        restart_on_same_port(server)
        await asyncio.wait_for(task, 10)
        stored, _ = await LiquidationStore(redis).events("binanceusdm", "BTCUSDT", now, now + 1,
                                                         10)
        assert [e["event_id"] for e in stored] == [e.event_id for e in events]
        assert [e["unscored_reason"] for e in stored] == ["no_map", "no_map"]
        assert ingest.counts.stored == 2
    finally:
        await redis.aclose()
        server.stop()


async def test_a_venue_listing_none_of_the_symbols_is_reported_not_fatal(
    binance_stub: BinanceStub, streams: LiquidationStreams, redis_client: Redis
) -> None:
    def make_feed(resume_from_ms: int | None) -> LiquidationFeed:
        exchange = build_ws_exchange("binanceusdm", rest_origin=binance_stub.base_url,
                                     urls_override={"ws": {"linear": streams.binance_ws_url}})
        return LiquidationFeed("binanceusdm", ["NOPEUSDT"], exchange=exchange)

    ingest = LiquidationIngest(make_feed, LiquidationStore(redis_client), BandStore(redis_client),
                               exchange="binanceusdm", score_window="7d", max_map_age_s=30.0)
    stop = asyncio.Event()
    task = asyncio.create_task(ingest.run(stop))
    store = LiquidationStore(redis_client)

    async def reported() -> bool:
        found = await store.status("binanceusdm")
        return found is not None and "NOPEUSDT" in (found[0].last_error or "")

    await eventually(reported)
    assert not task.done(), "the ingest keeps running and retries later"
    stop.set()
    await asyncio.wait_for(task, 10)
