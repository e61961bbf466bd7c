"""Symbol leases: with several workers, each symbol has one owner at a time.

A lease is a redis-py `Lock` (`SET NX PX` plus Lua compare-and-extend) per symbol. Every tick a
worker renews the leases it holds and tries to take the free ones; a worker that dies lets its
leases expire after `lease_s`, and another picks the symbols up on its next tick.
"""

from __future__ import annotations

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.lock import Lock

from execsvc.store.errors import STORE_ERRORS, store_unavailable


class SymbolLeases:
    def __init__(self, redis: Redis, owner: str, lease_s: float, prefix: str = "execsvc") -> None:
        self.redis = redis
        self.owner = owner
        self.lease_s = lease_s
        self.prefix = prefix
        self._held: dict[str, Lock] = {}

    def _lock(self, symbol: str) -> Lock:
        return self.redis.lock(
            f"{self.prefix}:lease:{symbol}", timeout=self.lease_s, blocking=False,
            thread_local=False,
        )

    async def acquire(self, symbols: list[str]) -> list[str]:
        """Renew held leases, take free ones; returns the symbols owned now, in input order."""
        try:
            for symbol in symbols:
                await self._renew_or_take(symbol)
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        return [s for s in symbols if s in self._held]

    async def _renew_or_take(self, symbol: str) -> None:
        lock = self._held.get(symbol)
        if lock is not None:
            try:
                await lock.reacquire()
                return
            except redis_errors.LockError:
                del self._held[symbol]
        lock = self._lock(symbol)
        if await lock.acquire(token=self.owner.encode()):
            self._held[symbol] = lock

    async def release_all(self) -> None:
        for lock in self._held.values():
            try:
                await lock.release()
            except (redis_errors.LockError, *STORE_ERRORS):
                pass  # expired or unreachable: the lease lapses on its own
        self._held.clear()
