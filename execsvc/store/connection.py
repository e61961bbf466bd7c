"""The Redis client: a real server when `EXECSVC_REDIS_URL` is set, else an in-process
Redis-compatible store (fakeredis, with Lua) that runs exactly the same code but keeps
nothing across restarts (start-up says so)."""

from __future__ import annotations

from urllib.parse import urlsplit

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


def describe_store(settings: Settings) -> str:
    """The store in one line, without credentials."""
    if settings.redis_url is None:
        return ("in-process (embedded, not persisted: paper accounts, order history and maps "
                "are lost on restart; set EXECSVC_REDIS_URL to keep them)")
    parts = urlsplit(settings.redis_url.get_secret_value())
    where = parts.hostname or parts.path or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"redis {parts.scheme}://{where}{port}{parts.path if parts.hostname else ''}"
