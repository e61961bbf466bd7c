"""The HTTP contract of issue 10 (finding 8): a different body under one client_order_id is
409 also when both arrive together, the order rate limit is 429 with Retry-After, duplicate
JSON keys are refused, HEAD works wherever GET does, and answers to anonymous callers carry no
infrastructure detail."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from execsvc.api.middleware import nests_deeper_than
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client
from tests.support.risk import gate_policy

KEY = "contract-key-0123456789abcdef"
HEADERS = {"X-API-Key": KEY}


async def paper_client(redis_client: Redis, per_minute: int = 1_000):
    config = Settings(_env_file=None, symbols="BTCUSDT", windows="7d", api_keys=KEY,
                      paper_starting_balance_quote=1_000_000)
    store = BandStore(redis_client)
    assert (await MapWorker(ReplaySource(720, ["BTCUSDT"]), store, config).tick()).failed == {}
    return asgi_client(make_app(config, with_worker=False, store=store,
                                policy=gate_policy(per_minute)))


@pytest.fixture
async def client(redis_client: Redis):
    async with await paper_client(redis_client) as c:
        yield c


def market(cid: str, quantity: float = 0.1) -> dict:
    return {"client_order_id": cid, "symbol": "BTCUSDT", "side": "buy", "type": "market",
            "quantity": quantity}


async def test_different_bodies_under_one_id_at_once_are_409(client) -> None:
    """Ten requests with one id and ten different quantities, all at once: one order, nine
    409 DUPLICATE_ORDER (never 422), and the position is that one order's."""
    answers = await asyncio.gather(*(
        client.post("/orders", json=market("race-1", 0.1 + i / 100), headers=HEADERS)
        for i in range(10)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 9, [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"DUPLICATE_ORDER"}
    placed = next(a.json() for a in answers if a.status_code == 201)
    positions = (await client.get("/positions", headers=HEADERS)).json()["positions"]
    assert positions[0]["size"] == pytest.approx(placed["filled_quantity"])


async def test_the_order_rate_limit_is_429_with_retry_after(redis_client: Redis) -> None:
    async with await paper_client(redis_client, per_minute=3) as client:
        for i in range(3):
            assert (await client.post("/orders", json=market(f"r{i}"),
                                      headers=HEADERS)).status_code == 201
        limited = await client.post("/orders", json=market("r3"), headers=HEADERS)
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["code"] == "RATE_LIMITED"
        assert (await client.get("/orders/r3", headers=HEADERS)).status_code == 404


@pytest.mark.parametrize(("path", "body", "key"), [
    ("/suggest/stop", b'{"symbol": "BTCUSDT", "side": "long", "side": "short"}', "side"),
    ("/risk/check", b'{"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "quantity": 50}',
     "quantity"),
    ("/orders", b'{"client_order_id": "d1", "symbol": "BTCUSDT", "side": "buy", "type": '
                b'"market", "quantity": 0.1, "quantity": 10}', "quantity"),
])
async def test_duplicate_json_keys_are_422_naming_the_key(client, path, body, key) -> None:
    response = await client.post(path, content=body, headers={
        "content-type": "application/json", **HEADERS})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{key}"]


async def test_a_nested_duplicate_key_is_refused_too(client) -> None:
    body = b'{"symbol": "BTCUSDT", "side": "long", "x": {"a": 1, "a": 2}}'
    response = await client.post("/suggest/stop", content=body,
                                 headers={"content-type": "application/json"})
    assert response.status_code == 422 and "body.a" in response.text


@pytest.mark.parametrize("path", ["/suggest/stop", "/risk/check", "/orders"])
@pytest.mark.parametrize("depth", [65, 1000, 5000])
async def test_a_body_nested_too_deeply_is_422_naming_the_body(client, path, depth) -> None:
    """Nesting a thousand deep took the JSON parsers past their recursion limit: a 500."""
    body = (b'{"symbol": "BTCUSDT", "side": "long", "x": ' + b"[" * (depth - 1)
            + b"]" * (depth - 1) + b"}")
    response = await client.post(path, content=body, headers={
        "content-type": "application/json", **HEADERS})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "body", "type": "json_too_deep",
                                          "message": "nested deeper than 64 levels"}]


async def test_brackets_inside_strings_and_modest_nesting_are_not_depth() -> None:
    assert not nests_deeper_than(b'{"note": "' + b"[" * 500 + b'"}', 64)
    backslash_then_brackets = b'{"a": "\\\\", "b": "' + b"{" * 100 + b'"}'  # "a": one \
    assert not nests_deeper_than(backslash_then_brackets, 64)
    escaped_quote = b'{"a": "\\"' + b"{" * 100 + b'"}'  # the quote is in the string
    assert not nests_deeper_than(escaped_quote, 64)
    assert not nests_deeper_than(b"[" * 64 + b"]" * 64, 64)
    assert nests_deeper_than(b"[" * 65 + b"]" * 65, 64)
    assert not nests_deeper_than(b"[[]]" * 100, 64)


async def test_bodies_without_duplicates_are_read_as_before(client) -> None:
    response = await client.post("/suggest/stop", json={"symbol": "BTCUSDT", "side": "long"})
    assert response.status_code == 200, response.text
    broken = await client.post("/suggest/stop", content=b'{"symbol": ',
                               headers={"content-type": "application/json"})
    assert broken.status_code == 422


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/map/BTCUSDT", "/symbols", "/model",
                                  "/map/BTCUSDT.svg", "/ui", "/openapi.json", "/metrics"])
async def test_head_answers_like_get_without_a_body(client, path) -> None:
    get = await client.get(path)
    head = await client.head(path)
    assert head.status_code == get.status_code
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


async def test_head_on_the_event_stream_ends(client) -> None:
    head = await client.head("/stream/maps")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/event-stream")


async def test_head_on_a_post_only_route_is_405(client) -> None:
    response = await client.head("/orders")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


async def test_an_unreachable_store_is_503_without_its_address() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    config = Settings(_env_file=None, symbols="BTCUSDT", windows="7d")
    app = make_app(config, with_worker=False, store=BandStore(dead))
    async with asgi_client(app) as client:
        for response in (await client.get("/readyz"), await client.get("/map/BTCUSDT"),
                         await client.get("/symbols"),
                         await client.post("/suggest/stop", json={"symbol": "BTCUSDT",
                                                                  "side": "long"})):
            assert response.status_code == 503, response.text
            assert "127.0.0.1" not in response.text and ":1" not in response.text
            assert "redis unreachable" in response.text
