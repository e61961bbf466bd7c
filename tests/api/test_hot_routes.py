"""The hot-path dispatch (`api.hot_routes`) answers `GET /map/{symbol}` and `POST
/suggest/stop` exactly as FastAPI's routes do: the same app over the same store without the
dispatch (`hot_routes=False`) is the reference, request by request (status, headers, body;
only `age_s`, which moves with the clock, is left out of the comparison), for valid requests,
for the problems the answer raises, and for everything the dispatch passes on to FastAPI
(bad parameters, unknown query parameters, duplicate keys, other content types, oversize
bodies). A spy on FastAPI's router checks which requests the dispatch took itself."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.store import BandStore
from tests.api.test_maps import SYMBOLS, make_settings
from tests.support.apps import asgi_client


class Apps:
    """The app with the dispatch (`fast`) and without (`reference`), over one store; `routed`
    counts the requests of `fast` that reached FastAPI's router."""

    def __init__(self, fast, reference, fast_app, store: BandStore, redis: Redis) -> None:
        self.fast, self.reference, self.store, self.redis = fast, reference, store, redis
        self.fast_app = fast_app
        self.routed = 0
        router = fast_app.router
        inner = router.middleware_stack

        async def counting(scope, receive, send) -> None:
            if scope["type"] == "http":
                self.routed += 1
            await inner(scope, receive, send)

        router.middleware_stack = counting

    async def both(self, method: str, url: str, **kwargs: Any) -> tuple[Any, Any, bool]:
        """(fast answer, reference answer, whether the dispatch answered it itself)."""
        before = self.routed
        fast = await self.fast.request(method, url, **kwargs)
        taken = self.routed == before
        reference = await self.reference.request(method, url, **kwargs)
        return fast, reference, taken


@pytest.fixture
async def apps(redis_client: Redis):
    config = make_settings()
    store = BandStore(redis_client)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, config)
    assert (await worker.tick()).failed == {}
    fast_app = make_app(config, with_worker=False, store=store)
    reference_app = make_app(config, with_worker=False, store=store, hot_routes=False)
    async with asgi_client(fast_app) as fast, asgi_client(reference_app) as reference:
        yield Apps(fast, reference, fast_app, store, redis_client)


def _without_age(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_age(v) for k, v in value.items() if k != "age_s"}
    return value


def _text(response) -> bytes:
    return response.content  # httpx inflates a gzip body (a gzip member per answer)


def assert_same(fast, reference) -> None:
    """Same status and headers (lengths aside: `age_s` has as many digits as it has), and the
    same body but for `age_s` (byte for byte when it has none)."""
    assert fast.status_code == reference.status_code, (fast.text, reference.text)
    heads = [{k: v for k, v in r.headers.items() if k != "content-length"}
             for r in (fast, reference)]
    assert heads[0] == heads[1]
    texts = [_text(r) for r in (fast, reference)]
    if fast.headers.get("content-type", "").endswith("json") and texts[0]:
        parsed = [orjson.loads(t) for t in texts]
        assert _without_age(parsed[0]) == _without_age(parsed[1])
        assert list(parsed[0]) == list(parsed[1])  # the same keys in the same order
        if "age_s" not in texts[0].decode():
            assert texts[0] == texts[1]
    else:  # a chart names the map's age: figures aside, the same drawing
        assert re.sub(rb"[0-9.]+", b"", texts[0]) == re.sub(rb"[0-9.]+", b"", texts[1])


GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.mark.parametrize(("url", "headers", "taken"), [
    ("/map/BTCUSDT", GZIP, True),
    ("/map/BTCUSDT", IDENTITY, True),
    ("/map/BTCUSDT?window=7d", GZIP, True),
    ("/map/ETHUSDT?window=1d&exchange=all", IDENTITY, True),
    ("/map/BTC-PERP?exchange=ftx&window=30d", GZIP, True),
    ("/map/BTCUSDT?exchange=nosuch", IDENTITY, True),  # 404 raised by the answer
    ("/map/BTCUSDT?window=", IDENTITY, False),
    ("/map/BTCUSDT?window=2d", IDENTITY, False),
    ("/map/BTCUSDT?windw=7d", IDENTITY, False),
    ("/map/BTCUSDT?window=7d&window=1d", IDENTITY, False),
    ("/map/BTCUSDT?exchange=BAD", IDENTITY, False),
    ("/map/BTCUSDT?leverage=10&leverage=25", IDENTITY, False),
    ("/map/btcusdt", IDENTITY, False),
    ("/map/NOPE", IDENTITY, False),
    ("/map/BTC$", IDENTITY, False),
    ("/map/BTCUSDT.svg", IDENTITY, False),
    ("/map/BTCUSDT/heatmap.svg", IDENTITY, False),
])
async def test_map_answers_are_fastapis(apps: Apps, url: str, headers: dict, taken: bool
                                        ) -> None:
    fast, reference, was_taken = await apps.both("GET", url, headers=headers)
    assert_same(fast, reference)
    assert was_taken is taken


