"""Orders through the API in paper mode, over a real redis-server: auth, risk, fills against
the stored book, idempotency, cancel, positions and account."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client

KEY = "trader-key-0123456789abcdef"
HEADERS = {"X-API-Key": KEY}


@pytest.fixture
async def client(redis_client: Redis):
    config = Settings(_env_file=None, symbols="BTCUSDT,ETHUSDT", windows="1d,7d",
                      api_keys=f"{KEY},other-key-abcdef0123456789",
                      paper_starting_balance_quote=1_000_000)
    store = BandStore(redis_client)
    assert (await MapWorker(ReplaySource(720, ["BTCUSDT", "ETHUSDT"]), store,
                            config).tick()).failed == {}
    app = make_app(config, with_worker=False, store=store)
    async with asgi_client(app) as c:
        yield c


def market(cid: str, quantity: float = 1.0, side: str = "buy") -> dict:
    return {"client_order_id": cid, "symbol": "BTCUSDT", "side": side, "type": "market",
            "quantity": quantity}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}])
async def test_no_or_wrong_key_is_401_and_records_nothing(client, redis_client, headers) -> None:
    response = await client.post("/orders", json=market("c1"), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await redis_client.keys("execsvc:paper:*") == []
    assert await redis_client.xlen("execsvc:audit") == 0
    assert KEY not in response.text


async def test_market_orders_walk_and_consume_the_book(client) -> None:
    first = await client.post("/orders", json=market("m1", 1.2), headers=HEADERS)
    assert first.status_code == 201, first.text
    order = first.json()
    assert order["status"] == "filled" and order["filled_quantity"] == pytest.approx(1.2)
    assert len(order["fills"]) >= 1 and order["fees_quote"] > 0 and order["mode"] == "paper"
    second = (await client.post("/orders", json=market("m2", 1.2), headers=HEADERS)).json()
    assert second["average_price"] >= order["average_price"], "the thinner book costs more"
    positions = (await client.get("/positions", headers=HEADERS)).json()["positions"]
    assert [(p["symbol"], p["side"]) for p in positions] == [("BTCUSDT", "long")]
    assert positions[0]["size"] == pytest.approx(2.4)
    assert positions[0]["liquidation_price"] < positions[0]["entry_price"]
    account = (await client.get("/account", headers=HEADERS)).json()
    assert account["fees_paid_quote"] == pytest.approx(order["fees_quote"] + second["fees_quote"])


async def test_idempotent_on_client_order_id(client) -> None:
    first = await client.post("/orders", json=market("same", 0.5), headers=HEADERS)
    again = await client.post("/orders", json=market("same", 0.5), headers=HEADERS)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["fills"] == first.json()["fills"]
    fetched = (await client.get(f"/orders/{first.json()['id']}", headers=HEADERS)).json()
    assert first.json()["risk_map_exchange"] is not None
    for answer in (again.json(), fetched):  # the same keys as the first answer (OrderOut)
        assert set(answer) == set(first.json()) and answer["risk_map_exchange"] is None
        assert {k: v for k, v in answer.items() if k != "risk_map_exchange"} == {
            k: v for k, v in first.json().items() if k != "risk_map_exchange"}
    changed = await client.post("/orders", json=market("same", 0.7), headers=HEADERS)
    assert changed.status_code == 409 and changed.json()["code"] == "DUPLICATE_ORDER"
    positions = (await client.get("/positions", headers=HEADERS)).json()["positions"]
    assert positions[0]["size"] == pytest.approx(0.5), "filled once"


async def test_accounts_are_per_key(client) -> None:
    await client.post("/orders", json=market("k1", 0.5), headers=HEADERS)
    other = {"X-API-Key": "other-key-abcdef0123456789"}
    assert (await client.get("/positions", headers=other)).json()["positions"] == []
    order_id = (await client.get("/orders/k1", headers=HEADERS)).json()["id"]
    assert (await client.get(f"/orders/{order_id}", headers=other)).status_code == 404


async def test_risk_policy_refuses_and_audits(client, redis_client) -> None:
    response = await client.post("/orders", json=market("huge", 50.0), headers=HEADERS)
    assert response.status_code == 422, response.text
    body = response.json()
    codes = [v["code"] for v in body["violations"]]
    assert "NOTIONAL_EXCEEDS_MAX" in codes
    assert body["policy"] == "default@1.0.0" and 0 < body["max_quantity"] < 50
    entries = await redis_client.xrange("execsvc:audit")
    audit = {k.decode(): v.decode() for k, v in entries[-1][1].items()}
    assert audit["kind"] == "order" and audit["allowed"] == "false"
    assert (audit["policy"], audit["policy_version"]) == ("default", "1.0.0")
    assert "NOTIONAL_EXCEEDS_MAX" in audit["codes"] and audit["client_order_id"] == "huge"
    assert KEY not in str(audit) and len(audit["api_key_id"]) == 12
    assert (await client.get("/orders/huge", headers=HEADERS)).status_code == 404


async def test_audit_entries_carry_the_order_id_the_api_returns(client, redis_client) -> None:
    placed = (await client.post("/orders", json=market("aud-1", 0.1), headers=HEADERS)).json()
    again = await client.post("/orders", json=market("aud-1", 0.1), headers=HEADERS)
    assert again.status_code == 200 and again.json()["id"] == placed["id"]
    entries = [{k.decode(): v.decode() for k, v in fields.items()}
               for _, fields in await redis_client.xrange("execsvc:audit")]
    orders = [e for e in entries if e["kind"] == "order"]
    assert [(e["order_id"], e["client_order_id"], e["allowed"]) for e in orders] == [
        (placed["id"], "aud-1", "true")], "one entry, with the id the client got"
    assert placed["id"].startswith("po-")


async def test_limit_order_rests_and_cancels(client) -> None:
    doc = (await client.get("/map/BTCUSDT")).json()
    body = {"client_order_id": "l1", "symbol": "BTCUSDT", "side": "buy", "type": "limit",
            "quantity": 0.2, "price": round(doc["price"] * 0.97, 1)}
    placed = (await client.post("/orders", json=body, headers=HEADERS)).json()
    assert placed["status"] == "new" and placed["filled_quantity"] == 0
    fetched = (await client.get(f"/orders/{placed['id']}", headers=HEADERS)).json()
    assert fetched["status"] == "new"
    canceled = (await client.delete(f"/orders/{placed['id']}", headers=HEADERS)).json()
    assert canceled["status"] == "canceled"
    assert (await client.delete("/orders/nope", headers=HEADERS)).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "limit"}, "body.price"),
    ({"type": "stop"}, "body.stop_price"),
    ({"price": 100.0}, "body.price"),
    ({"quantity": 0}, "body.quantity"),
    ({"quantity": "NaN"}, "body.quantity"),
    ({"side": "long"}, "body.side"),
    ({"client_order_id": "has space"}, "body.client_order_id"),
    ({"leverage": 500}, "body.leverage"),
])
async def test_bad_orders_are_422_naming_the_field(client, body, field) -> None:
    response = await client.post("/orders", json={**market("bad"), **body}, headers=HEADERS)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_a_retry_after_a_store_outage_is_not_a_duplicate(client, redis_client) -> None:
    """The risk gate claimed the id, then placing failed (simulated by dropping the paper
    journal): the same request again is placed; a different body under that id is refused."""
    async def lose_the_paper_account() -> None:
        for key in await redis_client.keys("execsvc:paper:*"):
            await redis_client.delete(key)
        client._transport.app.state.ctx.venue.accounts._brokers.clear()

    first = await client.post("/orders", json=market("retry", 0.3), headers=HEADERS)
    assert first.status_code == 201
    await lose_the_paper_account()
    again = await client.post("/orders", json=market("retry", 0.3), headers=HEADERS)
    assert again.status_code == 201, again.text
    conflicting = await client.post("/orders", json=market("retry", 0.4), headers=HEADERS)
    assert conflicting.status_code == 409, "the venue knows the id"
    await lose_the_paper_account()
    other = await client.post("/orders", json=market("retry", 0.4), headers=HEADERS)
    assert other.status_code == 409 and other.json()["code"] == "DUPLICATE_ORDER", (
        "the gate knows it")


def test_live_trading_is_refused_on_replayed_prices() -> None:
    with pytest.raises(ValueError, match="SOURCE=ccxt"):
        Settings(_env_file=None, trading_mode="live", source="replay")


async def test_a_restarted_market_loop_loads_every_journaled_account(
    client, redis_client
) -> None:
    """After a restart the market loop must tick accounts whose owners have not called the API
    yet (their resting stops and liquidations): it loads every account with a journal."""
    from execsvc.venues.paper.accounts import PaperAccounts

    await client.post("/orders", json=market("open", 0.5), headers=HEADERS)
    app = client._transport.app
    fresh = PaperAccounts(redis_client, app.state.ctx.cache.latest_book)
    assert await fresh.load_journaled_accounts() != []
    assert fresh._brokers, "every journaled account has a broker"


async def test_a_paper_account_too_busy_is_503_not_500(client, monkeypatch) -> None:
    from execsvc.venues.paper.service import PaperBroker, PaperUnavailable

    async def busy(self, client_order_id: str):
        raise PaperUnavailable("journal execsvc:paper:x kept changing")

    monkeypatch.setattr(PaperBroker, "order_for_client_id", busy)
    response = await client.post("/orders", json=market("busy-1"), headers=HEADERS)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == "paper_account_busy"


async def test_paper_orders_keep_to_the_grid_and_answer_without_float_noise(client) -> None:
    off_lot = await client.post("/orders", json=market("g1", 0.0005), headers=HEADERS)
    assert off_lot.status_code == 422
    assert off_lot.json()["errors"][0]["field"] == "body.quantity"
    assert "lot 0.001" in off_lot.text
    off_tick = await client.post("/orders", headers=HEADERS, json={
        **market("g2", 0.1), "type": "limit", "price": 50_000.05})
    assert off_tick.status_code == 422 and "tick 0.1" in off_tick.text
    for cid, quantity in (("g3", 0.1), ("g4", 0.2), ("g5", 1.329)):
        response = await client.post("/orders", json=market(cid, quantity), headers=HEADERS)
        order = response.json()
        assert response.status_code == 201, response.text
        assert order["filled_quantity"] == quantity
        for fill in order["fills"]:
            assert round(fill["price"] * 10) == fill["price"] * 10
            assert len(repr(fill["quantity"]).split(".")[-1]) <= 3
    position = (await client.get("/positions", headers=HEADERS)).json()["positions"][0]
    assert position["size"] == 1.629  # 0.1 + 0.2 + 1.329, not 1.6289999999999998
    assert round(position["liquidation_price"] * 10) == position["liquidation_price"] * 10


async def test_a_stop_order_beyond_the_positions_liquidation_price_is_refused(client) -> None:
    opened = await client.post("/orders", headers=HEADERS, json={**market("l1", 0.5),
                                                                 "leverage": 20})
    assert opened.status_code == 201, opened.text
    position = (await client.get("/positions", headers=HEADERS)).json()["positions"][0]
    level = position["liquidation_price"]
    stop = {"client_order_id": "l2", "symbol": "BTCUSDT", "side": "sell", "type": "stop",
            "quantity": 0.5, "reduce_only": True, "stop_price": round(level - 50, 1)}
    refused = await client.post("/orders", headers=HEADERS, json=stop)
    assert refused.status_code == 422
    assert "STOP_BEYOND_LIQUIDATION" in [v["code"] for v in refused.json()["violations"]]
    clusters = (await client.get("/map/BTCUSDT", params={"window": "7d"})).json()["clusters"]
    inside = next(p for p in (round(level + k * 10, 1) for k in range(1, 400))
                  if not [c for c in clusters if c["price_low"] < p < c["price_high"]])
    accepted = await client.post("/orders", headers=HEADERS, json={
        **stop, "client_order_id": "l3", "stop_price": inside})
    assert accepted.status_code == 201, accepted.text
