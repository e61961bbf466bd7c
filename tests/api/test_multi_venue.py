"""The API over several venues' maps on a real redis-server: `exchange=all|<venue>` on the map,
its SVG and the symbols list; advice, risk checks and orders read the sum by default, a venue
on request, and say which map they used."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client
from tests.support.venues import HOUR_MS, assert_shares_add_up, frozen_replay

KEY = "trader-key-0123456789abcdef"
HEADERS = {"X-API-Key": KEY}


@pytest.fixture
async def client(redis_client: Redis):
    """BTCUSDT on two venues, ETHUSDT on one."""
    config = Settings(_env_file=None, symbols="BTCUSDT,ETHUSDT", windows="1d,7d",
                      api_keys=KEY, paper_starting_balance_quote=1_000_000)
    store = BandStore(redis_client)
    sources = {"binanceusdm": frozen_replay(["BTCUSDT", "ETHUSDT"]),
               "bybit": frozen_replay(["BTCUSDT"], HOUR_MS)}
    worker = MapWorker(sources, store, config)
    assert (await worker.tick()).failed == {}
    async with asgi_client(make_app(config, with_worker=False, store=store)) as c:
        yield c


def problem_field(response) -> str:
    body = response.json()
    return body.get("field") or body["errors"][0]["field"]


async def test_the_map_is_the_sum_by_default_and_a_venue_on_request(client) -> None:
    summed = (await client.get("/map/BTCUSDT")).json()
    assert summed["exchange"] == "all" and summed["stale"] is False
    assert [v["exchange"] for v in summed["venues"]] == ["binanceusdm", "bybit"]
    assert_shares_add_up(summed)
    assert (await client.get("/map/BTCUSDT", params={"exchange": "all"})).json()["version"] == (
        summed["version"])
    bybit = (await client.get("/map/BTCUSDT", params={"exchange": "bybit"})).json()
    assert bybit["exchange"] == "bybit" and "venues" not in bybit
    one = (await client.get("/map/ETHUSDT")).json()
    assert one["exchange"] == "binanceusdm"
    alone = (await client.get("/map/ETHUSDT", params={"exchange": "all"})).json()
    assert alone["exchange"] == "binanceusdm", "one venue is its own sum"


@pytest.mark.parametrize(("symbol", "exchange"), [("BTCUSDT", "kraken"), ("ETHUSDT", "bybit")])
async def test_an_unknown_venue_is_404_naming_the_field(client, symbol, exchange) -> None:
    response = await client.get(f"/map/{symbol}", params={"exchange": exchange})
    assert response.status_code == 404
    assert problem_field(response) == "query.exchange"
    assert "all" in response.json()["detail"]
    svg = await client.get(f"/map/{symbol}.svg", params={"exchange": exchange})
    assert svg.status_code == 404 and problem_field(svg) == "query.exchange"


async def test_leverage_filter_leaves_out_the_venue_split(client) -> None:
    body = (await client.get("/map/BTCUSDT", params={"leverage": 10})).json()
    assert body["exchange"] == "all" and body["leverages"] == [10.0]
    assert "notional_by_venue_quote" not in body
    assert all("notional_by_venue_quote" not in c for c in body["clusters"])


async def test_symbols_list_the_venues(client) -> None:
    symbols = {s["symbol"]: s for s in (await client.get("/symbols")).json()["symbols"]}
    btc = symbols["BTCUSDT"]
    assert btc["exchange"] == "all" and btc["windows"]["7d"]["version"] == 1
    assert [v["exchange"] for v in btc["venues"]] == ["binanceusdm", "bybit"]
    assert all(not v["windows"]["7d"]["stale"] for v in btc["venues"])
    eth = symbols["ETHUSDT"]
    assert eth["exchange"] == "binanceusdm"
    assert [v["exchange"] for v in eth["venues"]] == ["binanceusdm"]


async def test_the_chart_draws_the_chosen_map(client) -> None:
    for exchange in ("all", "bybit"):
        response = await client.get("/map/BTCUSDT.svg", params={"exchange": exchange})
        assert response.status_code == 200
        assert f'data-exchange="{exchange}"' in response.text


@pytest.mark.parametrize("path", ["/suggest/stop", "/suggest/take-profit"])
async def test_advice_says_which_map_it_read(client, path) -> None:
    body = {"symbol": "BTCUSDT", "side": "long"}
    default = (await client.post(path, json=body)).json()
    assert default["map"]["exchange"] == "all"
    summed = (await client.get("/map/BTCUSDT")).json()
    assert default["entry_price"] == summed["price"]
    venue = (await client.post(path, json={**body, "exchange": "bybit"})).json()
    bybit = (await client.get("/map/BTCUSDT", params={"exchange": "bybit"})).json()
    assert venue["map"]["exchange"] == "bybit" and venue["entry_price"] == bybit["price"]
    unknown = await client.post(path, json={**body, "exchange": "kraken"})
    assert unknown.status_code == 404 and problem_field(unknown) == "body.exchange"


async def test_slicing_reads_the_sum_with_its_stats_venue_book(client) -> None:
    response = await client.post("/suggest/slice", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 5, "horizon_s": 600})
    assert response.status_code == 200, response.text
    assert response.json()["map"]["exchange"] == "all"


async def test_risk_check_and_orders_say_which_map_they_read(client) -> None:
    order = {"symbol": "BTCUSDT", "side": "buy", "quantity": 0.01, "leverage": 3}
    check = (await client.post("/risk/check", json=order)).json()
    assert check["map"]["exchange"] == "all" and check["allowed"]
    bybit = (await client.post("/risk/check", json={**order, "exchange": "bybit"})).json()
    assert bybit["map"]["exchange"] == "bybit"
    placed = await client.post("/orders", headers=HEADERS, json={
        "client_order_id": "o1", "symbol": "BTCUSDT", "side": "buy", "type": "market",
        "quantity": 0.01})
    assert placed.status_code == 201, placed.text
    assert placed.json()["risk_map_exchange"] == "all"
    on_venue = await client.post("/orders", headers=HEADERS, json={
        "client_order_id": "o2", "symbol": "BTCUSDT", "side": "buy", "type": "market",
        "quantity": 0.01, "exchange": "bybit"})
    assert on_venue.json()["risk_map_exchange"] == "bybit"
    unknown = await client.post("/orders", headers=HEADERS, json={
        "client_order_id": "o3", "symbol": "BTCUSDT", "side": "buy", "type": "market",
        "quantity": 0.01, "exchange": "kraken"})
    assert unknown.status_code == 404 and problem_field(unknown) == "body.exchange"
