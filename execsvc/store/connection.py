"""The Redis client: a real server when `EXECSVC_REDIS_URL` is set, else an in-process
Redis-compatible store (fakeredis, with Lua) that runs exactly the same code."""

from __future__ import annotations

import fakeredis
from redis.asyncio import Redis

from execsvc.settings import Settings


def connect(settings: Settings) -> Redis:
    if settings.redis_url is None:
        return fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=15,
    )


def is_embedded(redis: Redis) -> bool:
    return isinstance(redis, fakeredis.aioredis.FakeRedis)
