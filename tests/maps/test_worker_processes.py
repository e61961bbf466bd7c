"""Two `execsvc worker` processes on a real redis-server (issue 10, finding 9): they share the
symbols; one killed with SIGKILL vanishes from the worker registry and the other takes over its
symbols once their leases expire, so every map keeps being refreshed."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from redis.asyncio import Redis

from tests.support.redis_server import RedisServer
from tests.support.service import start_execsvc, stop

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]


async def lease_owners(redis: Redis) -> dict[str, str]:
    owners = {}
    for symbol in SYMBOLS:
        owner = await redis.get(f"execsvc:lease:{symbol}")
        if owner is not None:
            owners[symbol] = owner.decode()
    return owners


async def until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what}")


async def test_a_killed_worker_vanishes_and_the_other_takes_its_symbols(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    redis = Redis.from_url(server.url)
    env = {"EXECSVC_REDIS_URL": server.url, "EXECSVC_SYMBOLS": ",".join(SYMBOLS),
           "EXECSVC_WINDOWS": "1d", "EXECSVC_REFRESH_INTERVAL_S": "1",
           "EXECSVC_LOG_LEVEL": "WARNING"}
    log = tmp_path / "workers.log"
    workers = [start_execsvc("worker", env, log) for _ in range(2)]
    try:
        async def shared() -> bool:
            owners = await lease_owners(redis)
            return len(owners) == 3 and len(set(owners.values())) == 2

        await until(shared, 30, "two workers sharing the three symbols")
        registered = {m.decode() for m in await redis.zrange("execsvc:workers", 0, -1)}
        victim = next(w for w in registered if w.endswith(f"-{workers[0].pid}"))
        workers[0].send_signal(signal.SIGKILL)
        assert workers[0].wait(timeout=10) == -signal.SIGKILL
        killed_at = time.monotonic()

        async def taken_over() -> bool:
            owners = await lease_owners(redis)
            listed = {m.decode() for m in await redis.zrange("execsvc:workers", 0, -1)}
            return (len(owners) == 3 and set(owners.values()) == registered - {victim}
                    and victim not in listed)

        await until(taken_over, 25, "the survivor holding every lease, the victim unlisted")
        versions = {s: await redis.get(f"execsvc:mapver:hyperliquid:{s}:1d") for s in SYMBOLS
                    if s != "BTC-PERP"}
        await asyncio.sleep(2.5)
        for symbol, version in versions.items():
            later = await redis.get(f"execsvc:mapver:hyperliquid:{symbol}:1d")
            assert int(later) > int(version), f"{symbol} is refreshed again"
        assert time.monotonic() - killed_at < 25
    finally:
        for worker in workers:
            stop(worker)
        await redis.aclose()
        server.stop()
