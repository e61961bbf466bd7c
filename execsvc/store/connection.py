"""The Redis client: a real server when `EXECSVC_REDIS_URL` is set; else the durable embedded
server (`store.embedded`, data in `EXECSVC_DATA_DIR`); else (no data dir, or the embedded server
cannot run here, which start-up logs) an in-process Redis-compatible store (fakeredis, with
Lua) that runs exactly the same code but keeps nothing across restarts.

A real server is reached through a blocking pool of at most `REDIS_MAX_CONNECTIONS`
connections: under load a request waits up to `REDIS_POOL_TIMEOUT_S` for a free connection
rather than failing ("Too many connections" is what redis-py's default pool raises). A
connection idle for `HEALTH_CHECK_S` is pinged before use, and a command that fails because
its connection dropped (a restarted Redis leaves every pooled connection dead) reconnects and
is retried with jittered exponential backoff, so a restart costs no request. Timeouts are not
retried: a frozen Redis is reported after `SOCKET_TIMEOUT_S` instead of after every retry.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fakeredis
from redis.asyncio import BlockingConnectionPool, Redis, UnixDomainSocketConnection
from redis.asyncio.connection import SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from execsvc.settings import Settings
from execsvc.store.embedded import EmbeddedServer, EmbeddedStoreError

log = logging.getLogger("execsvc.store")
SOCKET_TIMEOUT_S = 2.0
HEALTH_CHECK_S = 15
RECONNECT_RETRIES = 3
_EMBEDDED: dict[Path, EmbeddedServer] = {}


def connection_options(settings: Settings) -> dict[str, Any]:
    """Pool and connection options for a real server (see the module doc)."""
    return {
        "max_connections": settings.redis_max_connections,
        "timeout": settings.redis_pool_timeout_s,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
        "health_check_interval": HEALTH_CHECK_S,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.5), RECONNECT_RETRIES,
                       supported_errors=(RedisConnectionError, ConnectionResetError,
                                         BrokenPipeError)),
    }


def connect(settings: Settings) -> Redis:
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
        tcp = {"socket_keepalive": True} if not url.startswith("unix:") else {}
        pool = BlockingConnectionPool.from_url(url, **tcp, **connection_options(settings))
        return Redis(connection_pool=pool)
    if settings.data_dir is not None:
        try:
            path = embedded_socket(Path(settings.data_dir))
        except EmbeddedStoreError as exc:
            log.warning("embedded store unavailable (%s); using an in-process store", exc)
        else:
            pool = BlockingConnectionPool(connection_class=UnixDomainSocketConnection, path=path,
                                          **connection_options(settings))
            return Redis(connection_pool=pool)
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


def server_url(redis: Redis) -> str:
    """A URL of the server `redis` is connected to (credentials included: for another process
    of this service, never for a log; `describe_store` is the printable form). Not for the
    in-process store, which no other process can reach."""
    if is_embedded(redis):
        raise ValueError("the in-process store has no server another process could reach")
    kwargs = redis.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={db}"
    user, password = kwargs.get("username"), kwargs.get("password")
    auth = f"{quote(user or '', safe='')}:{quote(password, safe='')}@" if password else ""
    secure = issubclass(redis.connection_pool.connection_class, SSLConnection)
    scheme = "rediss" if secure or kwargs.get("ssl") else "redis"
    return f"{scheme}://{auth}{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def is_embedded(redis: Redis) -> bool:
    """True for the in-process store (nothing persists)."""
    return isinstance(redis, fakeredis.aioredis.FakeRedis)


def describe_store(redis: Redis) -> str:
    """The store in one line, without credentials."""
    if is_embedded(redis):
        return ("in-process (not persisted: paper accounts, order history and maps are lost on "
                "restart; set EXECSVC_DATA_DIR or EXECSVC_REDIS_URL to keep them)")
    pool = redis.connection_pool
    kwargs = pool.connection_kwargs
    size = f", pool of {pool.max_connections}"
    if "path" in kwargs:
        return f"embedded Valkey, data kept in {Path(kwargs['path']).parent}{size}"
    scheme = "rediss" if kwargs.get("ssl") else "redis"
    return (f"{scheme}://{kwargs.get('host', '?')}:{kwargs.get('port', 6379)}/"
            f"{kwargs.get('db', 0)}{size}")
