"""The Redis connection under load and faults (issue 10, finding 2), on a real redis-server of
the test's own: a blocking pool that waits instead of failing, and a restart that costs no
request even though every pooled connection died with the old server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from execsvc.settings import Settings
from execsvc.store import BandStore, StoreUnavailable
from execsvc.store.connection import connect, server_url
from tests.support.redis_server import RedisServer


@pytest.fixture
def own_redis(tmp_path: Path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def client_for(server: RedisServer, **overrides):
    return connect(Settings(_env_file=None, redis_url=server.url, **overrides))


async def hold_connections(client, count: int, seconds: float = 0.05) -> None:
    """`count` commands in flight at once, each holding its connection for `seconds`."""
    await asyncio.gather(*(client.blpop([f"nothing-{i}"], timeout=seconds)
                           for i in range(count)))


async def test_more_concurrent_commands_than_connections_wait_for_one(own_redis) -> None:
    client = client_for(own_redis, redis_max_connections=16)
    try:
        await hold_connections(client, 300)
        pool = client.connection_pool
        opened = len(pool._available_connections) + len(pool._in_use_connections)
        assert opened <= 16, "the pool never grows past its size"
    finally:
        await client.aclose()


async def test_a_restarted_redis_costs_no_request(own_redis) -> None:
    client = client_for(own_redis)
    try:
        await hold_connections(client, 20)
        assert len(client.connection_pool._available_connections) == 20, "20 idle connections"
        own_redis.restart()
        results = await asyncio.gather(*(client.incr("after-restart") for _ in range(20)),
                                       return_exceptions=True)
        assert [r for r in results if isinstance(r, Exception)] == []
        assert int(await client.get("after-restart")) == 20
    finally:
        await client.aclose()


async def test_a_frozen_redis_is_reported_within_the_socket_timeout(own_redis) -> None:
    """SIGSTOP: the store answers StoreUnavailable ("timed out", no address) in about the socket
    timeout, not after a retry per attempt; once thawed it answers again."""
    store = BandStore(client_for(own_redis))
    try:
        await store.ping()
        own_redis.freeze()
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreUnavailable) as failure:
            await store.ping()
        assert asyncio.get_running_loop().time() - started < 4.0
        assert str(failure.value) == "redis unreachable: timed out"
        own_redis.thaw()
        await store.ping()
    finally:
        own_redis.thaw()
        await store.redis.aclose()


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6390/2", "redis://user:p%40ss%3Aword@cache.internal:6380/0",
    "rediss://:secret@cache.internal:6380/1", "unix:///tmp/execsvc/valkey.sock?db=0",
])
def test_server_url_reaches_the_same_server_with_the_same_credentials(url: str) -> None:
    client = Redis.from_url(url)
    again = Redis.from_url(server_url(client))
    names = ("host", "port", "db", "username", "password", "path")
    assert ({n: again.connection_pool.connection_kwargs.get(n) for n in names}
            == {n: client.connection_pool.connection_kwargs.get(n) for n in names})
    assert again.connection_pool.connection_class is client.connection_pool.connection_class


def test_the_in_process_store_has_no_server_url() -> None:
    with pytest.raises(ValueError, match="in-process"):
        server_url(connect(Settings(_env_file=None, data_dir=None)))
