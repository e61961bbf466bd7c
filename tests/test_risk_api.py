"""The risk gate (rate, duplicates, audit) and `POST /risk/check`, on a real redis-server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from execsvc.api import routes_risk
from execsvc.api.app import create_app
from execsvc.api.auth import key_id
from execsvc.liqmap.margin import BINANCE_USDM_BRACKETS
from execsvc.market.replay import ReplaySource
from execsvc.orders.model import OrderRequest
from execsvc.risk.gate import ANONYMOUS, RiskGate
from execsvc.risk.policy import Policy, load_policy
from execsvc.risk.rules import (
    DUPLICATE_ORDER,
    LEVERAGE_EXCEEDS_MAX,
    NOTIONAL_EXCEEDS_MAX,
    RATE_LIMITED,
    STOP_INSIDE_CLUSTER,
    RiskContext,
    RiskOrder,
)
from execsvc.settings import Settings
from execsvc.store import BandStore, StoreUnavailable
from execsvc.worker import MapWorker

POLICIES = Path(__file__).resolve().parent.parent / "policies"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]
KEY = "test-key-123"


def gate_policy(per_minute: int = 3) -> Policy:
    policy = load_policy(POLICIES / "default.toml")
    return policy.model_copy(update={"max_orders_per_minute": per_minute})


CONTEXT = RiskContext(50_000.0, BINANCE_USDM_BRACKETS["BTCUSDT"])


def order(coid: str = "c-1", **fields) -> OrderRequest:
    values = {"symbol": "BTCUSDT", "side": "buy", "type": "market", "quantity": 0.1, **fields}
    return OrderRequest(coid, **values)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---- gate --------------------------------------------------------------------------------


async def test_rate_limit_per_key_in_fixed_minutes(redis_client: Redis) -> None:
    clock = Clock(1_700_000_020.0)  # 40 s into a minute (1_699_999_980 is a minute start)
    gate, policy = RiskGate(redis_client, clock=clock), gate_policy(3)
    for n in range(3):
        assert (await gate.admit(policy, order(f"a{n}"), CONTEXT, "k1", f"o{n}")).allowed
    refused = await gate.admit(policy, order("a3"), CONTEXT, "k1", "o3")
    assert refused.codes == (RATE_LIMITED,)
    assert (refused.violations[0].limit, refused.violations[0].value) == (3, 4)
    assert (await gate.admit(policy, order("a0"), CONTEXT, "k2", "p0")).allowed  # other key
    ttl = await redis_client.pttl(gate._rate_key("k1"))
    assert 0 < ttl <= 120_000
    clock.now += 20  # the next minute starts
    assert (await gate.admit(policy, order("a4"), CONTEXT, "k1", "o4")).allowed
    assert await gate.orders_this_minute("k1") == 1


async def test_duplicate_client_order_ids(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client), gate_policy(100)
    assert (await gate.admit(policy, order("same"), CONTEXT, "k1", "order-1")).allowed
    again = await gate.admit(policy, order("same"), CONTEXT, "k1", "order-2")
    assert again.codes == (DUPLICATE_ORDER,) and not again.allowed
    assert "'same'" in again.violations[0].message
    assert await gate.order_id_for("k1", "same") == "order-1"
    assert (await gate.admit(policy, order("same"), CONTEXT, "k2", "order-3")).allowed
    ttl = await redis_client.pttl(gate._coid_key("k1", "same"))
    assert 6 * 86_400_000 < ttl <= 7 * 86_400_000


async def test_a_refused_order_does_not_use_up_its_id(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client), gate_policy(100)
    refused = await gate.admit(policy, order("fix-me", leverage=100), CONTEXT, "k1", "o1")
    assert refused.codes == (LEVERAGE_EXCEEDS_MAX,)
    assert await gate.order_id_for("k1", "fix-me") is None
    assert (await gate.admit(policy, order("fix-me"), CONTEXT, "k1", "o2")).allowed
    both = await gate.admit(policy, order("fix-me", leverage=100), CONTEXT, "k1", "o3")
    assert set(both.codes) == {LEVERAGE_EXCEEDS_MAX, DUPLICATE_ORDER}


async def test_check_counts_nothing_and_claims_nothing(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client), gate_policy(2)
    probe = RiskOrder("BTCUSDT", "buy", 0.1, client_order_id="x1")
    for _ in range(5):
        assert (await gate.check(policy, probe, CONTEXT, "k1")).allowed
    assert await gate.orders_this_minute("k1") == 0
    assert await gate.order_id_for("k1", "x1") is None
    await gate.admit(policy, order("x1"), CONTEXT, "k1", "o1")
    await gate.admit(policy, order("x2"), CONTEXT, "k1", "o2")
    decision = await gate.check(policy, probe, CONTEXT, "k1")
    assert set(decision.codes) == {RATE_LIMITED, DUPLICATE_ORDER}
    assert (await gate.check(policy, probe, CONTEXT, ANONYMOUS)).allowed


async def test_every_decision_is_audited_with_the_policy_version(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client), gate_policy(100)
    await gate.check(policy, RiskOrder("BTCUSDT", "sell", 9.0, price=50_100), CONTEXT,
                     key_id(KEY))
    await gate.admit(policy, order("z1", stop_price=49_000.0), CONTEXT, key_id(KEY), "o-9")
    entries = await redis_client.xrange("execsvc:audit")
    assert len(entries) == 2
    check, placed = ({k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries)
    assert check["kind"] == "check" and placed["kind"] == "order"
    for entry in (check, placed):
        assert (entry["policy"], entry["policy_version"]) == ("default", "1.0.0")
        assert entry["api_key_id"] == key_id(KEY) != KEY
        assert KEY not in entry.values()
        assert int(entry["ts"]) > 1_600_000_000_000
    assert (check["allowed"], check["codes"], check["side"]) == (
        "false", NOTIONAL_EXCEEDS_MAX, "sell")
    assert (check["quantity"], check["price"], check["stop_price"]) == ("9.0", "50100.0", "")
    assert (placed["allowed"], placed["codes"], placed["order_id"]) == ("true", "", "o-9")
    assert (placed["client_order_id"], placed["stop_price"]) == ("z1", "49000.0")


async def test_audit_stream_is_trimmed(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client, audit_maxlen=10), gate_policy(1_000)
    probe = RiskOrder("BTCUSDT", "buy", 0.1)
    for _ in range(300):
        await gate.check(policy, probe, CONTEXT)
    assert 10 <= await redis_client.xlen("execsvc:audit") < 300


async def test_unreachable_redis_is_store_unavailable(redis_server) -> None:
    dead = Redis(port=1, socket_connect_timeout=0.2)
    with pytest.raises(StoreUnavailable):
        await RiskGate(dead).check(gate_policy(), RiskOrder("BTCUSDT", "buy", 0.1), CONTEXT,
                                   "k1")
    await dead.aclose()


# ---- POST /risk/check --------------------------------------------------------------------


def with_risk(app: FastAPI, policy: Policy, gate: RiskGate) -> FastAPI:
    """Set the app's policy and gate; include the router unless the app already serves it."""
    app.state.policy = policy
    app.state.risk_gate = gate
    if not any(getattr(route, "path", None) == "/risk/check" for route in app.routes):
        app.include_router(routes_risk.router)
    return app


