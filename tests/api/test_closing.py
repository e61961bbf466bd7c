"""Closing is always possible (issue 10, finding 6): with the worker stopped, a reduce-only order
passes on a stale map and, once maps and books have expired, fills at the last stored price;
positions keep a mark (the last price, flagged stale) and paper liquidations go on from it."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from execsvc.domain.map_document import map_summary
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client

KEY = "closing-key-0123456789abcdef"
HEADERS = {"X-API-Key": KEY}


@pytest.fixture
async def stopped_worker(redis_client: Redis):
    """The worker ran once; the tests then age (or expire) what it stored."""
    config = Settings(_env_file=None, symbols="BTCUSDT", windows="7d", api_keys=KEY,
                      paper_starting_balance_quote=1_000_000)
    store = BandStore(redis_client)
    assert (await MapWorker(ReplaySource(720, ["BTCUSDT"]), store, config).tick()).failed == {}
    app = make_app(config, with_worker=False, store=store)
    async with asgi_client(app) as client:
        yield client, app, store


LAST = "execsvc:last:hyperliquid:BTCUSDT"  # the worker's last price (store.band_store)


async def last_price(store: BandStore) -> float | None:
    price = await store.redis.hget(LAST, "price")
    return None if price is None else float(price)


async def worker_stopped(app, store: BandStore, seconds: float, *, expired: bool,
                         price: float | None = None) -> None:
    """As if the worker stopped `seconds` ago: its maps and last price are that old (the last
    price `price` if given), and with `expired` the maps and books are gone (their TTL ran
    out). The API's read cache forgets what it held."""
    then = int((time.time() - seconds) * 1000)
    stored = await store.get_map("hyperliquid", "BTCUSDT", "7d")
    await store.put_map(stored.document, map_summary(stored.document), computed_at_ms=then)
    await store.redis.hset(LAST, mapping={
        "price": repr(price or await last_price(store) or stored.document["price"]),
        "at_ms": then})
    if expired:
        for pattern in ("execsvc:map:*", "execsvc:book:*"):
            for key in await store.redis.keys(pattern):
                await store.redis.delete(key)
    cache = app.state.ctx.cache
    for name in ("_maps", "_books", "_prices", "_checked"):
        getattr(cache, name, {}).clear()


def order(cid: str, side: str, quantity: float, **extra) -> dict:
    return {"client_order_id": cid, "symbol": "BTCUSDT", "side": side, "type": "market",
            "quantity": quantity, **extra}


async def test_reduce_only_orders_pass_on_a_stale_map(stopped_worker) -> None:
    client, app, store = stopped_worker
    opened = await client.post("/orders", json=order("open", "buy", 0.5), headers=HEADERS)
    assert opened.status_code == 201, opened.text
    await worker_stopped(app, store, 60, expired=False)
    more = await client.post("/orders", json=order("more", "buy", 0.1), headers=HEADERS)
    assert more.status_code == 503 and more.json()["reason"] == "map_stale"
    close = await client.post("/orders", json=order("close", "sell", 0.2, reduce_only=True),
                              headers=HEADERS)
    assert close.status_code == 201, close.text
    assert close.json()["status"] == "filled"


async def test_after_maps_and_books_expire_marks_and_closing_go_on(stopped_worker) -> None:
    client, app, store = stopped_worker
    opened = (await client.post("/orders", json=order("open", "buy", 0.5),
                                headers=HEADERS)).json()
    last = await last_price(store)
    assert last is not None, "the worker stored a last price"
    await worker_stopped(app, store, 300, expired=True)
    assert await store.get_book("hyperliquid", "BTCUSDT") is None
    positions = (await client.get("/positions", headers=HEADERS)).json()["positions"]
    assert positions[0]["mark_price"] == pytest.approx(last)
    assert positions[0]["mark_stale"] is True
    close = await client.post("/orders", json=order("close", "sell", 0.5, reduce_only=True),
                              headers=HEADERS)
    assert close.status_code == 201, close.text
    closed = close.json()
    assert closed["status"] == "filled" and closed["average_price"] == pytest.approx(last)
    assert (await client.get("/positions", headers=HEADERS)).json()["positions"] == []
    assert opened["status"] == "filled"


async def test_paper_liquidations_go_on_from_the_last_price(stopped_worker) -> None:
    """Books have expired but the worker still stores prices (the book feed failed): a price
    through the position's liquidation price liquidates it."""
    client, app, store = stopped_worker
    await client.post("/orders", json=order("lev", "buy", 0.5, leverage=20), headers=HEADERS)
    position = (await client.get("/positions", headers=HEADERS)).json()["positions"][0]
    await worker_stopped(app, store, 0, expired=True,
                         price=position["liquidation_price"] * 0.99)
    accounts = app.state.ctx.venue.accounts
    accounts._last_mid.clear()
    events = await accounts.poll_market(["BTCUSDT"])
    assert [e["type"] for e in events] == ["position_liquidated"]
    assert (await client.get("/positions", headers=HEADERS)).json()["positions"] == []


@pytest.mark.parametrize("extra", [
    {"leverage": 50},  # over the policy's max_leverage of 20
    {"type": "limit", "price": 1000.0},  # outside the policy's 10 % price collar
])
async def test_a_refused_closing_order_without_a_map_is_a_422_not_a_500(stopped_worker, extra
                                                                         ) -> None:
    """A reduce-only order the policy refuses after the maps expired: its 422 names the
    violation and the largest quantity the quantity rules pass (on no lot grid: the grid
    came with the map, which is gone). It was a 500: the answer read the missing map's grid."""
    client, app, store = stopped_worker
    await client.post("/orders", json=order("open", "buy", 0.5), headers=HEADERS)
    await worker_stopped(app, store, 300, expired=True)
    close = await client.post("/orders", json={**order("close", "sell", 0.5, reduce_only=True),
                                               **extra}, headers=HEADERS)
    assert close.status_code == 422, close.text
    body = close.json()
    assert body["type"] == "urn:execsvc:risk-rejected"
    assert body["risk_map_exchange"] is None
    assert body["max_quantity"] > 0.5
