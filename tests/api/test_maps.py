"""The map API over a real redis-server: answers, errors as problem+json, readiness, metrics."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]


def make_settings(**overrides) -> Settings:
    base = {"symbols": ",".join(SYMBOLS), "windows": "1d,7d,30d", "max_map_age_s": 30}
    return Settings(_env_file=None, **{**base, **overrides})


@pytest.fixture
async def ready(redis_client: Redis):
    """An app whose store holds one fresh tick of maps, and its client."""
    config = make_settings()
    store = BandStore(redis_client)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, config)
    assert (await worker.tick()).failed == {}
    app = make_app(config, with_worker=False, store=store)
    async with asgi_client(app) as client:
        yield client, store, worker


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def test_map_answers_with_bands_clusters_and_freshness(ready) -> None:
    client, _, _ = ready
    response = await client.get("/map/BTCUSDT", params={"window": "7d"})
    assert response.status_code == 200
    body = response.json()
    for field in ("bands", "clusters", "price", "model", "version", "computed_at",
                  "computed_at_ms", "age_s", "stale"):
        assert field in body
    assert body["symbol"] == "BTCUSDT" and body["window"] == "7d" and body["stale"] is False
    assert body["version"] == 1 and body["age_s"] < 30
    price = body["price"]
    longs = [c for c in body["clusters"] if c["side"] == "long"]
    shorts = [c for c in body["clusters"] if c["side"] == "short"]
    assert longs and shorts
    assert all(c["price_high"] <= price for c in longs)
    assert all(c["price_low"] >= price for c in shorts)
    bands = body["bands"]
    assert len(bands) == 2 * 200  # 20 % range in 10 bps bands on each side
    assert bands[199]["price_high"] == pytest.approx(price)
    assert sum(b["long_notional_quote"] for b in bands[200:]) == 0
    assert set(bands[0]) >= {"notional_by_leverage_quote", "cum_long_notional_quote", "intensity"}


async def test_lowercase_symbol_and_exchange_lookup(ready) -> None:
    client, _, _ = ready
    response = await client.get("/map/btc-perp", params={"window": "1d"})
    assert response.status_code == 200
    assert response.json()["exchange"] == "ftx" and response.json()["model"] == "volume_proxy"


async def test_symbols_lists_versions_and_freshness(ready) -> None:
    client, _, _ = ready
    body = (await client.get("/symbols")).json()
    assert [s["symbol"] for s in body["symbols"]] == SYMBOLS
    btc = body["symbols"][0]
    assert btc["windows"]["30d"] == {"version": 1, "age_s": pytest.approx(0, abs=30),
                                     "stale": False}
    assert btc["last_error"] is None


async def test_unknown_symbol_is_404(ready) -> None:
    client, _, _ = ready
    body = assert_problem(await client.get("/map/DOGEUSDT"), 404)
    assert body["field"] == "path.symbol" and "BTCUSDT" in body["detail"]


@pytest.mark.parametrize("window", ["2d", "", "7D", "30d%00"])
async def test_bad_window_is_422_naming_the_field(ready, window) -> None:
    client, _, _ = ready
    body = assert_problem(await client.get("/map/BTCUSDT", params={"window": window}), 422)
    assert body["errors"][0]["field"] == "query.window"


async def test_window_not_configured_is_422(redis_client: Redis) -> None:
    app = make_app(make_settings(windows="1d,7d"), with_worker=False, store=BandStore(redis_client))
    async with asgi_client(app) as c:
        body = assert_problem(await c.get("/map/BTCUSDT", params={"window": "30d"}), 422)
    assert body["errors"][0]["field"] == "query.window"


async def test_no_map_yet_is_503_and_not_ready(redis_client: Redis) -> None:
    app = make_app(make_settings(), with_worker=False, store=BandStore(redis_client))
    async with asgi_client(app) as c:
        body = assert_problem(await c.get("/map/BTCUSDT"), 503)
        assert body["reason"] == "map_missing"
        ready = assert_problem(await c.get("/readyz"), 503)
        assert "BTCUSDT 7d: no map yet" in ready["reasons"]
        assert "no worker heartbeat" in ready["reasons"]


async def test_store_unreachable_is_503_with_reason() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    app = make_app(make_settings(), with_worker=False, store=BandStore(dead))
    async with asgi_client(app) as c:
        body = assert_problem(await c.get("/map/BTCUSDT"), 503)
        assert body["reason"] == "store_unavailable" and "redis" in body["detail"]
        ready = assert_problem(await c.get("/readyz"), 503)
        assert "redis unreachable" in ready["reasons"][0]
        assert (await c.get("/healthz")).status_code == 200
        assert "execsvc_store_up 0.0" in (await c.get("/metrics")).text


async def test_ready_then_stale(ready, redis_client: Redis) -> None:
    client, _store, _ = ready
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    old = int(time.time() * 1000) - 120_000
    await redis_client.hset("execsvc:map:hyperliquid:BTCUSDT:7d", "computed_at_ms", old)
    body = (await client.get("/map/BTCUSDT")).json()
    assert body["stale"] is True and body["age_s"] >= 119
    reasons = assert_problem(await client.get("/readyz"), 503)["reasons"]
    assert any(r.startswith("BTCUSDT 7d: map is 120 s old") for r in reasons)


async def test_not_ready_names_every_reason_in_order(ready, redis_client: Redis) -> None:
    """Per symbol its windows (missing, stale, data stopped), then its failed refresh; the
    worker's heartbeat last: the whole 503 body, as one batched read of the store gives it."""
    client, store, worker = ready
    old = int(time.time() * 1000) - 120_000
    await redis_client.hset("execsvc:map:hyperliquid:BTCUSDT:7d", "computed_at_ms", old)
    await redis_client.hset("execsvc:map:hyperliquid:ETHUSDT:1d", "data_lag_s", 36_000)
    await redis_client.delete("execsvc:map:ftx:BTC-PERP:30d")
    await store.record_failure("hyperliquid", "ETHUSDT", "source: venue unreachable", old)
    await store.leave(worker.worker_id)
    body = assert_problem(await client.get("/readyz"), 503)
    assert body["reason"] == "not_ready" and body["detail"] == "not ready"
    assert body["reasons"] == [
        "BTCUSDT 7d: map is 120 s old (limit 30 s)",
        "ETHUSDT 1d: market data stopped (newest candle 36000 s behind the source's clock)",
        "ETHUSDT: last refresh failed: source: venue unreachable",
        "BTC-PERP 30d: no map yet",
        "no worker heartbeat",
    ]


