"""`LiquidationFeed`: ccxt's real websocket client against the local Binance USD-M `forceOrder`
and Bybit v5 `allLiquidation` server (`tests/liquidation_streams.py`): normalised events,
nothing lost while the consumer is busy or across a reconnect, malformed frames logged once
and skipped, backoff."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.market.liquidation_feed import (
    Backoff,
    FeedUpdate,
    LiquidationFeed,
    LiquidationFeedError,
    build_ws_exchange,
)
from tests.support.binance_stub import BinanceStub
from tests.support.liquidation_streams import (
    LiquidationStreams,
    binance_force_order,
    bybit_all_liquidation,
)

NOW_MS = int(time.time() * 1000)



def binance_feed(rest: BinanceStub, streams: LiquidationStreams, symbols=("BTCUSDT", "ETHUSDT"),
                 **options) -> LiquidationFeed:
    exchange = build_ws_exchange("binanceusdm", rest_origin=rest.base_url,
                                 urls_override={"ws": {"linear": streams.binance_ws_url}})
    options = {"heartbeat_s": 0.2, "backoff": Backoff(0.05, 0.5, rng=random.Random(1)),
               **options}
    return LiquidationFeed("binanceusdm", list(symbols), exchange=exchange, **options)


def bybit_feed(streams: LiquidationStreams, **options) -> LiquidationFeed:
    exchange = build_ws_exchange(
        "bybit", rest_origin=streams.http_url,
        urls_override={"ws": {"public": {"linear": streams.bybit_ws_url}}})
    options = {"heartbeat_s": 0.2, "backoff": Backoff(0.05, 0.5, rng=random.Random(1)),
               **options}
    return LiquidationFeed("bybit", ["BTCUSDT", "ETHUSDT"], exchange=exchange, **options)


class Consumer:
    """Reads a feed in a task, keeping every update; `pause_s` makes it slow."""

    def __init__(self, feed: LiquidationFeed, pause_s: float = 0.0) -> None:
        self.feed = feed
        self.updates: list[FeedUpdate] = []
        self.pause_s = pause_s
        self.task: asyncio.Task | None = None

    @property
    def events(self):
        return [e for u in self.updates for e in u.events]

    async def __aenter__(self) -> Consumer:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        async for update in self.feed.updates():
            self.updates.append(update)
            if self.pause_s:
                await asyncio.sleep(self.pause_s)

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if self.task.done():
                self.task.result()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; {len(self.events)} events so far")
            await asyncio.sleep(0.01)

    async def __aexit__(self, *exc_info: object) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.feed.close()


async def subscribed(streams: LiquidationStreams, venue: str, symbol: str = "BTCUSDT") -> None:
    deadline = time.monotonic() + 10
    while not streams.subscribed(venue, symbol):
        assert time.monotonic() < deadline, f"{venue} never subscribed to {symbol}"
        await asyncio.sleep(0.01)


async def test_binance_force_orders_arrive_as_events(
    binance_stub: BinanceStub, streams: LiquidationStreams
) -> None:
    async with Consumer(binance_feed(binance_stub, streams)) as consumer:
        await subscribed(streams, "binance")
        streams.publish("binance", "BTCUSDT",
                        binance_force_order("BTCUSDT", "SELL", 64_010.5, 0.25, NOW_MS))
        streams.publish("binance", "ETHUSDT",
                        binance_force_order("ETHUSDT", "BUY", 3_431.2, 4.0, NOW_MS + 7))
        await consumer.wait_for(lambda: len(consumer.events) == 2)
    assert streams.subscriptions == [("binance", ["btcusdt@forceOrder", "ethusdt@forceOrder"])]
    btc, eth = consumer.events
    assert (btc.symbol, btc.side, btc.price, btc.quantity_base) == ("BTCUSDT", "long", 64_010.5,
                                                                      0.25)
    assert btc.time_ms == NOW_MS and btc.notional_quote == pytest.approx(16_002.625)
    assert (eth.symbol, eth.side, eth.venue) == ("ETHUSDT", "short", "binanceusdm")
    assert consumer.updates[-1].status.state == "connected"


async def test_bybit_all_liquidation_pushes_arrive_as_events(streams: LiquidationStreams) -> None:
    async with Consumer(bybit_feed(streams)) as consumer:
        await subscribed(streams, "bybit", "ETHUSDT")
        await subscribed(streams, "bybit", "BTCUSDT")
        streams.publish("bybit", "BTCUSDT", bybit_all_liquidation(
            "BTCUSDT", [(NOW_MS, "Buy", 0.5, 118_000.0), (NOW_MS + 3, "Sell", 0.2, 118_010.0)]))
        await consumer.wait_for(lambda: len(consumer.events) == 2)
    assert sorted(topic for _, topics in streams.subscriptions for topic in topics) == [
        "allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT"]
    long, short = consumer.events
    assert (long.side, long.quantity_base, long.notional_quote) == ("long", 0.5, 59_000.0)
    assert (short.side, short.time_ms, short.venue) == ("short", NOW_MS + 3, "bybit")


async def test_events_arriving_while_the_consumer_is_busy_are_not_lost(
    binance_stub: BinanceStub, streams: LiquidationStreams
) -> None:
    async with Consumer(binance_feed(binance_stub, streams), pause_s=0.05) as consumer:
        await subscribed(streams, "binance")
        for k in range(60):
            streams.publish("binance", "BTCUSDT", binance_force_order(
                "BTCUSDT", "SELL", 64_000.0 + k, 0.01, NOW_MS + k * 1000))
        await consumer.wait_for(lambda: len(consumer.events) >= 60)
        await asyncio.sleep(0.3)
    assert [e.price for e in consumer.events] == [64_000.0 + k for k in range(60)]
    assert len(consumer.updates) < 60, "several events per update: the consumer was slower"


async def test_a_dropped_connection_reconnects_with_backoff_and_loses_nothing(
    binance_stub: BinanceStub, streams: LiquidationStreams
) -> None:
    def event(k: int) -> dict:
        return binance_force_order("BTCUSDT", "BUY", 64_000.0 + k, 0.01, NOW_MS + k * 1000)

    async with Consumer(binance_feed(binance_stub, streams), pause_s=0.5) as consumer:
        await subscribed(streams, "binance")
        for k in range(3):
            streams.publish("binance", "BTCUSDT", event(k))
        await consumer.wait_for(lambda: len(consumer.events) == 3)
        # received by ccxt while the consumer is busy, then the connection drops
        streams.publish("binance", "BTCUSDT", event(3))
        await asyncio.sleep(0.1)
        assert len(consumer.events) == 3
        assert streams.drop_connections("binance") == 1
        for k in range(4, 7):  # published while nobody is connected: delivered on resubscribe
            streams.publish("binance", "BTCUSDT", event(k))
        await consumer.wait_for(lambda: len(consumer.events) == 7)
        await asyncio.sleep(0.3)
    assert [e.price for e in consumer.events] == [64_000.0 + k for k in range(7)]
    assert streams.connects("binance") == 2
    assert [topics for _, topics in streams.subscriptions] == [
        ["btcusdt@forceOrder", "ethusdt@forceOrder"]] * 2
    status = consumer.updates[-1].status
    assert status.reconnects == 1 and status.state == "connected"
    assert "NetworkError" in status.last_error
    gaps = [g for u in consumer.updates for g in u.gaps]
    assert len(gaps) == 1 and gaps[0].start_ms <= gaps[0].end_ms
    assert "NetworkError" in gaps[0].reason


async def test_malformed_frames_are_logged_once_and_skipped(
    binance_stub: BinanceStub, streams: LiquidationStreams, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="execsvc.market.liquidation_feed")
    bad_price = binance_force_order("BTCUSDT", "SELL", 64_000.0, 0.01, NOW_MS)
    bad_price["o"]["ap"] = "not-a-price"
    async with Consumer(binance_feed(binance_stub, streams)) as consumer:
        await subscribed(streams, "binance")
        for k in range(3):
            streams.publish_raw("binance", "BTCUSDT", '{"e": "forceOrder", "o": {' + "x" * k)
            streams.publish("binance", "BTCUSDT", bad_price)
            streams.publish("binance", "BTCUSDT", {"e": "forceOrder", "E": NOW_MS})
            streams.publish("binance", "BTCUSDT", binance_force_order(
                "BTCUSDT", "SELL", 64_000.0 + k, 0.01, NOW_MS + k * 1000))
        await consumer.wait_for(lambda: len(consumer.events) == 3)
    assert [e.price for e in consumer.events] == [64_000.0, 64_001.0, 64_002.0]
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 3, warnings  # one per kind of fault, not one per frame
    assert consumer.feed.fault_counts == {"undecodable frame": 3, "invalid liquidation": 3,
                                          "unparseable message": 3}
    assert consumer.updates[-1].status.malformed == 9


async def test_a_venue_without_a_known_side_convention_is_refused() -> None:
    with pytest.raises(LiquidationFeedError, match="okx"):
        build_ws_exchange("okx")


async def test_a_venue_listing_none_of_the_symbols_is_refused(
    binance_stub: BinanceStub, streams: LiquidationStreams
) -> None:
    feed = binance_feed(binance_stub, streams, symbols=("NOPEUSDT",))
    updates: AsyncIterator = feed.updates()
    try:
        with pytest.raises(LiquidationFeedError, match="NOPEUSDT"):
            await asyncio.wait_for(anext(updates), 10)
    finally:
        await feed.close()


async def test_an_unreachable_venue_is_retried_with_growing_delays(
    binance_stub: BinanceStub, streams: LiquidationStreams
) -> None:
    binance_stub.fail_with_status(times=3, status=503, path="/fapi/v1/exchangeInfo")
    backoff = Backoff(0.05, 1.0, jitter=0.0)
    feed = binance_feed(binance_stub, streams, backoff=backoff)
    async with Consumer(feed) as consumer:
        await subscribed(streams, "binance")
    calls = binance_stub.requests_to("/fapi/v1/exchangeInfo")
    assert len(calls) == 4
    gaps_ms = [b.received_ms - a.received_ms for a, b in itertools.pairwise(calls)]
    assert gaps_ms[0] >= 45 and gaps_ms[1] >= 95 and gaps_ms[2] >= 195
    assert consumer.updates and "503" in consumer.updates[0].status.last_error


@given(st.floats(0.01, 5.0), st.floats(1.0, 20.0), st.floats(0.0, 0.9),
       st.integers(0, 2**32 - 1), st.integers(1, 40))
@settings(max_examples=100, deadline=None)
def test_backoff_doubles_up_to_its_cap_within_the_jitter(
    initial: float, cap_factor: float, jitter: float, seed: int, attempts: int
) -> None:
    backoff = Backoff(initial, initial * cap_factor, jitter, rng=random.Random(seed))
    for k in range(attempts):
        base = min(initial * cap_factor, initial * 2**k)
        delay = backoff.next_delay()
        assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9
    backoff.reset()
    assert backoff.next_delay() <= initial * (1 + jitter) + 1e-9


async def test_a_long_backoff_still_reports_every_heartbeat(
    binance_stub: BinanceStub, streams: LiquidationStreams
) -> None:
    binance_stub.fail_with_status(times=1, status=503, path="/fapi/v1/exchangeInfo")
    feed = binance_feed(binance_stub, streams, heartbeat_s=0.1,
                        backoff=Backoff(0.6, 0.6, jitter=0.0))
    async with Consumer(feed) as consumer:
        await subscribed(streams, "binance")
    during = [u for u in consumer.updates if u.status.state == "connecting"]
    assert len(during) >= 4, "one status per heartbeat while waiting 0.6 s to retry"
    assert all("503" in u.status.last_error for u in during)
