"""The live-like configuration end to end: ccxt's real clients for Binance USD-M, Bybit, OKX and
Hyperliquid against local servers (tests/support), one worker tick on a real redis-server, and
the four venues' maps summed under `all`; a venue that times out is dropped and named while
the others are summed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.runtime import make_market_sources
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.venue_servers import BybitServer, HyperliquidServer, OkxServer
from tests.support.venues import assert_shares_add_up

VENUES = ["binanceusdm", "bybit", "okx", "hyperliquid"]


@pytest.fixture
def servers(binance_stub) -> Iterator[dict]:
    with BybitServer() as bybit, OkxServer() as okx, HyperliquidServer() as hyperliquid:
        yield {"binanceusdm": binance_stub, "bybit": bybit, "okx": okx,
               "hyperliquid": hyperliquid}


def live_settings(servers: dict, **overrides: object) -> Settings:
    options: dict[str, object] = {
        "source": "ccxt", "symbols": ["BTCUSDT"], "windows": "1d", "ccxt_timeout_ms": 2_000,
        "exchanges": ",".join(VENUES), "max_map_age_s": 300,
        "exchange_base_urls": {venue: server.base_url for venue, server in servers.items()}}
    return Settings(_env_file=None, **{**options, **overrides})


async def tick_all(config: Settings, redis_client: Redis) -> tuple[MapWorker, dict]:
    store = BandStore(redis_client)
    worker = MapWorker(make_market_sources(config, store, retry_attempts=1), store, config)
    try:
        report = await worker.tick()
    finally:
        await worker.close()
    stored = await store.get_map("all", "BTCUSDT", "1d")
    assert stored is not None, report.failed
    return report, stored.document


async def test_four_live_venues_are_summed(servers: dict, redis_client: Redis) -> None:
    report, summed = await tick_all(live_settings(servers), redis_client)
    assert report.failed == {}
    assert [v["exchange"] for v in summed["venues"]] == VENUES
    assert all(v["included"] for v in summed["venues"]) and summed["dropped"] == []
    assert all(v["long_notional_quote"] + v["short_notional_quote"] > 0
               for v in summed["venues"])
    assert_shares_add_up(summed)


async def test_a_venue_that_times_out_is_dropped_and_named(servers: dict,
                                                           redis_client: Redis) -> None:
    servers["okx"].delay_s = 3.0
    report, summed = await tick_all(live_settings(servers, ccxt_timeout_ms=400), redis_client)
    assert "okx:BTCUSDT" in report.failed
    included = [v["exchange"] for v in summed["venues"] if v["included"]]
    assert included == ["binanceusdm", "bybit", "hyperliquid"]
    dropped = {d["exchange"]: d["reason"] for d in summed["dropped"]}
    assert list(dropped) == ["okx"] and "RequestTimeout" in dropped["okx"]
    assert_shares_add_up(summed)
