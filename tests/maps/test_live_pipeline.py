"""The live path end to end: real ccxt against the local Binance USD-M server -> worker ->
real redis-server -> HTTP API."""

from __future__ import annotations

import numpy as np
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.market.incremental import IncrementalHistory
from execsvc.runtime import ccxt_source, make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client
from tests.support.binance_stub import BinanceStub


async def test_worker_builds_maps_from_the_exchange(
    binance_stub: BinanceStub, redis_client: Redis
) -> None:
    settings = Settings(
        _env_file=None, source="ccxt", symbols="BTCUSDT,ETHUSDT", windows="1d,7d",
        ccxt_timeframe="5m",
    )
    source = ccxt_source(settings, base_url=binance_stub.base_url)
    store = BandStore(redis_client)
    try:
        report = await MapWorker(source, store, settings).tick()
    finally:
        await source.close()
    assert report.failed == {} and report.built == 4
    paths = {r.path for r in binance_stub.requests}
    assert {"/fapi/v1/klines", "/futures/data/openInterestHist", "/fapi/v1/premiumIndex"} <= paths

    app = make_app(settings, with_worker=False, store=store)
    async with asgi_client(app) as c:
        body = (await c.get("/map/BTCUSDT", params={"window": "1d"})).json()
    assert body["exchange"] == "binanceusdm" and body["model"] == "oi_delta"
    assert body["stale"] is False and body["candles_used"] > 200
    assert body["totals"]["long_notional_quote"] + body["totals"]["short_notional_quote"] > 0


async def test_later_ticks_fetch_only_new_history(binance_stub: BinanceStub) -> None:
    settings = Settings(_env_file=None, source="ccxt", symbols="BTCUSDT", ccxt_timeframe="1m")
    source = IncrementalHistory(ccxt_source(settings, base_url=binance_stub.base_url))
    try:
        now = await source.now_ms("BTCUSDT")
        first = await source.candles("BTCUSDT", now - 2 * 86_400_000)
        first_oi = await source.open_interest("BTCUSDT", now - 2 * 86_400_000)
        calls = len(binance_stub.requests)
        second = await source.candles("BTCUSDT", now - 2 * 86_400_000 + 60_000)
        second_oi = await source.open_interest("BTCUSDT", now - 2 * 86_400_000 + 60_000)
        later = binance_stub.requests[calls:]
    finally:
        await source.close()
    klines = [r for r in later if r.path == "/fapi/v1/klines"]
    assert len(klines) == 1, "one request from the newest stored candle, not 2 days again"
    assert int(klines[0].query["startTime"]) == int(first.open_time_ms[-1])
    assert len(first) > 2 * 1440 - 5
    assert second.open_time_ms[0] >= now - 2 * 86_400_000 + 60_000
    assert second.open_time_ms[-1] >= first.open_time_ms[-1]
    assert np.all(np.diff(second.open_time_ms) == 60_000), "no gap, no duplicate"
    assert len(second_oi) >= len(first_oi) - 1
