"""Symbol leases: several workers share the symbols, each symbol with one owner at a time.

Who should own what is decided by `assign`: bounded-load rendezvous hashing over the live
workers (the `workers` registry of `BandStore`). Every symbol ranks the workers by a hash of
(worker, symbol); symbols are taken in name order and each goes to its best-ranked worker that
holds fewer than `ceil(N / k)`, so k workers hold N/k symbols each (give or take one), every
worker computes the same answer from the same registry, and a worker joining or leaving moves
few symbols. The lease is what guarantees one owner while the registry changes: one key per
symbol holding the owner's token with a `PX` expiry. Every tick a worker renews the leases of
its symbols, takes the free ones, and releases those assigned elsewhere, which the new owner
takes on its next tick; a worker that dies lets its leases expire after `lease_s`. A tick costs
one round trip for all its symbols (`ACQUIRE_SCRIPT`) and one for the releases
(`RELEASE_SCRIPT`), whatever the number of symbols: a lock object per symbol (redis-py `Lock`)
would cost a round trip each. The scripts touch several keys, so the leases need one Redis
node (not a cluster), as the rest of the store does.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from redis.asyncio import Redis

from execsvc.store.errors import STORE_ERRORS, store_unavailable

ACQUIRE_SCRIPT = """
local held = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[i] = 1
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held
"""
"""Renew the leases `KEYS` that hold the token `ARGV[1]` and take the free ones, each for
`ARGV[2]` ms; one flag per key, 1 when the caller holds it afterwards."""

RELEASE_SCRIPT = """
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
"""
"""Delete the leases `KEYS` that still hold the token `ARGV[1]` (a lapsed lease taken by
another worker is left alone); returns how many were deleted."""


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
    """The leases one worker (`owner`, its token) holds, renewed for `lease_s` each tick."""

    def __init__(self, redis: Redis, owner: str, lease_s: float, prefix: str = "execsvc") -> None:
        self.redis = redis
        self.owner = owner
        self.lease_s = lease_s
        self.prefix = prefix
        self._held: set[str] = set()
        self._acquire = redis.register_script(ACQUIRE_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)

    def _key(self, symbol: str) -> str:
        return f"{self.prefix}:lease:{symbol}"

    @property
    def held(self) -> list[str]:
        return sorted(self._held)

    async def acquire(self, symbols: Sequence[str]) -> list[str]:
        """Renew held leases of `symbols`, take their free ones and release every other held
        lease; returns the symbols owned now, in input order."""
        wanted = list(dict.fromkeys(symbols))
        try:
            await self._release_keys([s for s in self._held if s not in wanted])
            flags = await self._acquire(
                keys=[self._key(s) for s in wanted],
                args=[self.owner, max(1, round(self.lease_s * 1000))],
            ) if wanted else []
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        self._held = {symbol for symbol, flag in zip(wanted, flags, strict=True) if flag}
        return [s for s in symbols if s in self._held]

    async def _release_keys(self, symbols: Sequence[str]) -> None:
        if symbols:
            await self._release(keys=[self._key(s) for s in symbols], args=[self.owner])
        self._held.difference_update(symbols)

    async def release_all(self) -> None:
        """Give up every held lease; when the store is unreachable they lapse on their own."""
        try:
            await self._release_keys(sorted(self._held))
        except STORE_ERRORS:
            self._held.clear()
