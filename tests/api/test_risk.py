"""`POST /risk/check` over a real redis-server."""

from __future__ import annotations

import math

import pytest
from redis.asyncio import Redis

from execsvc.api.auth import key_id
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.risk.gate import ANONYMOUS, RiskGate
from execsvc.risk.policy import load_policy
from execsvc.risk.rules import (
    DUPLICATE_ORDER,
    LEVERAGE_EXCEEDS_MAX,
    NOTIONAL_EXCEEDS_MAX,
    RATE_LIMITED,
    STOP_INSIDE_CLUSTER,
)
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client
from tests.support.risk import CONTEXT, POLICIES, order

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]
KEY = "test-key-123"


@pytest.fixture
async def served(redis_client: Redis):
    config = Settings(_env_file=None, symbols=",".join(SYMBOLS), windows="1d,7d",
                      api_keys=KEY)
    store = BandStore(redis_client)
    assert (await MapWorker(ReplaySource(720, SYMBOLS), store, config).tick()).failed == {}
    app = make_app(config, with_worker=False, store=store,
                   policy=load_policy(POLICIES / "default.toml"))
    async with asgi_client(app) as c:
        yield c, app


async def test_check_answers_allowed_with_max_quantity(served) -> None:
    client, _ = served
    doc = (await client.get("/map/BTCUSDT", params={"window": "7d"})).json()
    response = await client.post("/risk/check", json={
        "symbol": "btcusdt", "side": "buy", "quantity": 0.01, "leverage": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allowed"] is True and body["violations"] == []
    assert body["policy"] == {"name": "default", "version": "1.0.0"}
    assert body["symbol"] == "BTCUSDT" and body["mark_price"] == doc["price"]
    assert body["max_quantity"] == math.floor(250_000 / doc["price"] * 1000) / 1000  # lots
    assert body["map"]["version"] == doc["version"] and body["map"]["stale"] is False


async def test_check_refuses_with_codes_limits_and_values(served, redis_client) -> None:
    client, _ = served
    body = (await client.post("/risk/check", json={
        "symbol": "ETHUSDT", "side": "sell", "quantity": 1_000, "leverage": 50})).json()
    assert body["allowed"] is False
    found = {v["code"]: v for v in body["violations"]}
    assert set(found) >= {NOTIONAL_EXCEEDS_MAX, LEVERAGE_EXCEEDS_MAX}
    notional = found[NOTIONAL_EXCEEDS_MAX]
    assert notional["limit"] == 150_000 and notional["rule"] == "max_order_notional_quote"
    assert notional["value"] == pytest.approx(1_000 * body["mark_price"])
    assert "USDC" in notional["message"] and notional["severity"] == "error"  # Hyperliquid
    assert found[LEVERAGE_EXCEEDS_MAX]["value"] == 50
    assert body["max_quantity"] == math.floor(150_000 / body["mark_price"] * 1000) / 1000
    entries = await redis_client.xrange("execsvc:audit")
    last = {k.decode(): v.decode() for k, v in entries[-1][1].items()}
    assert last["kind"] == "check" and last["api_key_id"] == ANONYMOUS
    assert set(last["codes"].split(",")) == set(found)


async def test_stop_inside_a_map_cluster_is_refused(served) -> None:
    client, app = served
    doc = (await client.get("/map/BTCUSDT", params={"window": "7d"})).json()
    dense = [c for c in doc["clusters"] if c["side"] == "long" and c["intensity"] >= 0.25]
    target = min(dense, key=lambda c: c["distance_pct"])
    app.state.ctx.policy = app.state.ctx.policy.model_copy(update={
        "default": app.state.ctx.policy.default.model_copy(update={"price_collar_pct": 99})})
    stop = (target["price_low"] + target["price_high"]) / 2
    body = (await client.post("/risk/check", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 0.01, "stop_price": stop})).json()
    assert [v["code"] for v in body["violations"]] == [STOP_INSIDE_CLUSTER]
    assert body["allowed"] is False and body["violations"][0]["value"] == stop


async def test_check_with_an_api_key_sees_its_rate_and_ids(served) -> None:
    client, app = served
    gate: RiskGate = app.state.ctx.risk_gate
    app.state.ctx.policy = app.state.ctx.policy.model_copy(update={"max_orders_per_minute": 1})
    body = {"symbol": "BTCUSDT", "side": "buy", "quantity": 0.01, "client_order_id": "k-1"}
    assert (await client.post("/risk/check", json=body, headers={"X-API-Key": KEY})).json()[
        "allowed"]
    await gate.admit(app.state.ctx.policy, order("k-1", quantity=0.01), CONTEXT, key_id(KEY), "o")
    answer = (await client.post("/risk/check", json=body, headers={"X-API-Key": KEY})).json()
    assert {v["code"] for v in answer["violations"]} == {RATE_LIMITED, DUPLICATE_ORDER}
    assert (await client.post("/risk/check", json=body)).json()["allowed"]  # anonymous
    wrong = await client.post("/risk/check", json=body, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"symbol": "BTCUSDT", "side": "long", "quantity": 1}, "body.side"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 0}, "body.quantity"),
    ({"symbol": "BTCUSDT", "side": "buy"}, "body.quantity"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "price": "NaN"}, "body.price"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "stop_price": -5}, "body.stop_price"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "leverage": 0.5}, "body.leverage"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "qty": 1}, "body.qty"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "client_order_id": "a b"},
     "body.client_order_id"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "type": "limit"}, "body.price"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "type": "stop"}, "body.stop_price"),
    ({"symbol": "BTCUSDT", "side": "buy", "quantity": 1, "type": "market", "price": 1},
     "body.price"),
])
async def test_bad_input_is_422_naming_the_field(served, body, field) -> None:
    client, _ = served
    response = await client.post("/risk/check", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_unknown_symbol_is_404(served) -> None:
    client, _ = served
    response = await client.post("/risk/check", json={
        "symbol": "DOGEUSDT", "side": "buy", "quantity": 1})
    assert response.status_code == 404
    assert "DOGEUSDT" in response.json()["detail"]


async def test_missing_map_and_policy_window_are_503(served, redis_client) -> None:
    client, app = served
    body = {"symbol": "BTCUSDT", "side": "buy", "quantity": 0.01}
    await redis_client.delete("execsvc:map:hyperliquid:BTCUSDT:7d")
    app.state.ctx.cache._maps.clear()
    response = await client.post("/risk/check", json=body)
    assert (response.status_code, response.json()["reason"]) == (503, "map_missing")
    app.state.ctx.policy = load_policy(POLICIES / "risk-desk-example.toml")  # reads the 1d map
    assert (await client.post("/risk/check", json=body)).status_code == 200
    app.state.ctx.policy = app.state.ctx.policy.model_copy(update={"map_window": "30d"})
    response = await client.post("/risk/check", json=body)
    assert (response.status_code, response.json()["reason"]) == (503, "policy_window_missing")
