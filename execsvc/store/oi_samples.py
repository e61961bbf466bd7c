"""`OpenInterestSamples`: polled open interest kept in Redis, so a venue without an
open-interest history (Hyperliquid) gets one, built from the samples the worker polls.

Key (prefix `execsvc`): `oi:{venue}:{symbol}`, a sorted set scored by the sample time (epoch
ms) whose members are `"<time_ms>:<oi_quote>"` (open interest as quote notional). One sample
per timestamp (a new value for a known time replaces the old one), at most `max_samples`
per symbol, none older than `retention_ms` before the newest write. Each append is one Lua
script, so replicas polling the same venue never leave two values for one time.
"""

from __future__ import annotations

import numpy as np
from redis.asyncio import Redis

from execsvc.store.errors import store_call

APPEND_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1] .. ':' .. ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[4]))
return redis.call('ZCARD', KEYS[1])
"""


class OpenInterestSamples:
    """Polled open-interest samples per (venue, symbol) in Redis (module docstring)."""

    def __init__(self, redis: Redis, *, retention_ms: int, max_samples: int,
                 prefix: str = "execsvc") -> None:
        if retention_ms <= 0 or max_samples < 1:
            raise ValueError("retention_ms must be > 0 and max_samples >= 1")
        self.redis = redis
        self.retention_ms = int(retention_ms)
        self.max_samples = int(max_samples)
        self.prefix = prefix
        self._append = redis.register_script(APPEND_SCRIPT)

    def key(self, venue: str, symbol: str) -> str:
        return f"{self.prefix}:oi:{venue}:{symbol}"

    async def append(self, venue: str, symbol: str, time_ms: int, oi_quote: float) -> int:
        """Store one sample (quote notional at `time_ms`), trim, and return how many are kept."""
        if not np.isfinite(oi_quote) or oi_quote < 0:
            raise ValueError(f"open interest must be finite and >= 0, got {oi_quote!r}")
        oldest = int(time_ms) - self.retention_ms
        return int(await store_call(self._append(
            keys=[self.key(venue, symbol)],
            args=[int(time_ms), repr(float(oi_quote)), oldest, self.max_samples])))

    async def history(self, venue: str, symbol: str, since_ms: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """`(time_ms, oi_quote)` of the samples at or after `since_ms`, oldest first."""
        members = await store_call(self.redis.zrangebyscore(self.key(venue, symbol),
                                                            int(since_ms), "+inf"))
        pairs = [_decode(member) for member in members]
        times = np.array([t for t, _ in pairs], dtype=np.int64)
        values = np.array([v for _, v in pairs], dtype=np.float64)
        return times, values


def _decode(member: bytes | str) -> tuple[int, float]:
    text = member.decode() if isinstance(member, bytes) else member
    time_ms, _, value = text.partition(":")
    return int(time_ms), float(value)
