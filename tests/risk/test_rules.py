"""Risk rules: each code fires just past its limit and not at it; `max_quantity` passes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.domain.orders import OrderRequest, Position
from execsvc.liqmap.clusters import Cluster
from execsvc.liqmap.margin import liquidation_price
from execsvc.risk.policy import Policy
from execsvc.risk.rules import (
    LEVERAGE_EXCEEDS_MAX,
    NEAR_CLUSTER_CAP,
    NOTIONAL_EXCEEDS_MAX,
    POSITION_EXCEEDS_MAX,
    PRICE_OUTSIDE_COLLAR,
    QUANTITY_CODES,
    STOP_BEYOND_LIQUIDATION,
    STOP_INSIDE_CLUSTER,
    RiskContext,
    RiskOrder,
    evaluate,
)

MARK = 50_000.0
BRACKETS = BINANCE_USDM_BRACKETS["BTCUSDT"]
JUST_OVER = 1 + 1e-6


def make_policy(near: dict[str, float] | None = None, **limits: Any) -> Policy:
    default = {
        "max_order_notional_quote": 200_000, "max_position_notional_quote": 400_000,
        "max_leverage": 20, "price_collar_pct": 5, "stop_inside_cluster": "refuse",
        "stop_cluster_min_intensity": 0.3,
        "near_cluster": near or {"distance_pct": 1.0, "min_intensity": 0.5,
                                 "max_position_notional_quote": 150_000},
        **limits,
    }
    return Policy.model_validate({"name": "rules", "version": "2.1.0",
                                  "max_orders_per_minute": 10, "default": default})


def cluster(side: str, low: float, high: float, intensity: float) -> Cluster:
    near_edge = high if side == "long" else low
    return Cluster(side, low, high, (low + high) / 2, 1e6, intensity,
                   abs(near_edge - MARK) / MARK * 100)


CLUSTERS = (
    cluster("long", 45_000, 45_500, 0.8),
    cluster("long", 48_000, 48_200, 0.2),
    cluster("short", 55_000, 55_400, 0.9),
)


def context(position: Position | None = None, clusters=CLUSTERS) -> RiskContext:
    return RiskContext(MARK, BRACKETS, clusters, position)


def codes(policy: Policy, ctx: RiskContext | None = None, **order: Any) -> list[str]:
    fields = {"symbol": "BTCUSDT", "side": "buy", "quantity": 1.0, "leverage": 5.0, **order}
    return list(evaluate(policy, RiskOrder(**fields), ctx or context()).codes)


def test_a_plain_order_passes_with_its_max_quantity() -> None:
    decision = evaluate(make_policy(), RiskOrder("BTCUSDT", "buy", 1.0, leverage=5), context())
    assert decision.allowed and decision.violations == ()
    assert decision.max_quantity == pytest.approx(4.0)  # 200,000 USDT per order at 50,000
    assert (decision.policy.name, decision.policy.version) == ("rules", "2.1.0")


def test_order_notional_at_and_past_the_limit() -> None:
    policy = make_policy()
    assert codes(policy, quantity=4.0) == []
    assert codes(policy, quantity=4.0 * JUST_OVER) == [NOTIONAL_EXCEEDS_MAX]
    assert codes(policy, quantity=4.0, price=MARK * 1.01) == [NOTIONAL_EXCEEDS_MAX]
    violation = evaluate(policy, RiskOrder("BTCUSDT", "sell", 5.0, leverage=5),
                         context()).violations[0]
    assert (violation.limit, violation.value, violation.unit) == (200_000, 250_000, "USDT")
    assert "250,000.00 USDT" in violation.message and "200,000.00 USDT" in violation.message


def test_position_notional_counts_the_held_position() -> None:
    policy = make_policy(near={"distance_pct": 0.01, "min_intensity": 1.0,
                               "max_position_notional_quote": 1})
    held = Position("BTCUSDT", 6.5, MARK, 5, 65_000, None)
    ctx = context(held)
    assert codes(policy, ctx, quantity=1.5) == []
    assert codes(policy, ctx, quantity=1.5 * JUST_OVER) == [POSITION_EXCEEDS_MAX]
    assert evaluate(policy, RiskOrder("BTCUSDT", "buy", 1, leverage=5), ctx).max_quantity == (
        pytest.approx(1.5))
    # Reversing: through the held 6.5 and out to a short of 4 (200,000 USDT) at most.
    assert codes(policy, ctx, side="sell", quantity=4.0) == []
    short = Position("BTCUSDT", -7.0, MARK, 5, 70_000, None)
    assert codes(policy, context(short), side="sell", quantity=1.0 + 1e-3) == [
        POSITION_EXCEEDS_MAX]
    assert evaluate(policy, RiskOrder("BTCUSDT", "buy", 1, leverage=5),
                    context(short)).max_quantity == pytest.approx(4.0)


def test_reducing_a_position_over_the_cap_is_never_blocked() -> None:
    policy = make_policy()
    big = Position("BTCUSDT", 10.0, MARK, 5, 100_000, None)  # 500,000 USDT, over 400,000
    assert codes(policy, context(big), side="sell", quantity=3.0) == []
    assert codes(policy, context(big), side="buy", quantity=0.01) == [POSITION_EXCEEDS_MAX]
    assert evaluate(policy, RiskOrder("BTCUSDT", "buy", 0.01, leverage=5),
                    context(big)).max_quantity == 0.0


def test_leverage_at_and_past_the_limit() -> None:
    policy = make_policy()
    assert codes(policy, leverage=20) == []
    assert codes(policy, leverage=20.01) == [LEVERAGE_EXCEEDS_MAX]


@pytest.mark.parametrize("field", ["price", "stop_price"])
def test_price_collar_at_and_past_the_limit(field) -> None:
    policy = make_policy(stop_inside_cluster="flag")
    assert codes(policy, **{field: MARK * 1.05}) == []
    assert codes(policy, **{field: MARK * 0.95}) == []
    assert codes(policy, **{field: MARK * 1.05 + 0.01}) == [PRICE_OUTSIDE_COLLAR]
    assert codes(policy, **{field: MARK * 0.95 - 0.01}) == [PRICE_OUTSIDE_COLLAR]
    violation = evaluate(policy, RiskOrder("BTCUSDT", "buy", 1, leverage=5,
                                           **{field: MARK * 1.06}), context()).violations[0]
    assert violation.value == pytest.approx(6.0) and violation.limit == 5
    assert field in violation.message


def test_stop_inside_a_cluster_is_refused_or_flagged() -> None:
    policy = make_policy(price_collar_pct=20)
    assert codes(policy, stop_price=45_250) == [STOP_INSIDE_CLUSTER]
    decision = evaluate(policy, RiskOrder("BTCUSDT", "buy", 1, stop_price=45_250, leverage=5),
                        context())
    violation = decision.violations[0]
    assert not decision.allowed and violation.severity == "error"
    assert (violation.limit, violation.value) == (45_000, 45_250)
    assert "45,000.00" in violation.message
    assert codes(policy, side="sell", stop_price=55_200) == [STOP_INSIDE_CLUSTER]
    # On an edge is not inside; a cluster under stop_cluster_min_intensity does not count.
    assert codes(policy, stop_price=45_000) == codes(policy, stop_price=45_500) == []
    assert codes(policy, stop_price=48_100) == []
    flagged = evaluate(make_policy(price_collar_pct=20, stop_inside_cluster="flag"),
                       RiskOrder("BTCUSDT", "buy", 1, stop_price=45_250, leverage=5), context())
    assert flagged.allowed and flagged.codes == (STOP_INSIDE_CLUSTER,)
    assert flagged.violations[0].severity == "warning"


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_stop_at_or_beyond_the_liquidation_price_is_refused_or_flagged(side) -> None:
    """A 20x position is liquidated about 4.6 % from entry: a protective stop 6 % away would
    never trigger."""
    policy = make_policy(price_collar_pct=20, near=None)
    position_side = "long" if side == "buy" else "short"
    level = liquidation_price(position_side, MARK, 0.1, 20, BRACKETS)
    sign = 1 if side == "buy" else -1
    quiet = {"quantity": 0.1, "leverage": 20.0, "side": side}
    assert codes(policy, **quiet, stop_price=MARK * (1 - sign * 0.02)) == []
    assert codes(policy, **quiet, stop_price=level + sign * 0.01) == []
    assert codes(policy, **quiet, stop_price=level) == [STOP_BEYOND_LIQUIDATION]
    beyond = evaluate(policy, RiskOrder("BTCUSDT", side, 0.1, stop_price=MARK * (1 - sign * 0.06),
                                        leverage=20.0), context(clusters=()))
    assert not beyond.allowed and beyond.codes == (STOP_BEYOND_LIQUIDATION,)
    violation = beyond.violations[0]
    assert violation.limit == pytest.approx(level) and violation.rule == "stop_beyond_liquidation"
    assert "liquidated before the stop triggers" in violation.message
    assert codes(policy, **{**quiet, "leverage": 10.0}, stop_price=MARK * (1 - sign * 0.06)) == []
    flagged = evaluate(make_policy(price_collar_pct=20, near=None,
                                   stop_beyond_liquidation="flag"),
                       RiskOrder("BTCUSDT", side, 0.1, stop_price=level, leverage=20.0),
                       context(clusters=()))
    assert flagged.allowed and flagged.violations[0].severity == "warning"


def test_a_stop_order_closing_a_held_position_is_judged_against_its_liquidation_price() -> None:
    policy = make_policy(price_collar_pct=20, near=None)
    held = Position("BTCUSDT", 1.0, MARK, 20.0, MARK / 20, 47_700.0)
    ctx = context(held, clusters=())
    closing = {"side": "sell", "type": "stop", "quantity": 1.0, "reduce_only": True}
    assert codes(policy, ctx, **closing, stop_price=48_500) == []
    assert codes(policy, ctx, **closing, stop_price=47_700) == [STOP_BEYOND_LIQUIDATION]
    assert codes(policy, ctx, **closing, stop_price=47_000) == [STOP_BEYOND_LIQUIDATION]
    # a stop order on the position's own side adds to it: it protects nothing
    assert codes(policy, ctx, side="buy", type="stop", quantity=0.1, stop_price=52_000) == []


def test_near_cluster_cap_with_a_stop_at_the_distance_boundary() -> None:
    policy = make_policy(price_collar_pct=20)
    # 1 % of the mark is 500: a stop at 46,000 is 500 above the cluster's top (45,500).
    for stop in (46_000.0, 45_900.0, 44_600.0):
        assert codes(policy, quantity=3.0, stop_price=stop) == []  # 150,000 USDT: at the cap
        assert codes(policy, quantity=3.0 * JUST_OVER, stop_price=stop) == [NEAR_CLUSTER_CAP]
        decision = evaluate(policy, RiskOrder("BTCUSDT", "buy", 3.5, stop_price=stop),
                            context())
        assert decision.max_quantity == pytest.approx(3.0)
        assert decision.violations[0].limit == 150_000
        assert decision.violations[0].value == pytest.approx(175_000)
    assert codes(policy, quantity=3.5, stop_price=46_000.5) == []
    # The weak cluster (0.2 < min_intensity 0.5) and the other side's clusters never cap.
    assert codes(policy, quantity=3.5, stop_price=48_300) == []
    assert codes(policy, side="sell", quantity=3.5, stop_price=54_700) == [NEAR_CLUSTER_CAP]
    assert codes(policy, side="sell", quantity=3.5, stop_price=45_600) == []


def test_near_cluster_cap_from_the_liquidation_price() -> None:
    policy = make_policy()
    level = liquidation_price("long", MARK, 4.0, 10, BRACKETS)
    assert 45_000 < level < 45_500  # a 10x long of 200,000 USDT is liquidated in the cluster
    assert codes(policy, quantity=4.0, leverage=10) == [NEAR_CLUSTER_CAP]
    decision = evaluate(policy, RiskOrder("BTCUSDT", "buy", 4.0, leverage=10), context())
    assert decision.max_quantity == pytest.approx(3.0)
    assert "liquidation price" in decision.violations[0].message
    assert codes(policy, quantity=decision.max_quantity, leverage=10) == []
    assert codes(policy, quantity=4.0, leverage=5) == []  # liquidated near 40,200: far away


def test_max_quantity_stops_where_a_growing_position_reaches_a_cluster() -> None:
    policy = make_policy(max_order_notional_quote=1_000_000,
                         max_position_notional_quote=3_000_000)
    low = liquidation_price("long", MARK, 3.0, 10, BRACKETS)
    high = liquidation_price("long", MARK, 20.0, 10, BRACKETS)
    assert low < high  # larger positions are liquidated nearer entry
    middle = (low + high) / 2
    ahead = (cluster("long", middle + 500, middle + 900, 0.9),)  # in reach from `middle` on
    ctx = context(clusters=ahead)
    decision = evaluate(policy, RiskOrder("BTCUSDT", "buy", 20.0, leverage=10), ctx)
    assert decision.codes == (NEAR_CLUSTER_CAP,)
    best = decision.max_quantity
    assert 3.0 < best < 20.0
    assert liquidation_price("long", MARK, best, 10, BRACKETS) == pytest.approx(middle, abs=0.01)
    assert codes(policy, ctx, quantity=best, leverage=10) == []
    assert codes(policy, ctx, quantity=best * JUST_OVER, leverage=10) == [NEAR_CLUSTER_CAP]


def test_order_request_from_the_order_path_is_judged_the_same() -> None:
    policy = make_policy()
    request = OrderRequest("c1", "BTCUSDT", "sell", "limit", 4.2, price=50_100, leverage=25)
    decision = evaluate(policy, request, context())
    assert set(decision.codes) == {NOTIONAL_EXCEEDS_MAX, LEVERAGE_EXCEEDS_MAX}
    assert decision.max_quantity == pytest.approx(200_000 / 50_100)
    stop = OrderRequest("c2", "BTCUSDT", "sell", "stop", 1.0, stop_price=45_250)
    assert evaluate(make_policy(price_collar_pct=20), stop, context()).codes == (
        STOP_INSIDE_CLUSTER,)


def test_symbol_overrides_apply() -> None:
    policy = Policy.model_validate({
        **make_policy().model_dump(), "symbols": {"ETHUSDT": {"max_leverage": 3}}})
    eth = RiskContext(3_000.0, BINANCE_USDM_BRACKETS["ETHUSDT"])
    assert evaluate(policy, RiskOrder("ETHUSDT", "buy", 1, leverage=4), eth).codes == (
        LEVERAGE_EXCEEDS_MAX,)
    assert evaluate(policy, RiskOrder("BTCUSDT", "buy", 1, leverage=4), context()).allowed


def test_a_position_of_another_symbol_is_an_error() -> None:
    with pytest.raises(ValueError, match="ETHUSDT"):
        evaluate(make_policy(), RiskOrder("BTCUSDT", "buy", 1),
                 context(Position("ETHUSDT", 1, 3000, 5, 600, None)))


cluster_lists = st.lists(
    st.builds(
        lambda side, start, width, intensity: cluster(
            side, *(sorted((start, start + width)) if side == "long" else (start, start + width)),
            intensity,
        ),
        st.sampled_from(["long", "short"]),
        st.floats(30_000, 70_000),
        st.floats(10, 3_000),
        st.floats(0, 1),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(["buy", "sell"]),
    leverage=st.floats(1, 50),
    price_offset=st.none() | st.floats(-0.04, 0.04),
    stop_offset=st.none() | st.floats(-0.2, 0.2),
    held=st.floats(-12, 12),
    held_entry_offset=st.floats(-0.1, 0.1),
    clusters=cluster_lists,
    distance_pct=st.floats(0.1, 5),
    fraction=st.floats(1e-6, 1),
)
def test_every_quantity_up_to_max_quantity_passes_the_quantity_rules(
    side, leverage, price_offset, stop_offset, held, held_entry_offset, clusters, distance_pct,
    fraction,
) -> None:
    policy = make_policy(near={"distance_pct": distance_pct, "min_intensity": 0.3,
                               "max_position_notional_quote": 150_000})
    price = None if price_offset is None else MARK * (1 + price_offset)
    stop = None if stop_offset is None else MARK * (1 + stop_offset)
    reference = price or MARK
    sign = 1 if side == "buy" else -1
    # A held position on the order's side entered at the reference price keeps the averaged
    # liquidation price moving one way as the position grows; one against it may be anywhere.
    entry = reference if held * sign > 0 else MARK * (1 + held_entry_offset)
    position = Position("BTCUSDT", held, entry, leverage, abs(held) * entry / leverage, None)
    ctx = context(position if held else None, clusters=tuple(clusters))

    def quantity_codes(quantity: float) -> set[str]:
        order = RiskOrder("BTCUSDT", side, quantity, price, stop, leverage=leverage)
        return set(evaluate(policy, order, ctx).codes) & QUANTITY_CODES

    best = evaluate(policy, RiskOrder("BTCUSDT", side, 1.0, price, stop, leverage=leverage),
                    ctx).max_quantity
    assert best >= 0
    if best > 0:
        assert quantity_codes(best) == set()
        assert quantity_codes(best * fraction) == set()
    assert quantity_codes(max(best * JUST_OVER, best + 1e-6)) != set()
