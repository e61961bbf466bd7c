"""The live path end to end: real ccxt against the local Binance USD-M server -> worker ->
real redis-server -> HTTP API."""

from __future__ import annotations

import httpx
from binance_stub import BinanceStub
from redis.asyncio import Redis

from execsvc.api.app import create_app
from execsvc.market.ccxt_source import CcxtSource
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.worker import MapWorker


async def test_worker_builds_maps_from_the_exchange(
    binance_stub: BinanceStub, redis_client: Redis
) -> None:
    settings = Settings(
        _env_file=None, source="ccxt", symbols="BTCUSDT,ETHUSDT", windows="1d",
        ccxt_timeframe="5m",
    )
    source = CcxtSource.from_settings(settings, base_url=binance_stub.base_url)
    store = BandStore(redis_client)
    try:
        report = await MapWorker(source, store, settings).tick()
    finally:
        await source.close()
    assert report.failed == {} and report.built == 2
    paths = {r.path for r in binance_stub.requests}
    assert {"/fapi/v1/klines", "/futures/data/openInterestHist", "/fapi/v1/premiumIndex"} <= paths

    app = create_app(settings, store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        body = (await c.get("/map/BTCUSDT", params={"window": "1d"})).json()
    assert body["exchange"] == "binanceusdm" and body["model"] == "oi_delta"
    assert body["stale"] is False and body["candles_used"] > 200
    assert body["totals"]["long_notional_quote"] + body["totals"]["short_notional_quote"] > 0
