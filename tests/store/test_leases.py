"""Symbol leases against a real redis-server: one owner per symbol, one round trip per tick."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from execsvc.store.leases import SymbolLeases, assign

SYMBOLS = [f"S{i:03d}USDT" for i in range(200)]


async def test_a_lease_has_one_owner_and_lapses_when_not_renewed(redis_client: Redis) -> None:
    a = SymbolLeases(redis_client, "a", lease_s=0.3)
    b = SymbolLeases(redis_client, "b", lease_s=0.3)
    assert await a.acquire(["BTCUSDT", "ETHUSDT"]) == ["BTCUSDT", "ETHUSDT"]
    assert await b.acquire(["ETHUSDT", "SOLUSDT"]) == ["SOLUSDT"]
    assert await redis_client.get("execsvc:lease:ETHUSDT") == b"a"
    await asyncio.sleep(0.5)
    assert await b.acquire(["ETHUSDT", "SOLUSDT"]) == ["ETHUSDT", "SOLUSDT"], "a's lapsed"
    assert await a.acquire(["BTCUSDT", "ETHUSDT"]) == ["BTCUSDT"]
    assert a.held == ["BTCUSDT"]


async def test_renewing_extends_the_lease(redis_client: Redis) -> None:
    leases = SymbolLeases(redis_client, "a", lease_s=10)
    await leases.acquire(["BTCUSDT"])
    await redis_client.pexpire("execsvc:lease:BTCUSDT", 50)
    await leases.acquire(["BTCUSDT"])
    assert 9_000 < await redis_client.pttl("execsvc:lease:BTCUSDT") <= 10_000


async def test_release_leaves_a_lease_taken_over_by_another_worker_alone(
        redis_client: Redis) -> None:
    a = SymbolLeases(redis_client, "a", lease_s=10)
    await a.acquire(["BTCUSDT", "ETHUSDT"])
    await redis_client.set("execsvc:lease:ETHUSDT", "b", px=10_000)  # a's lapsed, b took it
    assert await a.acquire(["BTCUSDT"]) == ["BTCUSDT"]
    assert await redis_client.get("execsvc:lease:ETHUSDT") == b"b"
    await a.release_all()
    assert await redis_client.get("execsvc:lease:BTCUSDT") is None
    assert a.held == []


async def test_a_tick_costs_one_round_trip_whatever_the_number_of_symbols(
        redis_client: Redis) -> None:
    leases = SymbolLeases(redis_client, "a", lease_s=10)
    await leases.acquire(SYMBOLS[:10])
    await redis_client.config_resetstat()
    assert await leases.acquire(SYMBOLS[5:]) == SYMBOLS[5:]
    stats = await redis_client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 2, "one release call, one acquire call"
    assert "cmdstat_eval" not in stats
    assert stats["cmdstat_get"]["calls"] == 200, "all inside the two scripts"
    assert await redis_client.exists(*[f"execsvc:lease:{s}" for s in SYMBOLS[:5]]) == 0


@settings(max_examples=60, deadline=None)
@given(symbols=st.lists(st.text("ABCXYZ", min_size=1, max_size=4), unique=True, max_size=40),
       workers=st.lists(st.text("wxyz", min_size=1, max_size=3), unique=True, min_size=1,
                        max_size=6))
def test_assignment_covers_every_symbol_with_balanced_load(symbols, workers) -> None:
    owners = assign(symbols, workers)
    assert set(owners) == set(symbols) and set(owners.values()) <= set(workers)
    load = [list(owners.values()).count(w) for w in workers]
    assert max(load, default=0) <= -(-len(symbols) // len(workers))
    assert assign(list(reversed(symbols)), list(reversed(workers))) == owners
