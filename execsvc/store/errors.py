"""Store failures as the service reports them: `StoreUnavailable`, whose message says what
kind of failure it was (refused, timed out, no free connection, a server error) and never
where the store runs (host, port, socket path, credentials), because 503 answers and
`/readyz` go to anonymous callers. The full error is logged for the operator."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from redis import exceptions as redis_errors

log = logging.getLogger("execsvc.store")
T = TypeVar("T")

STORE_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class StoreUnavailable(RuntimeError):
    """Redis could not be reached or answered with an error; `str()` is the public reason."""


def _kind(exc: BaseException) -> str:
    text = str(exc).lower()
    if isinstance(exc, redis_errors.MaxConnectionsError) or "too many connections" in text:
        return "redis unreachable: too many connections"
    if "no connection available" in text:
        return "redis unreachable: no free connection in the pool"
    if isinstance(exc, (redis_errors.TimeoutError, TimeoutError)) or "timeout" in text:
        return "redis unreachable: timed out"
    if isinstance(exc, (ConnectionRefusedError,)) or "refused" in text:
        return "redis unreachable: connection refused"
    if isinstance(exc, STORE_ERRORS):
        return "redis unreachable: connection failed"
    if isinstance(exc, redis_errors.ResponseError):
        return f"redis error: {str(exc).split(' ', 1)[0] or type(exc).__name__}"
    return f"redis error: {type(exc).__name__}"


def store_unavailable(exc: BaseException) -> StoreUnavailable:
    """The `StoreUnavailable` to raise for a Redis failure (log the detail, keep the address
    out of the message)."""
    reason = _kind(exc)
    log.debug("%s (%s: %s)", reason, type(exc).__name__, exc)
    return StoreUnavailable(reason)


async def store_call(awaitable: Awaitable[T]) -> T:
    """Await a Redis call; any Redis or socket failure becomes `StoreUnavailable`."""
    try:
        return await awaitable
    except (*STORE_ERRORS, redis_errors.RedisError) as exc:
        raise store_unavailable(exc) from exc
