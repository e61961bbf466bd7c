"""Shared fixtures: a real `redis-server` per test session on a free port (flushed per test),
the local Binance USD-M stub and the local liquidation stream server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from tests.support.binance_stub import BinanceStub
from tests.support.liquidation_streams import LiquidationStreams
from tests.support.redis_server import RedisServer

# Tests use the in-process store unless they start the durable embedded one on purpose (with
# a data directory of their own): nothing they do lands in the user's data directory.
os.environ["EXECSVC_DATA_DIR"] = ""


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def binance_stub() -> Iterator[BinanceStub]:
    """A running stub on a free 127.0.0.1 port, fresh state per test; `.base_url`, `.api_key`,
    `.secret`, `.requests` and the fault knobs are on it."""
    with BinanceStub() as stub:
        yield stub


@pytest.fixture
def streams() -> Iterator[LiquidationStreams]:
    """The local liquidation websocket server (Binance USD-M `forceOrder`, Bybit v5
    `allLiquidation`) on a free 127.0.0.1 port, fresh per test."""
    with LiquidationStreams() as server:
        yield server
