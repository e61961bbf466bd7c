"""Live orders happen exactly once (issue 10, finding 1), with real ccxt against the local
Binance order stub and a real redis-server: concurrent copies of a request, a retry after the
service died between the exchange's answer and the record, and a retry after it died before
sending. The stub counts what it received."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from execsvc.domain.orders import DuplicateOrder, OrderRequest, request_digest
from execsvc.venues.errors import OrderStateUnknownError
from execsvc.venues.live import LiveVenue
from execsvc.venues.live_router import LiveRouter
from tests.support.binance_orders import ORDER_PATH, BinanceOrderStub
from tests.support.binance_stub import DEFAULT_API_KEY, DEFAULT_SECRET

KEY = "a1b2c3d4e5f6"


@pytest.fixture
def stub() -> Iterator[BinanceOrderStub]:
    with BinanceOrderStub() as server:
        yield server


@pytest.fixture
async def make_venue(stub: BinanceOrderStub, redis_client: Redis
                     ) -> AsyncIterator[Callable[..., LiveVenue]]:
    venues: list[LiveVenue] = []

    def make(timeout_s: float = 10.0, early_lookup_s: float = 0.5, **router: Any) -> LiveVenue:
        options: dict[str, Any] = {
            "api_key": SecretStr(DEFAULT_API_KEY), "secret": SecretStr(DEFAULT_SECRET),
            "base_url": stub.base_url, "timeout_ms": 3_000, "recv_window_ms": 1_000,
            "clock_skew_ms": 0, "retry_attempts": 2, "retry_wait_s": 0.01,
        }
        options.update(router)
        venue = LiveVenue(LiveRouter(**options), redis_client)
        venue.timeout_s, venue.early_lookup_s = timeout_s, early_lookup_s
        venues.append(venue)
        return venue

    yield make
    for venue in venues:
        await venue.close()


def market(cid: str = "once-1", quantity: float = 0.01) -> OrderRequest:
    return OrderRequest(cid, "BTCUSDT", "buy", "market", quantity)


def posts(stub: BinanceOrderStub) -> int:
    return sum(1 for r in stub.requests if r.method == "POST" and r.path == ORDER_PATH)


async def test_fifty_concurrent_copies_place_one_exchange_order(stub, make_venue) -> None:
    stub.delay(0.3, path=ORDER_PATH)  # the first send is still in flight when the rest arrive
    venue = make_venue()
    orders = await asyncio.gather(*(venue.submit(KEY, market()) for _ in range(50)))
    assert posts(stub) == 1
    assert len(stub.orders_with_client_id(f"{KEY[:8]}-once-1")) == 1
    assert {o.exchange_order_id for o in orders} == {str(stub.orders[0].order_id)}
    assert {o.status for o in orders} == {"filled"}


async def test_concurrent_different_bodies_under_one_id_are_refused(stub, make_venue) -> None:
    stub.delay(0.3, path=ORDER_PATH)
    venue = make_venue()
    results = await asyncio.gather(*(venue.submit(KEY, market("mixed", 0.01 * (1 + i % 2)))
                                     for i in range(10)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, DuplicateOrder)]
    placed = [r for r in results if not isinstance(r, Exception)]
    assert posts(stub) == 1 and len(placed) + len(refused) == 10
    assert {o.request.quantity for o in placed} == {stub.orders[0].quantity}
    assert all(o.request.quantity == placed[0].request.quantity for o in placed)


async def test_a_crash_after_sending_and_before_the_record_sends_nothing_again(
        stub, make_venue) -> None:
    """The service dies (its request task is gone) after the exchange took the order and
    before it was recorded. The retry, by another process (a fresh venue and router on the
    same Redis), finds the order at the exchange by client order id and sends nothing."""
    stub.hold_after_accept(5.0)
    dying = asyncio.create_task(make_venue().submit(KEY, market("crash-1")))
    while not stub.orders:
        await asyncio.sleep(0.01)
    dying.cancel()  # the process is gone: nothing after the send ran
    with pytest.raises(asyncio.CancelledError):
        await dying
    retry = await make_venue().submit(KEY, market("crash-1"))
    assert posts(stub) == 1, "looked up, not sent again"
    assert retry.exchange_order_id == str(stub.orders[0].order_id)
    assert retry.id == "crash-1" and retry.status == "filled"
    again = await make_venue().submit(KEY, market("crash-1"))
    assert again.exchange_order_id == retry.exchange_order_id and posts(stub) == 1


async def test_a_crash_before_sending_lets_the_retry_send_once_after_the_deadline(
        stub, make_venue, redis_client) -> None:
    """The first attempt reserved the id and died before sending. After its deadline plus the
    recvWindow nothing it signed can arrive, the exchange holds nothing: the retry takes the
    reservation over and sends, once."""
    from execsvc.venues.live_records import pending_record

    first = make_venue(timeout_s=1.0)
    request = market("early-death")
    await first.records.reserve(KEY, request.client_order_id, pending_record(
        request_digest(request), "dead-owner", int(time.time() * 1000) + 1_000))
    started = time.monotonic()
    order = await make_venue().submit(KEY, request)
    assert time.monotonic() - started >= 1.5, "waited for the deadline and the recvWindow"
    assert order.status == "filled" and posts(stub) == 1


async def test_a_retry_within_the_deadline_waits_for_the_first_answer(stub, make_venue) -> None:
    stub.delay(0.6, path=ORDER_PATH)  # inside the 1 s recvWindow: accepted, slowly
    venue = make_venue(early_lookup_s=5.0)
    first = asyncio.create_task(venue.submit(KEY, market("slow-1")))
    await asyncio.sleep(0.2)
    second = await make_venue(early_lookup_s=5.0).submit(KEY, market("slow-1"))
    assert (await first).exchange_order_id == second.exchange_order_id
    assert posts(stub) == 1


async def test_the_overall_deadline_answers_state_unknown_and_the_retry_resolves(
        stub, make_venue) -> None:
    stub.hold_after_accept(3.0)
    with pytest.raises(OrderStateUnknownError, match="same client_order_id"):
        await make_venue(timeout_s=1.0, timeout_ms=10_000).submit(KEY, market("late-1"))
    order = await make_venue().submit(KEY, market("late-1"))
    assert order.status == "filled" and posts(stub) == 1
