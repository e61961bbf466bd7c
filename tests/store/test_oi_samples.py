"""Polled open-interest samples in a real redis-server: one per timestamp, bounded."""

from __future__ import annotations

import numpy as np
import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from execsvc.store.errors import StoreUnavailable
from execsvc.store.oi_samples import OpenInterestSamples

MINUTE_MS = 60_000


async def test_samples_are_kept_oldest_first_one_per_timestamp(redis_client: Redis) -> None:
    samples = OpenInterestSamples(redis_client, retention_ms=60 * MINUTE_MS, max_samples=100)
    for minute, value in [(2, 2.0e9), (0, 1.0e9), (1, 1.5e9), (2, 2.5e9)]:
        await samples.append("hyperliquid", "BTCUSDT", minute * MINUTE_MS, value)
    times, values = await samples.history("hyperliquid", "BTCUSDT", 0)
    assert times.tolist() == [0, MINUTE_MS, 2 * MINUTE_MS]
    assert values.tolist() == [1.0e9, 1.5e9, 2.5e9]  # the later poll of minute 2 won
    times, _ = await samples.history("hyperliquid", "BTCUSDT", MINUTE_MS)
    assert times.tolist() == [MINUTE_MS, 2 * MINUTE_MS]
    empty_times, empty_values = await samples.history("hyperliquid", "ETHUSDT", 0)
    assert empty_times.dtype == np.int64 and len(empty_times) == len(empty_values) == 0


async def test_retention_and_count_bound_the_history(redis_client: Redis) -> None:
    samples = OpenInterestSamples(redis_client, retention_ms=10 * MINUTE_MS, max_samples=5)
    kept = [await samples.append("hyperliquid", "ETHUSDT", m * MINUTE_MS, float(m))
            for m in range(30)]
    assert max(kept) == 5
    times, values = await samples.history("hyperliquid", "ETHUSDT", 0)
    assert times.tolist() == [m * MINUTE_MS for m in range(25, 30)]
    assert values.tolist() == [25.0, 26.0, 27.0, 28.0, 29.0]
    wide = OpenInterestSamples(redis_client, retention_ms=3 * MINUTE_MS, max_samples=1_000)
    await wide.append("hyperliquid", "ETHUSDT", 40 * MINUTE_MS, 40.0)
    times, _ = await wide.history("hyperliquid", "ETHUSDT", 0)
    assert times.tolist() == [40 * MINUTE_MS]  # everything older than 3 minutes dropped


async def test_bad_values_are_refused_and_a_dead_store_is_reported(redis_client: Redis) -> None:
    samples = OpenInterestSamples(redis_client, retention_ms=MINUTE_MS, max_samples=10)
    for bad in (float("nan"), -1.0, float("inf")):
        with pytest.raises(ValueError):
            await samples.append("hyperliquid", "BTCUSDT", 0, bad)
    with pytest.raises(ValueError):
        OpenInterestSamples(redis_client, retention_ms=0, max_samples=10)
    unreachable = Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    dead = OpenInterestSamples(unreachable, retention_ms=MINUTE_MS, max_samples=10)
    with pytest.raises(StoreUnavailable, match="redis unreachable"):
        await dead.append("hyperliquid", "BTCUSDT", 0, 1.0)
