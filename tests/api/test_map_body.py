"""`GET /map/{symbol}` from the stored bytes: the same document as the parsed path, gzip as
one valid member, ETag and 304 per version and staleness."""

from __future__ import annotations

import gzip
import time
import zlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from execsvc.api.map_body import MapBody, accepts_gzip, matches
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.store import BandStore, MapFreshness
from tests.api.test_maps import SYMBOLS, make_settings
from tests.support.apps import asgi_client

IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture
async def served(redis_client: Redis):
    config = make_settings()
    store = BandStore(redis_client)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, config)
    assert (await worker.tick()).failed == {}
    app = make_app(config, with_worker=False, store=store)
    app.state.ctx.cache.revalidate_s = 0.0  # every request sees the stored version
    async with asgi_client(app) as client:
        yield client, store, worker, redis_client, app


def without_age(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "age_s"}


async def test_the_stored_bytes_are_served_with_the_freshness_fields_last(served) -> None:
    client, store, _, redis, _ = served
    response = await client.get("/map/BTCUSDT", params={"window": "7d"}, headers=IDENTITY)
    exchange = response.json()["exchange"]
    stored = await redis.hget(f"execsvc:map:{exchange}:BTCUSDT:7d", "doc")
    assert response.status_code == 200 and "content-encoding" not in response.headers
    assert response.content.startswith(stored[:-1] + b',"version":1,"computed_at":')
    parsed = await store.get_map(exchange, "BTCUSDT", "7d")
    expected = {**parsed.document, "version": 1, "computed_at_ms": parsed.computed_at_ms,
                "stale": False}
    body = response.json()
    assert list(body)[-5:] == ["version", "computed_at", "computed_at_ms", "age_s", "stale"]
    assert without_age(body) == {**without_age(expected), "computed_at": body["computed_at"]}


async def test_gzip_is_one_member_holding_the_identity_body(served) -> None:
    client, *_ = served
    plain = await client.get("/map/BTCUSDT", params={"window": "7d"}, headers=IDENTITY)
    async with client.stream("GET", "/map/BTCUSDT", params={"window": "7d"},
                             headers={"Accept-Encoding": "gzip"}) as packed:
        compressed = b"".join([chunk async for chunk in packed.aiter_raw()])
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = decoder.decompress(compressed)
    assert decoder.eof and decoder.unused_data == b""
    assert without_age(orjson.loads(text)) == without_age(plain.json())
    assert gzip.decompress(compressed) == text
    assert int(packed.headers["content-length"]) < len(plain.content) / 3


async def test_if_none_match_answers_304_until_the_version_or_staleness_changes(
        served) -> None:
    client, _, worker, redis, _ = served
    first = await client.get("/map/ETHUSDT", params={"window": "1d"})
    tag = first.headers["etag"]
    assert tag == 'W/"1-fresh"'
    same = await client.get("/map/ETHUSDT", params={"window": "1d"},
                            headers={"If-None-Match": f'"other", {tag}'})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == tag
    assert (await worker.tick()).failed == {}
    newer = await client.get("/map/ETHUSDT", params={"window": "1d"},
                             headers={"If-None-Match": tag})
    assert newer.status_code == 200 and newer.headers["etag"] == 'W/"2-fresh"'
    assert newer.json()["version"] == 2
    old_ms = int(time.time() * 1000) - 3_600_000
    exchange = newer.json()["exchange"]
    await redis.hset(f"execsvc:map:{exchange}:ETHUSDT:1d", "computed_at_ms", old_ms)
    stale = await client.get("/map/ETHUSDT", params={"window": "1d"},
                             headers={"If-None-Match": newer.headers["etag"]})
    assert stale.status_code == 200 and stale.headers["etag"] == 'W/"2-stale"'
    assert stale.json()["stale"] is True and stale.json()["computed_at_ms"] == old_ms


async def test_a_version_read_is_trusted_for_the_revalidation_time(served) -> None:
    client, _, worker, _, app = served
    cache = app.state.ctx.cache
    cache.revalidate_s = 3600.0
    assert (await client.get("/map/BTCUSDT")).json()["version"] == 1
    assert (await worker.tick()).failed == {}
    trusted = await client.get("/map/BTCUSDT")
    assert trusted.json()["version"] == 1 and trusted.headers["etag"] == 'W/"1-fresh"'
    cache.revalidate_s = 0.0
    assert (await client.get("/map/BTCUSDT")).json()["version"] == 2


@given(head=st.binary(max_size=3000).map(lambda b: b'{"a":' + orjson.dumps(b.hex())),
       version=st.integers(1, 2**40), age=st.floats(0, 1e6, allow_nan=False))
def test_gzipped_body_decompresses_to_the_body(head: bytes, version: int, age: float) -> None:
    body = MapBody.of(MapFreshness(version, 0, None, 0.0), head + b"}")
    fresh = {"version": version, "computed_at": "2024-01-01T00:00:00Z", "computed_at_ms": 0,
             "age_s": age, "stale": False}
    for _ in range(2):  # the compressed head is made once, then reused
        packed = body.gzipped(fresh)
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert decoder.decompress(packed) == body.body(fresh)
        assert decoder.eof and decoder.unused_data == b""
    assert orjson.loads(body.body(fresh)) == {**orjson.loads(head + b"}"), **fresh}


@pytest.mark.parametrize(("header", "expected"), [
    ("gzip", True), ("gzip, deflate, br", True), ("br;q=1.0, GZIP;q=0.5", True), ("*", True),
    ("gzip;q=0", False), ("gzip;q=0.0", False), ("identity", False), ("", False), (None, False),
    ("deflate", False), ("*;q=0, gzip", True), ("gzip;q=0, *", False), ("deflate, *", True),
])
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@pytest.mark.parametrize(("header", "expected"), [
    ('W/"3-fresh"', True), ('"3-fresh"', True), ('"1-fresh", W/"3-fresh"', True), ("*", True),
    ('W/"3-stale"', False), ('W/"33-fresh"', False), ("", False), (None, False),
])
def test_if_none_match_compares_weakly(header: str | None, expected: bool) -> None:
    assert matches(header, 'W/"3-fresh"') is expected
