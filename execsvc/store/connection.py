"""The Redis client: a real server when `EXECSVC_REDIS_URL` is set; else the durable embedded
server (`store.embedded`, data in `EXECSVC_DATA_DIR`); else (no data dir, or the embedded server
cannot run here, which start-up logs) an in-process Redis-compatible store (fakeredis, with
Lua) that runs exactly the same code but keeps nothing across restarts."""

from __future__ import annotations

import logging
from pathlib import Path

import fakeredis
from redis.asyncio import Redis

from execsvc.settings import Settings
from execsvc.store.embedded import EmbeddedServer, EmbeddedStoreError

log = logging.getLogger("execsvc.store")
TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0, "health_check_interval": 15}
_EMBEDDED: dict[Path, EmbeddedServer] = {}


def connect(settings: Settings) -> Redis:
    if settings.redis_url is not None:
        return Redis.from_url(settings.redis_url.get_secret_value(), **TIMEOUTS)
    if settings.data_dir is not None:
        try:
            return Redis(unix_socket_path=embedded_socket(Path(settings.data_dir)), **TIMEOUTS)
        except EmbeddedStoreError as exc:
            log.warning("embedded store unavailable (%s); using an in-process store", exc)
    return fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())


def embedded_socket(data_dir: Path) -> str:
    """The socket of this process's embedded server for `data_dir` (started once)."""
    key = data_dir.expanduser().resolve()
    server = _EMBEDDED.get(key)
    if server is None:
        server = EmbeddedServer(key)
        server.start()
        _EMBEDDED[key] = server
    return str(server.socket_path)


def is_embedded(redis: Redis) -> bool:
    """True for the in-process store (nothing persists)."""
    return isinstance(redis, fakeredis.aioredis.FakeRedis)


def describe_store(redis: Redis) -> str:
    """The store in one line, without credentials."""
    if is_embedded(redis):
        return ("in-process (not persisted: paper accounts, order history and maps are lost on "
                "restart; set EXECSVC_DATA_DIR or EXECSVC_REDIS_URL to keep them)")
    kwargs = redis.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"embedded Valkey, data kept in {Path(kwargs['path']).parent}"
    scheme = "rediss" if kwargs.get("ssl") else "redis"
    return f"{scheme}://{kwargs.get('host', '?')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

