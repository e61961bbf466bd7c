"""The risk gate (rate, duplicates, audit) on a real redis-server."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from execsvc.api.auth import key_id
from execsvc.domain.orders import DuplicateOrder
from execsvc.risk.gate import ANONYMOUS, RateLimited, RiskGate
from execsvc.risk.rules import (
    DUPLICATE_ORDER,
    LEVERAGE_EXCEEDS_MAX,
    NOTIONAL_EXCEEDS_MAX,
    RATE_LIMITED,
    RiskOrder,
)
from execsvc.store import StoreUnavailable
from tests.support.risk import CONTEXT, gate_policy, order

KEY = "test-key-123"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_rate_limit_per_key_in_a_sliding_minute(redis_client: Redis) -> None:
    clock = Clock(1_700_000_020.0)
    gate, policy = RiskGate(redis_client, clock=clock), gate_policy(3)
    for n in range(3):
        assert (await gate.admit(policy, order(f"a{n}"), CONTEXT, "k1", f"o{n}")).allowed
        clock.now += 1
    with pytest.raises(RateLimited) as refused:
        await gate.admit(policy, order("a3"), CONTEXT, "k1", "o3")
    assert refused.value.limit == 3
    assert refused.value.retry_after_s == pytest.approx(57.0), "until the first leaves"
    audit = {k.decode(): v.decode()
             for k, v in (await redis_client.xrange("execsvc:audit"))[-1][1].items()}
    assert (audit["allowed"], audit["codes"]) == ("false", RATE_LIMITED)
    assert (await gate.admit(policy, order("a0"), CONTEXT, "k2", "p0")).allowed  # other key
    ttl = await redis_client.pttl(gate._rate_key("k1"))
    assert 0 < ttl <= 60_000
    clock.now += 57  # the first order leaves the window, the other two stay
    assert (await gate.admit(policy, order("a4"), CONTEXT, "k1", "o4")).allowed
    assert await gate.orders_this_minute("k1") == 3


async def test_no_minute_boundary_lets_twice_the_limit_through(redis_client: Redis) -> None:
    """A fixed UTC minute would allow 3 orders at :59.9 and 3 more at :00.1."""
    clock = Clock(1_699_999_980.0 + 59.9)  # 1_699_999_980 is a minute start
    gate, policy = RiskGate(redis_client, clock=clock), gate_policy(3)
    for n in range(3):
        await gate.admit(policy, order(f"b{n}"), CONTEXT, "k1", f"q{n}")
    clock.now += 0.2
    with pytest.raises(RateLimited):
        await gate.admit(policy, order("b3"), CONTEXT, "k1", "q3")


async def test_duplicate_client_order_ids(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client), gate_policy(100)
    assert (await gate.admit(policy, order("same"), CONTEXT, "k1", "order-1")).allowed
    with pytest.raises(DuplicateOrder, match="'same'"):
        await gate.admit(policy, order("same"), CONTEXT, "k1", "order-2")
    assert (await gate.admit(policy, order("same"), CONTEXT, "k1", "order-1")).allowed, (
        "the same request again is a retry")
    assert await gate.order_id_for("k1", "same") == "order-1"
    assert (await gate.admit(policy, order("same"), CONTEXT, "k2", "order-3")).allowed
    ttl = await redis_client.pttl(gate._coid_key("k1", "same"))
    assert 6 * 86_400_000 < ttl <= 7 * 86_400_000


async def test_a_refused_order_does_not_use_up_its_id(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client), gate_policy(100)
    refused = await gate.admit(policy, order("fix-me", leverage=100), CONTEXT, "k1", "o1")
    assert refused.codes == (LEVERAGE_EXCEEDS_MAX,)
    assert await gate.order_id_for("k1", "fix-me") is None
    assert (await gate.admit(policy, order("fix-me"), CONTEXT, "k1", "o2")).allowed
    refused = await gate.admit(policy, order("fix-me", leverage=100), CONTEXT, "k1", "o3")
    assert refused.codes == (LEVERAGE_EXCEEDS_MAX,)


async def test_check_counts_nothing_and_claims_nothing(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client), gate_policy(2)
    probe = RiskOrder("BTCUSDT", "buy", 0.1, client_order_id="x1")
    for _ in range(5):
        assert (await gate.check(policy, probe, CONTEXT, "k1")).allowed
    assert await gate.orders_this_minute("k1") == 0
    assert await gate.order_id_for("k1", "x1") is None
    await gate.admit(policy, order("x1"), CONTEXT, "k1", "o1")
    await gate.admit(policy, order("x2"), CONTEXT, "k1", "o2")
    decision = await gate.check(policy, probe, CONTEXT, "k1")
    assert set(decision.codes) == {RATE_LIMITED, DUPLICATE_ORDER}
    assert (await gate.check(policy, probe, CONTEXT, ANONYMOUS)).allowed


async def test_every_decision_is_audited_with_the_policy_version(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client), gate_policy(100)
    await gate.check(policy, RiskOrder("BTCUSDT", "sell", 9.0, price=50_100), CONTEXT,
                     key_id(KEY))
    request = order("z1", stop_price=49_000.0)
    decision = await gate.admit(policy, request, CONTEXT, key_id(KEY), "z1#digest")
    assert decision.allowed and await redis_client.xlen("execsvc:audit") == 1
    await gate.placed(key_id(KEY), request, decision, "po-00000009")
    entries = await redis_client.xrange("execsvc:audit")
    assert len(entries) == 2
    check, placed = ({k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries)
    assert check["kind"] == "check" and placed["kind"] == "order"
    for entry in (check, placed):
        assert (entry["policy"], entry["policy_version"]) == ("default", "1.0.0")
        assert entry["api_key_id"] == key_id(KEY) != KEY
        assert KEY not in entry.values()
        assert int(entry["ts"]) > 1_600_000_000_000
    assert (check["allowed"], check["codes"], check["side"]) == (
        "false", NOTIONAL_EXCEEDS_MAX, "sell")
    assert (check["quantity"], check["price"], check["stop_price"]) == ("9.0", "50100.0", "")
    assert (placed["allowed"], placed["codes"], placed["order_id"]) == ("true", "", "po-00000009")
    assert (placed["client_order_id"], placed["stop_price"]) == ("z1", "49000.0")


async def test_audit_stream_is_trimmed(redis_client: Redis) -> None:
    gate, policy = RiskGate(redis_client, audit_maxlen=10), gate_policy(1_000)
    probe = RiskOrder("BTCUSDT", "buy", 0.1)
    for _ in range(300):
        await gate.check(policy, probe, CONTEXT)
    assert 10 <= await redis_client.xlen("execsvc:audit") < 300


async def test_unreachable_redis_is_store_unavailable(redis_server) -> None:
    dead = Redis(port=1, socket_connect_timeout=0.2)
    with pytest.raises(StoreUnavailable):
        await RiskGate(dead).check(gate_policy(), RiskOrder("BTCUSDT", "buy", 0.1), CONTEXT,
                                   "k1")
    await dead.aclose()
