"""Symbol leases: several workers share the symbols, each symbol with one owner at a time.

Who should own what is decided by `assign`: bounded-load rendezvous hashing over the live
workers (the `workers` registry of `BandStore`). Every symbol ranks the workers by a hash of
(worker, symbol); symbols are taken in name order and each goes to its best-ranked worker that
holds fewer than `ceil(N / k)`, so k workers hold N/k symbols each (give or take one), every
worker computes the same answer from the same registry, and a worker joining or leaving moves
few symbols. The lease is what guarantees one owner while the registry changes: a redis-py
`Lock` (`SET NX PX` plus Lua compare-and-extend) per symbol. Every tick a worker renews the
leases of its symbols, takes the free ones, and releases those assigned elsewhere, which the
new owner takes on its next tick; a worker that dies lets its leases expire after `lease_s`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Sequence

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.lock import Lock

from execsvc.store.errors import STORE_ERRORS, store_unavailable


def _rank(worker: str, symbol: str) -> int:
    digest = hashlib.blake2b(f"{worker}\x00{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(symbols: Sequence[str], workers: Sequence[str]) -> dict[str, str]:
    """symbol -> worker: bounded-load rendezvous (see the module doc); {} without workers."""
    if not workers:
        return {}
    cap = math.ceil(len(symbols) / len(workers))
    load = dict.fromkeys(workers, 0)
    owners: dict[str, str] = {}
    for symbol in sorted(symbols):
        ranked = sorted(workers, key=lambda worker: _rank(worker, symbol), reverse=True)
        owner = next(worker for worker in ranked if load[worker] < cap)
        owners[symbol] = owner
        load[owner] += 1
    return owners


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

    @property
    def held(self) -> list[str]:
        return sorted(self._held)

    async def acquire(self, symbols: Sequence[str]) -> list[str]:
        """Renew held leases of `symbols`, take their free ones and release every other held
        lease; returns the symbols owned now, in input order."""
        try:
            for symbol in [s for s in self._held if s not in symbols]:
                await self._release(symbol)
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

    async def _release(self, symbol: str) -> None:
        lock = self._held.pop(symbol)
        with contextlib.suppress(redis_errors.LockError):  # expired: it lapsed on its own
            await lock.release()

    async def release_all(self) -> None:
        for symbol in list(self._held):
            try:
                await self._release(symbol)
            except STORE_ERRORS:
                self._held.pop(symbol, None)  # unreachable: the lease lapses on its own