async def test_map_etag_304_and_head_are_fastapis(apps: Apps) -> None:
    first, _, _ = await apps.both("GET", "/map/BTCUSDT", headers=IDENTITY)
    tag = first.headers["etag"]
    fast, reference, taken = await apps.both("GET", "/map/BTCUSDT",
                                             headers={"If-None-Match": tag, **GZIP})
    assert fast.status_code == 304 and taken
    assert_same(fast, reference)
    fast, reference, taken = await apps.both("HEAD", "/map/BTCUSDT?window=1d", headers=GZIP)
    assert fast.status_code == 200 and fast.content == b"" and taken
    assert_same(fast, reference)


async def test_a_missing_map_is_fastapis_503(apps: Apps) -> None:
    exchange = (await apps.fast.get("/map/ETHUSDT?window=7d")).json()["exchange"]
    await apps.redis.delete(f"execsvc:map:{exchange}:ETHUSDT:7d")
    apps.fast_app.state.ctx.cache.revalidate_s = 0.0
    fast, reference, taken = await apps.both("GET", "/map/ETHUSDT?window=7d")
    assert fast.status_code == 503 and taken
    assert_same(fast, reference)


def _post(body: Any, **headers: str) -> dict[str, Any]:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return {"content": content, "headers": {"content-type": "application/json", **headers}}


STOP = {"symbol": "BTCUSDT", "side": "long"}


@pytest.mark.parametrize(("request_", "taken"), [
    (_post(STOP), True),
    (_post({**STOP, "risk_usd": 500, "window": "1d"}), True),
    (_post({**STOP, "side": "sell", "leverage": 20, "quantity": 0.5, "max_loss_pct": 1}), True),
    (_post({**STOP, "leverage": 10, "margin_mode": "cross", "account_equity_quote": 5000,
            "quantity": 1}), True),
    (_post({**STOP, "entry_price": 1.0}), True),  # 422 raised by the answer
    (_post({**STOP, "symbol": "NOPE"}), True),  # 404 raised by the answer
    (_post({**STOP, "exchange": "nosuch"}), True),
    (_post({**STOP, "symbol": "BTC$"}), False),
    (_post({**STOP, "side": "flat"}), False),
    (_post({**STOP, "stop": 1}), False),
    (_post({**STOP, "quantity": "1"}), False),
    (_post({**STOP, "risk_usd": 10, "risk_quote": 10}), False),
    (_post({**STOP, "margin_mode": "cross"}), False),
    (_post({"side": "long"}), False),
    (_post(b'{"symbol": "BTCUSDT", "side": "long", "entry_price": NaN}'), False),
    (_post(b'{"symbol": "BTCUSDT", "side": "long", "side": "short"}'), True),  # RequestFilter
    (_post(b'{"symbol": "BTCUSDT", '), False),
    (_post(b"[1, 2]"), False),
    (_post(b'{"symbol": "BTCUSDT", "side": "long", "quantity": 1e400}'), False),
    (_post(b'{"symbol": "BTCUSDT", "side": "long", "quantity": 100000000000000000000000}'),
     False),
    (_post(b'{"symbol": "BTCUSDT", "side": "long", "exchange": "\\ud800"}'), False),
    (_post(b""), False),
    ({"content": orjson.dumps(STOP), "headers": {"content-type": "text/plain"}}, False),
    ({"content": orjson.dumps(STOP),
      "headers": {"content-type": "application/json; charset=utf-8"}}, False),
    ({"content": b"x" * 70_000, "headers": {"content-type": "application/json"}},
     True),  # refused by RequestFilter
])
async def test_stop_answers_are_fastapis(apps: Apps, request_: dict, taken: bool) -> None:
    fast, reference, was_taken = await apps.both("POST", "/suggest/stop", **request_)
    assert_same(fast, reference)
    assert was_taken is taken  # taken: FastAPI's router was not reached


