"""`PolledOpenInterest`: ccxt's real Hyperliquid client polls open interest from the local
server; each poll lands in a real redis-server and the history grows with the polls."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from execsvc.maps.oi_history import PolledOpenInterest, keep_polled_open_interest
from execsvc.market.sources import build_market_sources
from execsvc.runtime import make_market_sources
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.oi_samples import OpenInterestSamples
from tests.support.venue_servers import BybitServer, HyperliquidServer

MINUTE_MS = 60_000


class Clock:
    """A wall clock standing one second into the current minute, moved by hand (seconds);
    shared by the server and the source."""

    def __init__(self) -> None:
        self.start_s = time.time() // 60 * 60 + 1.0
        self.offset_s = 0.0

    def __call__(self) -> float:
        return self.start_s + self.offset_s

    def ms(self) -> int:
        return int(self() * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def servers(clock: Clock) -> Iterator[dict]:
    with HyperliquidServer(clock.ms) as hyperliquid, BybitServer(clock.ms) as bybit:
        yield {"hyperliquid": hyperliquid, "bybit": bybit}


def settings_for(servers: dict) -> Settings:
    return Settings(_env_file=None, source="ccxt", symbols=["BTCUSDT"], exchanges=list(servers),
                    exchange_base_urls={v: s.base_url for v, s in servers.items()})


async def test_polls_build_a_stored_history(servers: dict, clock: Clock,
                                            redis_client: Redis) -> None:
    samples = OpenInterestSamples(redis_client, retention_ms=60 * MINUTE_MS, max_samples=1_000)
    inner = build_market_sources(settings_for(servers), retry_attempts=1, clock=clock)
    wrapped = keep_polled_open_interest(inner, samples)
    assert isinstance(wrapped["hyperliquid"], PolledOpenInterest)
    assert wrapped["bybit"] is inner["bybit"]  # it has a history of its own
    source = wrapped["hyperliquid"]
    try:
        start = clock.ms()
        model = servers["hyperliquid"].markets["BTCUSDT"]
        seen = []
        for _ in range(3):
            seen.append(await source.open_interest("BTCUSDT", start - 10 * MINUTE_MS))
            clock.offset_s += 60.0
        assert [len(oi) for oi in seen] == [1, 2, 3]
        last = seen[-1]
        assert (last.time_ms[1:] - last.time_ms[:-1]).tolist() == [MINUTE_MS, MINUTE_MS]
        poll_ms = clock.ms() - 60_000
        assert last.oi_quote[-1] == pytest.approx(
            model.open_interest_at(poll_ms) * model.close_at(poll_ms), rel=2e-3)
        stored, _ = await samples.history("hyperliquid", "BTCUSDT", 0)
        assert stored.tolist() == last.time_ms.tolist()
        later = await source.open_interest("BTCUSDT", int(last.time_ms[-1]))
        assert later.time_ms[0] >= last.time_ms[-1] and len(later) == 2
        assert source.venue == "hyperliquid" and source.symbols()[0].exchange == "hyperliquid"
    finally:
        for each in wrapped.values():
            await each.close()


async def test_the_history_outlives_the_process(servers: dict, clock: Clock,
                                                redis_client: Redis) -> None:
    """A restarted worker reads the samples the previous one stored."""
    store = BandStore(redis_client)
    for _ in range(2):
        sources = make_market_sources(settings_for(servers), store, clock=clock)
        try:
            oi = await sources["hyperliquid"].open_interest("BTCUSDT", 0)
        finally:
            for each in sources.values():
                await each.close()
        clock.offset_s += 60.0
    assert len(oi) == 2
