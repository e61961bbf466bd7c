"""walk_book / cost_curve: known answers on hand-built books and properties on random ones;
cleaning a side and the stored form."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.book import BookWalk, OrderBook, clean_side, cost_curve, walk_book

ASKS = np.array([[100.0, 1.0], [101.0, 2.0], [102.0, 3.0]])
BIDS = np.array([[99.0, 1.0], [98.0, 1.0], [97.0, 2.0]])


def test_buy_within_first_levels_known_answer() -> None:
    walk = walk_book(ASKS, 4.0, "buy")
    # 1 @ 100 + 2 @ 101 + 1 @ 102 = 404 USDT for 4 BTC
    assert walk.filled_quantity == 4.0
    assert walk.unfilled_quantity == 0.0
    assert walk.fully_filled
    assert walk.notional_quote == 404.0
    assert walk.average_price == 101.0
    assert walk.levels_consumed == 3
    assert walk.worst_price == 102.0
    assert walk.reference_price == 100.0
    assert walk.slippage_bps == pytest.approx(100.0, rel=1e-12)  # (101 / 100 - 1) * 1e4


def test_buy_ending_exactly_on_a_level_boundary() -> None:
    walk = walk_book(ASKS, 3.0, "buy")
    assert walk.levels_consumed == 2
    assert walk.worst_price == 101.0
    assert walk.notional_quote == 302.0


def test_float_boundary_does_not_touch_the_next_level() -> None:
    asks = np.array([[10.0, 0.1], [10.5, 0.2], [11.0, 0.3], [20.0, 5.0]])
    walk = walk_book(asks, 0.6, "buy")  # 0.1 + 0.2 + 0.3 != 0.6 in floating point
    assert walk.levels_consumed == 3
    assert walk.worst_price == 11.0
    assert walk.average_price == pytest.approx((1.0 + 2.1 + 3.3) / 0.6, rel=1e-12)


def test_partial_fill_reports_the_remainder() -> None:
    walk = walk_book(ASKS, 10.0, "buy")
    assert walk.filled_quantity == 6.0
    assert walk.unfilled_quantity == 4.0
    assert not walk.fully_filled
    assert walk.notional_quote == 608.0  # 100 + 202 + 306
    assert walk.average_price == 608.0 / 6.0
    assert walk.levels_consumed == 3
    assert walk.worst_price == 102.0


def test_sell_walks_bids_and_slippage_is_a_cost() -> None:
    walk = walk_book(BIDS, 2.0, "sell")
    assert walk.average_price == 98.5
    assert walk.levels_consumed == 2
    assert walk.worst_price == 98.0
    assert walk.slippage_bps == pytest.approx((99.0 - 98.5) / 99.0 * 1e4, rel=1e-12)
    assert walk.slippage_bps > 0.0


def test_reference_price_mid() -> None:
    mid = (BIDS[0, 0] + ASKS[0, 0]) / 2.0  # 99.5
    buy = walk_book(ASKS, 1.0, "buy", reference_price=mid)
    sell = walk_book(BIDS, 1.0, "sell", reference_price=mid)
    assert buy.slippage_bps == pytest.approx(0.5 / 99.5 * 1e4, rel=1e-12)
    assert sell.slippage_bps == pytest.approx(0.5 / 99.5 * 1e4, rel=1e-12)


def test_single_level_partial_first_level() -> None:
    walk = walk_book(ASKS, 0.25, "buy")
    assert walk == BookWalk(
        side="buy",
        filled_quantity=0.25,
        unfilled_quantity=0.0,
        average_price=100.0,
        notional_quote=25.0,
        levels_consumed=1,
        worst_price=100.0,
        reference_price=100.0,
        slippage_bps=0.0,
    )


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_quantity_must_be_finite_and_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="quantity"):
        walk_book(ASKS, bad, "buy")
    with pytest.raises(ValueError, match="quantities"):
        cost_curve(ASKS, np.array([1.0, bad]), "buy")


def test_rejects_wrong_side_order_and_bad_levels() -> None:
    with pytest.raises(ValueError, match="ascending"):
        walk_book(BIDS, 1.0, "buy")
    with pytest.raises(ValueError, match="descending"):
        walk_book(ASKS, 1.0, "sell")
    with pytest.raises(ValueError, match="side"):
        walk_book(ASKS, 1.0, "long")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="levels"):
        walk_book(np.empty((0, 2)), 1.0, "buy")
    with pytest.raises(ValueError, match="levels"):
        walk_book(np.array([[100.0, 0.0]]), 1.0, "buy")
    with pytest.raises(ValueError, match="reference_price"):
        walk_book(ASKS, 1.0, "buy", reference_price=0.0)


def test_cost_curve_keeps_shape() -> None:
    qs = np.array([[0.5, 1.0], [4.0, 10.0]])
    curve = cost_curve(ASKS, qs, "buy")
    assert curve.shape == (2, 2)
    assert curve[1, 0] == pytest.approx(100.0, rel=1e-12)


# --- properties -----------------------------------------------------------------------------

books = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.floats(min_value=1e-3, max_value=1e5),
        st.lists(st.integers(min_value=1, max_value=50), min_size=n, max_size=n),
        st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=n, max_size=n),
    )
)
quantity_lists = st.lists(st.floats(min_value=1e-4, max_value=5e4), min_size=1, max_size=20)


def make_side(book: tuple[float, list[int], list[float]], side: str) -> np.ndarray:
    """Levels from (best price, steps in ticks of 1e-4 * best, sizes): asks climb, bids fall
    (at most 40 * 50 ticks = 20 %, so bid prices stay positive)."""
    best, steps, sizes = book
    tick = best * 1e-4
    offsets = np.cumsum([0, *steps[1:]]) * tick
    prices = best + offsets if side == "buy" else best - offsets
    return np.column_stack([prices, np.array(sizes)])


@settings(max_examples=200, deadline=None)
@given(book=books, qs=quantity_lists, side=st.sampled_from(["buy", "sell"]))
def test_walk_properties(
    book: tuple[float, list[int], list[float]], qs: list[float], side: str
) -> None:
    levels = make_side(book, side)
    total = levels[:, 1].sum()
    quantities = np.sort(np.array(qs))
    walks = [walk_book(levels, q, side) for q in quantities]  # type: ignore[arg-type]
    for q, w in zip(quantities, walks, strict=True):
        assert w.filled_quantity + w.unfilled_quantity == pytest.approx(q, rel=1e-12)
        assert w.filled_quantity <= min(q, total) * (1 + 1e-12)
        lo, hi = sorted((levels[0, 0], w.worst_price))
        assert lo * (1 - 1e-12) <= w.average_price <= hi * (1 + 1e-12)
        assert w.slippage_bps >= -1e-9
        assert 1 <= w.levels_consumed <= len(levels)
    slippage = np.array([w.slippage_bps for w in walks])
    assert np.all(np.diff(slippage) >= -1e-9 * np.maximum(1.0, np.abs(slippage[1:])))
    curve = cost_curve(levels, quantities, side)  # type: ignore[arg-type]
    assert np.array_equal(curve, slippage)


def reference_clean(levels: np.ndarray, descending: bool) -> np.ndarray:
    """Finite positive levels, equal prices merged (sizes summed), best first: the long way."""
    keep = np.isfinite(levels).all(axis=1) & (levels[:, 0] > 0) & (levels[:, 1] > 0)
    prices, where = np.unique(levels[keep, 0], return_inverse=True)
    sizes = np.bincount(where, weights=levels[keep, 1], minlength=len(prices))
    side = np.column_stack((prices, sizes))
    return side[::-1] if descending else side


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, -1.0, math.nan, math.inf, 99.5, 100.0, 100.5,
                                           101.0, 101.5, 102.0]),
                          st.floats(-1.0, 5.0, allow_nan=False)), max_size=12),
       st.booleans(), st.booleans())
def test_cleaning_a_side(levels, descending, already_clean) -> None:
    array = np.array(levels, dtype=np.float64).reshape(-1, 2)
    if already_clean:  # as exchanges send them: one positive level per price, best first
        array = reference_clean(np.abs(array) + 1.0, descending)
    assert np.array_equal(clean_side(array, descending), reference_clean(array, descending))


def test_stored_form_as_bytes_is_the_json_of_the_stored_form() -> None:
    book = OrderBook.of([[100.5, 1.25], [100.0, 3.0]], [[101.0, 0.5]], timestamp_ms=7,
                        source="test")
    assert book.to_json_bytes() == orjson.dumps(book.to_json())
