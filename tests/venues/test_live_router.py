"""`LiveRouter` against the local Binance USD-M stub with order endpoints: a real async ccxt
client over real HTTP, checking the exact requests ccxt sent and that no order is placed twice."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from execsvc.domain.orders import Order, OrderRequest
from execsvc.runtime import live_router
from execsvc.settings import Settings
from execsvc.venues.live_router import (
    LiveRouter,
    LiveRoutingError,
    MissingExchangeKeysError,
    OrderStateUnknownError,
)
from tests.support.binance_orders import ALGO_ORDER_PATH, ORDER_PATH, BinanceOrderStub, vwap
from tests.support.binance_stub import DEFAULT_API_KEY, DEFAULT_SECRET, RecordedRequest

TIMEOUT_MS = 500
RECV_WINDOW_MS = 1_000
SETTLE_S = RECV_WINDOW_MS / 1000  # clock_skew_ms=0 in these tests
SIGNED_NOISE = {"timestamp", "signature"}

RouterFactory = Callable[..., LiveRouter]


@pytest.fixture
def stub() -> Iterator[BinanceOrderStub]:
    with BinanceOrderStub() as server:
        yield server


@pytest.fixture
async def make_router(stub: BinanceOrderStub) -> AsyncIterator[RouterFactory]:
    """Routers pointed at the stub (short timeout and recvWindow, fast retries); closed after."""
    routers: list[LiveRouter] = []

    def make(**overrides: Any) -> LiveRouter:
        options: dict[str, Any] = {
            "api_key": SecretStr(DEFAULT_API_KEY), "secret": SecretStr(DEFAULT_SECRET),
            "base_url": stub.base_url, "timeout_ms": TIMEOUT_MS,
            "recv_window_ms": RECV_WINDOW_MS, "clock_skew_ms": 0,
            "retry_attempts": 3, "retry_wait_s": 0.01, "retry_max_wait_s": 0.05,
        }
        options.update(overrides)
        router = LiveRouter(**options)
        routers.append(router)
        return router

    yield make
    for router in routers:
        await router.close()


def order_request(client_order_id: str = "cid-1", **fields: Any) -> OrderRequest:
    values: dict[str, Any] = {"symbol": "BTCUSDT", "side": "buy", "type": "market",
                              "quantity": 0.5}
    values.update(fields)
    return OrderRequest(client_order_id=client_order_id, **values)


def calls(stub: BinanceOrderStub, *paths: str) -> list[tuple[str, str]]:
    """(method, path) of the requests to `paths` (all but exchangeInfo if none given)."""
    return [(r.method, r.path) for r in stub.requests
            if (r.path in paths if paths else r.path != "/fapi/v1/exchangeInfo")]


def sent_params(request: RecordedRequest) -> dict[str, str]:
    """The parameters of a signed request except its timestamp and signature."""
    return {k: v for k, v in request.params.items() if k not in SIGNED_NOISE}


def assert_signed(stub: BinanceOrderStub, request: RecordedRequest) -> None:
    assert request.headers["x-mbx-apikey"] == DEFAULT_API_KEY
    assert request.params.keys() >= SIGNED_NOISE
    assert stub.signature_error(request) is None  # the HMAC checks out
    assert DEFAULT_SECRET not in request.query_string + request.body + str(request.headers)


# ---- exact requests and mapping ------------------------------------------------------------------


async def test_market_order_request_and_fill(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    router = make_router()
    order = await router.submit(order_request("mkt-1", reduce_only=True))

    assert [(r.method, r.path) for r in stub.requests] == [
        ("GET", "/fapi/v1/exchangeInfo"), ("POST", ORDER_PATH),
    ]
    post = stub.requests[-1]
    assert sent_params(post) == {
        "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.5",
        "newClientOrderId": "mkt-1", "reduceOnly": "true", "newOrderRespType": "RESULT",
        "recvWindow": str(RECV_WINDOW_MS),
    }
    assert post.query == {}  # a POST carries everything in the form body
    assert_signed(stub, post)

    (placed,) = stub.orders
    assert order.id == "mkt-1" and order.request.client_order_id == "mkt-1"
    assert order.status == "filled" and not order.is_open
    assert order.filled_quantity == pytest.approx(0.5)
    assert order.average_price == pytest.approx(vwap(placed.fills), rel=1e-9)
    assert order.average_price > float(stub.markets["BTCUSDT"].asks[0][0])  # walked the book
    assert order.exchange_order_id == str(placed.order_id)
    assert order.fees_quote == 0.0  # Binance's order endpoints carry no commission
    assert abs(order.created_at_ms - time.time() * 1000) < 60_000
    assert order.updated_at_ms >= order.created_at_ms


@pytest.mark.parametrize(
    ("time_in_force", "sent", "status"),
    [("GTC", "GTC", "new"), ("IOC", "IOC", "expired"), ("POST_ONLY", "GTX", "new")],
)
async def test_limit_order_requests(
    stub: BinanceOrderStub, make_router: RouterFactory, time_in_force: str, sent: str,
    status: str,
) -> None:
    router = make_router()
    request = order_request("lim-1", side="sell", type="limit", quantity=0.25, price=70_000.5,
                            time_in_force=time_in_force)
    order = await router.submit(request)

    (post,) = stub.requests_to(ORDER_PATH)
    assert sent_params(post) == {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.25",
        "price": "70000.5", "timeInForce": sent, "newClientOrderId": "lim-1",
        "newOrderRespType": "RESULT", "recvWindow": str(RECV_WINDOW_MS),
    }
    assert_signed(stub, post)
    assert order.status == status and order.filled_quantity == 0.0
    assert order.average_price is None


async def test_crossing_limit_order_fills_in_part_and_rests(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    asks = stub.markets["BTCUSDT"].asks
    limit = float(asks[1][0])
    available = float(asks[0][1]) + float(asks[1][1])
    order = await make_router().submit(
        order_request("lim-2", type="limit", quantity=0.5, price=limit)
    )
    assert order.status == "partially_filled" and order.is_open
    assert order.filled_quantity == pytest.approx(available)
    assert order.remaining_quantity == pytest.approx(0.5 - available)
    assert float(asks[0][0]) < order.average_price < limit


async def test_stop_goes_to_the_algo_service_and_reports_the_triggered_fill(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    router = make_router()
    request = order_request("stop-1", side="sell", type="stop", quantity=0.2,
                            stop_price=60_000.1, reduce_only=True)
    order = await router.submit(request)

    assert calls(stub) == [("POST", ALGO_ORDER_PATH)]
    post = stub.requests[-1]
    assert sent_params(post) == {
        "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.2",
        "triggerPrice": "60000.1", "algoType": "CONDITIONAL", "clientAlgoId": "stop-1",
        "reduceOnly": "true", "newOrderRespType": "RESULT", "recvWindow": str(RECV_WINDOW_MS),
    }
    assert_signed(stub, post)
    (algo,) = stub.algo_orders
    assert order.status == "new" and order.exchange_order_id == str(algo.algo_id)

    triggered = stub.trigger_stop("stop-1")
    stub.clear_requests()
    fetched = await router.fetch(order)

    assert calls(stub) == [("GET", ALGO_ORDER_PATH), ("GET", ORDER_PATH)]
    lookup, actual = stub.requests
    assert sent_params(lookup) == {"symbol": "BTCUSDT", "clientAlgoId": "stop-1",
                                   "recvWindow": str(RECV_WINDOW_MS)}
    assert sent_params(actual) == {"symbol": "BTCUSDT", "orderId": str(triggered.order_id),
                                   "recvWindow": str(RECV_WINDOW_MS)}
    assert fetched.status == "filled" and fetched.filled_quantity == pytest.approx(0.2)
    assert fetched.average_price == pytest.approx(vwap(triggered.fills), rel=1e-9)
    assert fetched.average_price <= float(stub.markets["BTCUSDT"].bids[0][0])
    assert fetched.exchange_order_id == str(algo.algo_id)


# ---- the no-duplicate protocol -------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["hold", "drop"])
async def test_ambiguous_failure_after_accept_finds_the_order_and_never_resends(
    stub: BinanceOrderStub,
    make_router: RouterFactory,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    if fault == "hold":
        stub.hold_after_accept(seconds=3 * TIMEOUT_MS / 1000)  # the client times out
    else:
        stub.drop_after_accept()  # the connection closes unanswered
    router = make_router()
    started = time.monotonic()
    order = await router.submit(order_request("amb-1", type="limit", price=60_000.0))

    assert calls(stub) == [("POST", ORDER_PATH), ("GET", ORDER_PATH)]
    lookup = stub.requests[-1]
    assert sent_params(lookup) == {"symbol": "BTCUSDT", "origClientOrderId": "amb-1",
                                   "recvWindow": str(RECV_WINDOW_MS)}
    assert_signed(stub, lookup)
    (placed,) = stub.orders_with_client_id("amb-1")
    assert len(stub.orders) == 1
    assert order.exchange_order_id == str(placed.order_id) and order.status == "new"
    assert time.monotonic() - started < SETTLE_S + 1.0  # found at once: no settle wait
    assert "looking the order up before any resend" in caplog.text


async def test_failure_before_accept_is_looked_up_then_sent_once_more(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    stub.fail_before_accept(times=1, status=503)
    router = make_router()
    started = time.monotonic()
    order = await router.submit(order_request("fba-1"))
    elapsed = time.monotonic() - started

    # Looked up at once (absent), then again once the first send's recvWindow had passed
    # (still absent): only then sent again.
    assert calls(stub) == [("POST", ORDER_PATH), ("GET", ORDER_PATH), ("GET", ORDER_PATH),
                           ("POST", ORDER_PATH)]
    first, _, _, second = stub.requests_to(ORDER_PATH)
    assert sent_params(first) == sent_params(second)
    assert int(second.params["timestamp"]) - int(first.params["timestamp"]) >= RECV_WINDOW_MS
    assert elapsed >= SETTLE_S
    (placed,) = stub.orders
    assert placed.client_order_id == "fba-1"
    assert order.status == "filled" and order.exchange_order_id == str(placed.order_id)


async def test_a_late_request_accepted_inside_its_recv_window_is_found_not_duplicated(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    # The send times out at 0.5 s while the request is still in flight; it reaches the
    # matching engine at 0.8 s, within its 1 s recvWindow. The first lookup (0.5 s) sees
    # nothing; the one after the recvWindow finds it, so it is not sent again.
    stub.delay(seconds=0.8, times=1, path=ORDER_PATH)
    order = await make_router().submit(order_request("late-1"))

    assert calls(stub) == [("POST", ORDER_PATH), ("GET", ORDER_PATH), ("GET", ORDER_PATH)]
    (placed,) = stub.orders
    assert order.exchange_order_id == str(placed.order_id) and order.status == "filled"


async def test_a_request_arriving_after_its_recv_window_is_refused_and_sent_again(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    # Arriving at 1.2 s, the first send is refused by its 1 s recvWindow (-1021): the resend
    # after the settle wait is the only order.
    stub.delay(seconds=1.2, times=1, path=ORDER_PATH)
    order = await make_router().submit(order_request("late-2"))

    assert [m for m, _ in calls(stub)].count("POST") == 2
    (placed,) = stub.orders
    assert order.exchange_order_id == str(placed.order_id)


async def test_an_unanswerable_lookup_raises_and_never_resends(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    stub.hold_after_accept(seconds=3 * TIMEOUT_MS / 1000)
    stub.fail_requests("GET", ORDER_PATH, times=None, status=503)
    router = make_router(retry_attempts=3)

    with pytest.raises(OrderStateUnknownError, match=r"lookup amb-2 failed.*not sent again"):
        await router.submit(order_request("amb-2"))
    assert calls(stub) == [("POST", ORDER_PATH)] + [("GET", ORDER_PATH)] * 3
    assert len(stub.orders) == 1  # it did reach the book: resending would have doubled it


async def test_sends_are_bounded(stub: BinanceOrderStub, make_router: RouterFactory) -> None:
    stub.fail_before_accept(times=None)
    router = make_router(max_sends=2)
    with pytest.raises(LiveRoutingError, match=r"no answer after 2 sends.*holds no order"):
        await router.submit(order_request("bound-1"))
    assert [m for m, _ in calls(stub)] == ["POST", "GET", "GET", "POST", "GET", "GET"]
    assert stub.orders == []


async def test_a_local_failure_is_looked_up_but_never_resent(
    stub: BinanceOrderStub, make_router: RouterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = make_router()
    exchange = router._exchange
    parse_order = exchange.parse_order
    failures = iter([KeyError("avgPrice")])

    def parse_once_badly(*args: Any, **kwargs: Any) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return parse_order(*args, **kwargs)

    # The answer to an accepted order cannot be read: the lookup finds the order.
    monkeypatch.setattr(exchange, "parse_order", parse_once_badly)
    order = await router.submit(order_request("loc-1"))
    assert calls(stub) == [("POST", ORDER_PATH), ("GET", ORDER_PATH)]
    assert order.status == "filled" and len(stub.orders) == 1

    # A failure before anything is sent: looked up (absent), then raised, not sent again.
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("broken request builder")

    stub.clear_requests()
    monkeypatch.setattr(exchange, "create_order_request", broken)
    with pytest.raises(LiveRoutingError, match=r"submit loc-2 failed: TypeError.*holds no such"):
        await router.submit(order_request("loc-2"))
    assert calls(stub) == [("GET", ORDER_PATH), ("GET", ORDER_PATH)]
    assert len(stub.orders) == 1


async def test_a_resubmitted_client_id_returns_the_existing_order(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    router = make_router()
    request = order_request("dup-1", type="limit", price=60_000.0)
    first = await router.submit(request)
    again = await router.submit(request)  # e.g. a client retry after a service restart

    assert calls(stub) == [("POST", ORDER_PATH), ("POST", ORDER_PATH), ("GET", ORDER_PATH)]
    assert len(stub.orders) == 1
    assert again.exchange_order_id == first.exchange_order_id and again.status == "new"


async def test_a_client_id_held_by_a_different_order_is_refused(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    router = make_router()
    await router.submit(order_request("dup-2", type="limit", price=60_000.0))
    with pytest.raises(LiveRoutingError, match="different order with this client id"):
        await router.submit(order_request("dup-2", side="sell", type="limit", price=70_000.0))
    assert len(stub.orders) == 1


# ---- rejections ------------------------------------------------------------------------------


async def test_exchange_refusal_is_a_rejected_order_without_lookup(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    best_ask = float(stub.markets["BTCUSDT"].asks[0][0])
    order = await make_router().submit(
        order_request("po-1", type="limit", price=best_ask, time_in_force="POST_ONLY")
    )
    assert order.status == "rejected" and "-5022" in (order.reason or "")
    assert "po-1" in (order.reason or "")
    assert calls(stub) == [("POST", ORDER_PATH)]
    assert stub.orders == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"quantity": 0.0015}, "quantity 0.0015 is not a multiple of the BTCUSDT step size"),
        ({"quantity": 0.0005}, "quantity 0.0005 is not accepted for BTCUSDT"),
        ({"type": "limit", "price": 60_000.004}, "price 60000.004 is not a multiple"),
        ({"type": "stop", "stop_price": 59_999.999}, "stop_price 59999.999 is not a multiple"),
        ({"type": "limit"}, "a limit order needs a price"),
        ({"type": "stop"}, "a stop order needs a stop_price"),
        ({"quantity": -1.0}, "quantity must be positive"),
        ({"symbol": "DOGEUSDT"}, "lists no market DOGEUSDT"),
    ],
)
async def test_unsendable_orders_are_rejected_before_any_order_request(
    stub: BinanceOrderStub, make_router: RouterFactory, fields: dict[str, Any], reason: str
) -> None:
    order = await make_router().submit(order_request("bad-1", **fields))
    assert order.status == "rejected" and reason in (order.reason or "")
    assert calls(stub) == []


async def test_a_client_id_binance_cannot_take_is_rejected_without_any_request(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    order = await make_router().submit(order_request("has spaces and is far too long " * 2))
    assert order.status == "rejected" and "client_order_id" in (order.reason or "")
    assert stub.requests == []


# ---- cancel and fetch ------------------------------------------------------------------------


async def test_cancel_and_fetch_a_resting_order(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    router = make_router()
    order = await router.submit(order_request("can-1", type="limit", price=60_000.0))
    stub.clear_requests()

    canceled = await router.cancel(order)
    assert calls(stub) == [("DELETE", ORDER_PATH)]
    delete = stub.requests[-1]
    assert sent_params(delete) == {"symbol": "BTCUSDT", "origClientOrderId": "can-1",
                                   "recvWindow": str(RECV_WINDOW_MS)}
    assert delete.body == "" and "signature" in delete.query  # signed in the query string
    assert_signed(stub, delete)
    assert canceled.status == "canceled" and canceled.exchange_order_id == order.exchange_order_id
    assert stub.orders[0].status == "CANCELED"

    stub.clear_requests()
    fetched = await router.fetch(order)
    assert calls(stub) == [("GET", ORDER_PATH)]
    assert fetched.status == "canceled" and fetched.updated_at_ms >= order.updated_at_ms

    stub.clear_requests()
    again = await router.cancel(order)  # no longer open: -2011, then its final state
    assert calls(stub) == [("DELETE", ORDER_PATH), ("GET", ORDER_PATH)]
    assert again.status == "canceled"


async def test_cancelling_a_filled_order_reports_it_filled(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    router = make_router()
    order = await router.submit(order_request("can-2"))
    result = await router.cancel(order)
    assert result.status == "filled" and result.filled_quantity == pytest.approx(0.5)
    assert stub.orders[0].status == "FILLED"


async def test_a_lost_cancel_answer_is_retried_safely(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    router = make_router()
    order = await router.submit(order_request("can-3", type="limit", price=60_000.0))
    stub.clear_requests()
    stub.hold_after_accept(seconds=3 * TIMEOUT_MS / 1000, method="DELETE")
    canceled = await router.cancel(order)
    # The first DELETE cancelled it but its answer was lost; the retry hears -2011.
    assert calls(stub) == [("DELETE", ORDER_PATH), ("DELETE", ORDER_PATH), ("GET", ORDER_PATH)]
    assert canceled.status == "canceled"


async def test_cancel_a_stop(stub: BinanceOrderStub, make_router: RouterFactory) -> None:
    router = make_router()
    order = await router.submit(order_request("stop-2", side="sell", type="stop",
                                              stop_price=60_000.0))
    stub.clear_requests()
    canceled = await router.cancel(order)
    assert calls(stub) == [("DELETE", ALGO_ORDER_PATH), ("GET", ALGO_ORDER_PATH)]
    assert sent_params(stub.requests[0]) == {"symbol": "BTCUSDT", "clientAlgoId": "stop-2",
                                             "recvWindow": str(RECV_WINDOW_MS)}
    assert canceled.status == "canceled" and stub.algo_orders[0].status == "CANCELED"


async def test_fetch_of_an_unknown_order_raises(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    ghost = Order(id="ghost-1", request=order_request("ghost-1"), status="new")
    with pytest.raises(LiveRoutingError, match=r"fetch ghost-1 failed.*-2013"):
        await make_router().fetch(ghost)
    with pytest.raises(LiveRoutingError, match=r"fetch ghost-1 failed.*-2013"):
        await make_router().cancel(ghost)


# ---- secrets and construction ----------------------------------------------------------------


async def test_keys_never_reach_logs_errors_or_repr(
    stub: BinanceOrderStub,
    make_router: RouterFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    router = make_router()
    stub.hold_after_accept(seconds=3 * TIMEOUT_MS / 1000)
    await router.submit(order_request("sec-1", type="limit", price=60_000.0))
    stub.fail_requests("GET", ORDER_PATH, times=None)
    with pytest.raises(LiveRoutingError) as caught:
        await router.fetch(Order(id="sec-2", request=order_request("sec-2"), status="new"))

    # A stub that does not know these keys: authentication fails.
    stranger = BinanceOrderStub(api_key="someone-else-key", secret="someone-else-secret")
    with stranger:
        other = make_router(base_url=stranger.base_url)
        with pytest.raises(LiveRoutingError) as refused:
            await other.submit(order_request("sec-3"))

    assert "X-MBX-APIKEY" in caplog.text and "***" in caplog.text  # ccxt's log, redacted
    texts = [caplog.text, repr(router), str(router), repr(other), str(caught.value),
             repr(caught.value.__cause__), str(refused.value), repr(refused.value.__cause__)]
    for text in texts:
        assert DEFAULT_API_KEY not in text and DEFAULT_SECRET not in text
    assert "-2015" in str(refused.value)
    assert repr(router) == "LiveRouter(exchange='binanceusdm', keys='***')"


@pytest.mark.parametrize(
    ("api_key", "secret", "missing"),
    [
        (None, None, "EXECSVC_EXCHANGE_API_KEY and EXECSVC_EXCHANGE_SECRET"),
        ("k", None, "EXECSVC_EXCHANGE_SECRET"),
        (None, "s", "EXECSVC_EXCHANGE_API_KEY"),
        ("  ", "s", "EXECSVC_EXCHANGE_API_KEY"),
    ],
)
def test_construction_without_keys_raises(
    api_key: str | None, secret: str | None, missing: str
) -> None:
    with pytest.raises(MissingExchangeKeysError, match=missing):
        LiveRouter(api_key=SecretStr(api_key) if api_key is not None else None,
                   secret=SecretStr(secret) if secret is not None else None)


def test_from_settings_refuses_live_mode_without_keys_and_paper_mode() -> None:
    live = Settings(_env_file=None, trading_mode="live", source="ccxt", exchange_api_key=None,
                    exchange_secret=None)
    with pytest.raises(MissingExchangeKeysError, match="EXECSVC_EXCHANGE_API_KEY"):
        live_router(live)
    paper = Settings(_env_file=None, trading_mode="paper", exchange_api_key=SecretStr("k"),
                     exchange_secret=SecretStr("s"))
    with pytest.raises(LiveRoutingError, match="EXECSVC_TRADING_MODE=live"):
        live_router(paper)
    other = Settings(_env_file=None, trading_mode="live", source="ccxt", exchange="okx",
                     exchange_api_key=SecretStr("k"), exchange_secret=SecretStr("s"))
    with pytest.raises(LiveRoutingError, match="supports binanceusdm only"):
        live_router(other)


async def test_from_settings_routes_live(stub: BinanceOrderStub) -> None:
    settings = Settings(_env_file=None, trading_mode="live", source="ccxt", ccxt_timeout_ms=2_000,
                        exchange_api_key=SecretStr(DEFAULT_API_KEY),
                        exchange_secret=SecretStr(DEFAULT_SECRET))
    router = live_router(settings, base_url=stub.base_url)
    try:
        order = await router.submit(order_request("set-1", quantity=0.01))
    finally:
        await router.close()
    assert order.status == "filled"
    assert stub.requests_to(ORDER_PATH)[0].params["recvWindow"] == "5000"


async def test_positions_and_balance_come_from_the_account(
    stub: BinanceOrderStub, make_router: RouterFactory
) -> None:
    router = make_router()
    order = await router.submit(order_request("cid-pos", quantity=0.5))
    assert order.status == "filled"
    positions = await router.positions()
    assert [(p.symbol, p.size) for p in positions] == [("BTCUSDT", 0.5)]
    assert positions[0].entry_price == pytest.approx(order.average_price, rel=1e-6)
    balance = await router.balance()
    assert balance["balance_quote"] == stub.WALLET_USDT
    assert balance["position_margin_quote"] == pytest.approx(
        0.5 * positions[0].entry_price / 20, rel=1e-6)
    paths = {r.path for r in stub.requests}
    assert {"/fapi/v3/positionRisk", "/fapi/v3/account"} <= paths


async def test_live_venue_keeps_each_keys_client_ids_apart(
    stub: BinanceOrderStub, make_router: RouterFactory, redis_client
) -> None:
    from execsvc.venues.live import LiveVenue

    venue = LiveVenue(make_router(), redis_client)
    alice, bob = "a1b2c3d4e5f6", "0f9e8d7c6b5a"
    mine = await venue.submit(alice, order_request("shared-id", quantity=0.5))
    theirs = await venue.submit(bob, order_request("shared-id", quantity=0.5))
    assert mine.id == theirs.id == "shared-id"
    sent = [r.query.get("newClientOrderId") or r.body for r in stub.requests
            if r.method == "POST" and r.path == "/fapi/v1/order"]
    assert len(sent) == 2 and sent[0] != sent[1], "two orders at the exchange"
    assert {o.client_order_id for o in stub.orders} == {"a1b2c3d4-shared-id", "0f9e8d7c-shared-id"}
    assert (await venue.get(alice, "shared-id")).exchange_order_id == mine.exchange_order_id
    assert await venue.get("ffffffffffff", "shared-id") is None
    assert (await venue.existing(alice, order_request("shared-id", quantity=0.5))).id == mine.id