async def test_a_query_string_on_stop_is_fastapis_422(apps: Apps) -> None:
    fast, reference, taken = await apps.both("POST", "/suggest/stop?window=1d", **_post(STOP))
    assert fast.status_code == 422 and not taken
    assert_same(fast, reference)


async def test_a_stale_map_is_fastapis_503_for_stops(apps: Apps) -> None:
    exchange = (await apps.fast.get("/map/BTCUSDT?window=7d")).json()["exchange"]
    key = f"execsvc:map:{exchange}:BTCUSDT:7d"
    await apps.redis.hset(key, "computed_at_ms", int(time.time() * 1000) - 3_600_000)
    await apps.redis.hincrby(key, "version", 1)
    fast, reference, taken = await apps.both("POST", "/suggest/stop", **_post(STOP))
    assert fast.status_code == 503 and taken
    assert_same(fast, reference)


async def test_the_metrics_label_the_dispatched_routes(apps: Apps) -> None:
    await apps.fast.get("/map/BTCUSDT")
    await apps.fast.post("/suggest/stop", **_post(STOP))
    text = (await apps.fast.get("/metrics")).text
    assert 'handler="/map/{symbol}",method="GET",status="200"' in text
    assert 'handler="/suggest/stop",method="POST",status="200"' in text


prices = st.floats(80_000, 100_000)
stop_bodies = st.fixed_dictionaries(
    {"symbol": st.sampled_from(["BTCUSDT", "ETHUSDT", "BTC-PERP"]),
     "side": st.sampled_from(["long", "short", "buy", "sell"])},
    optional={"entry_price": st.one_of(prices, st.floats(1_000, 4_000), st.integers(1, 10**6)),
              "risk_usd": st.sampled_from([100, 250, 500, 1000, 0.5]),
              "quantity": st.floats(0.001, 50), "max_loss_pct": st.floats(0.05, 20),
              "leverage": st.floats(1, 125), "window": st.sampled_from(["1d", "7d", "30d"]),
              "exchange": st.sampled_from(["all", "ftx", "nosuch"])},
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=stop_bodies)
async def test_stops_with_their_own_entries_are_fastapis(apps: Apps, body: dict) -> None:
    fast, reference, taken = await apps.both("POST", "/suggest/stop", **_post(body))
    assert_same(fast, reference)
    assert taken


junk = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=8)
                    | st.integers(-(2**63), 2**63 - 1), lambda inner: st.lists(inner, max_size=3),
                    max_leaves=4)
junk_bodies = st.dictionaries(
    st.sampled_from(["symbol", "side", "entry_price", "quantity", "risk_usd", "risk_quote",
                     "max_loss_pct", "leverage", "margin_mode", "account_equity_quote",
                     "window", "exchange", "extra"]),
    junk, max_size=6)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=junk_bodies)
async def test_any_body_is_answered_as_fastapi_answers_it(apps: Apps, body: dict) -> None:
    fast, reference, _ = await apps.both("POST", "/suggest/stop", **_post({**STOP, **body}))
    assert_same(fast, reference)
    assert fast.status_code in (200, 404, 422, 503)


async def test_a_store_fault_is_the_apps_503_answered_once() -> None:
    """Redis unreachable: the dispatch answers the 503 the app's handler gives (reason
    `store_unavailable`), itself, without running the request again through FastAPI."""
    config = make_settings()
    dead = Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    store = BandStore(dead)
    fast_app = make_app(config, with_worker=False, store=store)
    reference_app = make_app(config, with_worker=False, store=store, hot_routes=False)
    async with asgi_client(fast_app) as fast, asgi_client(reference_app) as reference:
        apps = Apps(fast, reference, fast_app, store, dead)
        stop = {"symbol": "BTCUSDT", "side": "long", "risk_usd": 100}
        for method, url, kwargs in (("GET", "/map/BTCUSDT", {"headers": IDENTITY}),
                                    ("POST", "/suggest/stop", {"json": stop})):
            answer, expected, taken = await apps.both(method, url, **kwargs)
            assert answer.status_code == 503, answer.text
            assert answer.json()["reason"] == "store_unavailable"
            assert_same(answer, expected)
            assert taken
    await dead.aclose()