async def test_metrics_expose_map_age_and_requests(ready) -> None:
    client, _, _ = ready
    await client.get("/map/BTCUSDT")
    text = (await client.get("/metrics")).text
    assert 'execsvc_map_version{symbol="BTCUSDT",window="7d"} 1.0' in text
    assert 'execsvc_map_stale{symbol="ETHUSDT",window="30d"} 0.0' in text
    assert 'handler="/map/{symbol}"' in text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    symbol=st.text(min_size=0, max_size=50),
    window=st.one_of(st.none(), st.text(max_size=10)),
    exchange=st.one_of(st.none(), st.text(max_size=50)),
)
async def test_no_input_gives_a_server_error(ready, symbol, window, exchange) -> None:
    client, _, _ = ready
    params = {k: v for k, v in {"window": window, "exchange": exchange}.items() if v is not None}
    response = await client.get(f"/map/{quote(symbol, safe='') or 'x'}", params=params)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("path", "params"), [
    ("/map/BTCUSDT", {"windw": "1d"}),
    ("/map/BTCUSDT.svg", {"window": "1d", "leverge": "10"}),
    ("/symbols", {"symbol": "BTCUSDT"}),
    ("/readyz", {"verbose": "1"}),
])
async def test_unknown_query_parameters_are_422_naming_them(ready, path, params) -> None:
    client, _, _ = ready
    body = assert_problem(await client.get(path, params=params), 422)
    known = {"window", "exchange", "leverage", "width", "height", "range_pct"}
    assert [e["field"] for e in body["errors"]] == [f"query.{k}" for k in params if k not in known]


@pytest.mark.parametrize(("path", "query", "repeated"), [
    ("/map/BTCUSDT", "window=1d&window=7d", ["query.window"]),
    ("/map/BTCUSDT", "exchange=all&window=7d&exchange=hyperliquid", ["query.exchange"]),
    ("/map/BTCUSDT.svg", "window=1d&width=800&width=900&leverage=10", ["query.width"]),
])
async def test_a_one_value_query_parameter_given_twice_is_422(ready, path, query, repeated
                                                              ) -> None:
    """The last value used to win silently (`?window=1d&window=7d` served 7d)."""
    client, _, _ = ready
    body = assert_problem(await client.get(f"{path}?{query}"), 422)
    assert [e["field"] for e in body["errors"]] == repeated
    assert body["errors"][0]["type"] == "repeated"


async def test_a_repeatable_query_parameter_may_repeat(ready) -> None:
    client, _, _ = ready
    response = await client.get("/map/BTCUSDT?window=7d&leverage=10&leverage=25")
    assert response.status_code == 200, response.text
    assert response.json()["leverages"] == [10, 25]


async def test_leverage_filters_bands_totals_and_clusters(ready) -> None:
    client, _, _ = ready
    whole = (await client.get("/map/BTCUSDT", params={"window": "7d"})).json()
    some = (await client.get("/map/BTCUSDT", params={"window": "7d",
                                                      "leverage": ["10", "40"]})).json()
    # the mix's 50x and 100x are capped to Hyperliquid's 40x for BTC
    assert whole["leverages"] == [10, 25, 40] and some["leverages"] == [10, 40]
    kept = [0, 2]
    for full, part in zip(whole["bands"], some["bands"], strict=True):
        assert part["notional_by_leverage_quote"] == [full["notional_by_leverage_quote"][i]
                                                      for i in kept]
        total = sum(part["notional_by_leverage_quote"])
        assert part["long_notional_quote"] + part["short_notional_quote"] == pytest.approx(
            total, abs=0.02)
    assert some["totals"]["long_notional_quote"] < whole["totals"]["long_notional_quote"]
    assert some["clusters"] and some["clusters"] != whole["clusters"]
    assert [c["rank"] for c in some["clusters"]] == list(range(1, len(some["clusters"]) + 1))
    assert (some["version"], some["stale"]) == (whole["version"], whole["stale"])
    body = assert_problem(await client.get("/map/BTCUSDT", params={"leverage": "7"}), 422)
    assert body["errors"][0]["field"] == "query.leverage" and "25x" in body["detail"]


async def test_method_not_allowed_lists_every_method_of_the_path(ready) -> None:
    client, _, _ = ready
    response = await client.request("PUT", "/orders/o-1")
    assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET, HEAD"