@pytest.fixture
async def served(redis_client: Redis):
    config = Settings(_env_file=None, symbols=",".join(SYMBOLS), windows="1d,7d",
                      api_keys=KEY)
    store = BandStore(redis_client)
    assert (await MapWorker(ReplaySource(720, SYMBOLS), store, config).tick()).failed == {}
    app = with_risk(create_app(config, store), load_policy(POLICIES / "default.toml"),
                    RiskGate(redis_client))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
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
    assert body["max_quantity"] == pytest.approx(250_000 / doc["price"])
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
    assert "USDT" in notional["message"] and notional["severity"] == "error"
    assert found[LEVERAGE_EXCEEDS_MAX]["value"] == 50
    assert body["max_quantity"] == pytest.approx(150_000 / body["mark_price"])
    entries = await redis_client.xrange("execsvc:audit")
    last = {k.decode(): v.decode() for k, v in entries[-1][1].items()}
    assert last["kind"] == "check" and last["api_key_id"] == ANONYMOUS
    assert set(last["codes"].split(",")) == set(found)


async def test_stop_inside_a_map_cluster_is_refused(served) -> None:
    client, app = served
    doc = (await client.get("/map/BTCUSDT", params={"window": "7d"})).json()
    dense = [c for c in doc["clusters"] if c["side"] == "long" and c["intensity"] >= 0.25]
    target = min(dense, key=lambda c: c["distance_pct"])
    app.state.policy = app.state.policy.model_copy(update={
        "default": app.state.policy.default.model_copy(update={"price_collar_pct": 99})})
    stop = (target["price_low"] + target["price_high"]) / 2
    body = (await client.post("/risk/check", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 0.01, "stop_price": stop})).json()
    assert [v["code"] for v in body["violations"]] == [STOP_INSIDE_CLUSTER]
    assert body["allowed"] is False and body["violations"][0]["value"] == stop


async def test_check_with_an_api_key_sees_its_rate_and_ids(served) -> None:
    client, app = served
    gate: RiskGate = app.state.risk_gate
    app.state.policy = app.state.policy.model_copy(update={"max_orders_per_minute": 1})
    body = {"symbol": "BTCUSDT", "side": "buy", "quantity": 0.01, "client_order_id": "k-1"}
    assert (await client.post("/risk/check", json=body, headers={"X-API-Key": KEY})).json()[
        "allowed"]
    await gate.admit(app.state.policy, order("k-1", quantity=0.01), CONTEXT, key_id(KEY), "o")
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


async def test_missing_map_and_missing_policy_are_503(served, redis_client) -> None:
    client, app = served
    body = {"symbol": "BTCUSDT", "side": "buy", "quantity": 0.01}
    await redis_client.delete("execsvc:map:binanceusdm:BTCUSDT:7d")
    app.state.advice._maps.clear()
    response = await client.post("/risk/check", json=body)
    assert (response.status_code, response.json()["reason"]) == (503, "map_missing")
    app.state.policy = load_policy(POLICIES / "risk-desk-example.toml")  # reads the 1d map
    assert (await client.post("/risk/check", json=body)).status_code == 200
    app.state.policy = app.state.policy.model_copy(update={"map_window": "30d"})
    response = await client.post("/risk/check", json=body)
    assert (response.status_code, response.json()["reason"]) == (503, "policy_window_missing")
    app.state.policy = None
    response = await client.post("/risk/check", json=body)
    assert (response.status_code, response.json()["reason"]) == (503, "policy_missing")
