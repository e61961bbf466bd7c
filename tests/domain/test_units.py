"""The rounding home: prices on the tick, quantities on the lot, figures free of float noise;
`round_like_builtin`: Python's `round` at numpy speed, on any value and decimals."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.units import (
    MarketPrecision,
    position_side,
    round_like_builtin,
    significant,
    snap,
    step_decimals,
)

steps = st.sampled_from([0.1, 0.01, 0.001, 1.0, 0.5, 0.25, 5e-05, 0.0001, 10.0])
values = st.floats(1e-3, 1e7, allow_nan=False, allow_infinity=False)


def decimals_written(value: float) -> int:
    return max(0, -Decimal(repr(value)).normalize().as_tuple().exponent)


@given(value=values, step=steps)
def test_snapped_values_sit_on_the_grid_and_print_short(value, step) -> None:
    down, up, nearest = (snap(value, step, mode) for mode in ("down", "up", "nearest"))
    for snapped in (down, up, nearest):
        k = Decimal(repr(snapped)) / Decimal(repr(step))
        assert k == k.to_integral_value(), (snapped, step)
        assert decimals_written(snapped) <= step_decimals(step)
    tolerance = 1e-9 * step * max(1.0, value / step)
    assert down <= value + tolerance and value - tolerance <= up
    assert up - down <= step * (1 + 1e-9) + 4 * math.ulp(value)
    assert abs(nearest - value) <= step / 2 * (1 + 1e-9) + tolerance


@given(k=st.integers(-10**12, 10**12),
       step=steps | st.sampled_from([1e-8, 0.3, 0.07, 1 / 3, 0.30000000000000004, 1e-25, 7.0]))
def test_snap_is_the_float_nearest_the_decimal_k_steps(k: int, step: float) -> None:
    """The exact-division shortcut gives what rounding `k * step` to the step's decimals does
    (its reference definition), and the float nearest the decimal `k * step`."""
    snapped = snap(k * step, step, "nearest")
    assert snapped == round(k * step, step_decimals(step))
    if step_decimals(step) <= 12:
        assert snapped == float(Decimal(k) * Decimal(repr(step)))


@given(price=values, reference=values, step=steps)
def test_away_and_toward_keep_the_side_of_the_reference(price, reference, step) -> None:
    grid = MarketPrecision(step, 0.001)
    away, toward = grid.price_away(price, reference), grid.price_toward(price, reference)
    if price < reference:
        assert away <= price * (1 + 1e-12) and toward >= price * (1 - 1e-12)
    elif price > reference:
        assert away >= price * (1 - 1e-12) and toward <= price * (1 + 1e-12)


def test_known_values() -> None:
    btc = MarketPrecision(0.1, 0.001)
    assert btc.quantity_down(5.3289999999999935) == 5.329  # float noise is not a lot short
    assert btc.quantity_of(5329) == 5.329
    assert btc.price_down(3036.631) == 3036.6 and MarketPrecision(0.01, 0.001).price_down(
        3036.631) == 3036.63
    assert btc.price_away(86522.68, 90000) == 86522.6 and btc.price_toward(86522.68, 90000) == (
        86522.7)
    assert btc.lots_down(0.3) == 300 and btc.on_lot_grid(0.1 + 0.2)
    assert significant(0.35000000000000003) == 0.35 and significant(82292.53012048193) == (
        82292.5301205)
    assert step_decimals(5e-05) == 5 and step_decimals(10.0) == 0


def test_a_bad_grid_and_a_bad_side_are_refused() -> None:
    with pytest.raises(ValueError, match="tick_size"):
        MarketPrecision(0.0, 0.001)
    with pytest.raises(ValueError, match="lot_size"):
        MarketPrecision(0.1, float("nan"))
    assert position_side("buy") == "long" and position_side("short") == "short"
    with pytest.raises(ValueError):
        position_side("up")


def test_answers_lose_the_float_noise_of_their_arithmetic() -> None:
    from execsvc.domain.units import without_float_noise

    cleaned = without_float_noise({
        "unrealized_pnl_quote": 0.1 * (93536.3 - 93536.4),  # -0.010000000000582077
        "size": 0.1 + 0.2, "fills": [{"fee_quote": 4.676820000000001, "price": 93536.4}],
        "status": "filled", "count": 3})
    assert cleaned == {"unrealized_pnl_quote": -0.01, "size": 0.3,
                       "fills": [{"fee_quote": 4.67682, "price": 93536.4}],
                       "status": "filled", "count": 3}


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50),
       st.integers(0, 10))
def test_matches_the_builtin_round(values: list[float], decimals: int) -> None:
    rounded = round_like_builtin(np.array(values), decimals).tolist()
    assert all(same(r, round(v, decimals)) for r, v in zip(rounded, values, strict=True))


def test_known_cases_where_np_round_differs() -> None:
    values = np.array([2.675, 1.005, 0.125, 56294995342131.5, 0.285, 1e300, -2.5e-3])
    expected = [round(v, 3) for v in values.tolist()]
    assert round_like_builtin(values, 3).tolist() == expected
    assert np.round(56294995342131.5, 3) != round(56294995342131.5, 3)  # why it exists


def test_decimals_per_column() -> None:
    table = np.array([[1.23456, 9.87654], [2.5, 0.33333]])
    assert round_like_builtin(table, np.array([1, 3])).tolist() == [[1.2, 9.877], [2.5, 0.333]]
