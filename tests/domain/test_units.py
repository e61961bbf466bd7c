"""`round_like_builtin`: Python's `round` at numpy speed, on any value and decimals."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.units import round_like_builtin


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
