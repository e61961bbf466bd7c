"""Live mode through the API (issue 10, findings 1 and 7): real ccxt against the local Binance
order stub (two exchange accounts), maps built by the worker from the stub, a real
redis-server. Concurrent copies of an order reach the exchange once; each API key trades on its
own exchange account and sees only its own positions and balance."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.runtime import ccxt_source, make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client
from tests.support.binance_orders import ORDER_PATH, BinanceOrderStub
from tests.support.binance_stub import DEFAULT_API_KEY, DEFAULT_SECRET

ALICE = {"X-API-Key": "alice-service-key-0123456789"}
BOB = {"X-API-Key": "bob-service-key-9876543210ab"}
BOB_EXCHANGE = ("bob-exchange-key-55555", "bob-exchange-secret-66666")


@pytest.fixture
def stub() -> Iterator[BinanceOrderStub]:
    with BinanceOrderStub() as server:
        server.add_account(*BOB_EXCHANGE)
        yield server


def live_settings(stub: BinanceOrderStub, **overrides) -> Settings:
    accounts = [
        {"api_key": ALICE["X-API-Key"], "exchange_api_key": DEFAULT_API_KEY,
         "exchange_secret": DEFAULT_SECRET},
        {"api_key": BOB["X-API-Key"], "exchange_api_key": BOB_EXCHANGE[0],
         "exchange_secret": BOB_EXCHANGE[1]},
    ]
    values = {"source": "ccxt", "trading_mode": "live", "symbols": "BTCUSDT", "windows": "7d",
              "ccxt_timeframe": "5m", "exchange_base_url": stub.base_url,
              "live_accounts": json.dumps(accounts), "live_request_timeout_s": 10}
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def client(stub: BinanceOrderStub, redis_client: Redis) -> AsyncIterator:
    settings = live_settings(stub)
    store = BandStore(redis_client)
    source = ccxt_source(settings)
    try:
        assert (await MapWorker(source, store, settings).tick()).failed == {}
    finally:
        await source.close()
    app = make_app(settings, with_worker=False, store=store)
    async with asgi_client(app) as c:
        yield c
    await app.state.ctx.venue.close()


def market(cid: str, quantity: float = 0.01) -> dict:
    return {"client_order_id": cid, "symbol": "BTCUSDT", "side": "buy", "type": "market",
            "quantity": quantity}


async def test_fifty_concurrent_identical_orders_reach_the_exchange_once(client, stub) -> None:
    stub.delay(0.3, path=ORDER_PATH)
    answers = await asyncio.gather(*(client.post("/orders", json=market("race-50"),
                                                 headers=ALICE) for _ in range(50)))
    assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers][:3]
    posts = [r for r in stub.requests if r.method == "POST" and r.path == ORDER_PATH]
    assert len(posts) == 1 and len(stub.orders) == 1
    assert {a.json()["exchange_order_id"] for a in answers} == {str(stub.orders[0].order_id)}


async def test_each_key_sees_only_its_own_account(client, stub) -> None:
    placed = await client.post("/orders", json=market("mine-1", 0.02), headers=ALICE)
    assert placed.status_code == 201, placed.text
    alice = (await client.get("/positions", headers=ALICE)).json()["positions"]
    bob = (await client.get("/positions", headers=BOB)).json()["positions"]
    assert [(p["symbol"], p["size"]) for p in alice] == [("BTCUSDT", pytest.approx(0.02))]
    assert bob == [], "key B never sees key A's position"
    alice_account = (await client.get("/account", headers=ALICE)).json()
    bob_account = (await client.get("/account", headers=BOB)).json()
    assert alice_account["position_margin_quote"] > 0 == bob_account["position_margin_quote"]
    assert (await client.get("/orders/mine-1", headers=BOB)).status_code == 404
    (order,) = stub.orders
    assert order.account == DEFAULT_API_KEY, "sent on Alice's exchange account"


def test_several_keys_on_one_exchange_account_are_refused() -> None:
    with pytest.raises(ValueError, match="EXECSVC_LIVE_ACCOUNTS"):
        Settings(_env_file=None, source="ccxt", trading_mode="live",
                 api_keys="key-one-0123456789,key-two-0123456789",
                 exchange_api_key="k", exchange_secret="s")
    with pytest.raises(ValueError, match="own exchange account"):
        Settings(_env_file=None, source="ccxt", trading_mode="live", live_accounts=json.dumps([
            {"api_key": "a", "exchange_api_key": "same", "exchange_secret": "s"},
            {"api_key": "b", "exchange_api_key": "same", "exchange_secret": "s"}]))
