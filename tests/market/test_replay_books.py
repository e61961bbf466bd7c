"""The bundled recorded books (data/books_btcusdt.npz only) and their re-centring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.book import OrderBook, walk_book
from execsvc.market.replay_books import (
    BOOKS_PATH,
    recorded_books,
    recorded_order_book,
    replay_order_book,
    snapshot_count,
    snapshot_index,
    tick_decimals,
)


def notional(levels: np.ndarray) -> float:
    return float((levels[:, 0] * levels[:, 1]).sum())


def assert_book_invariants(book: OrderBook) -> None:
    assert book.bids.ndim == 2 and book.bids.shape[1] == 2 and len(book.bids) > 0
    assert book.asks.ndim == 2 and book.asks.shape[1] == 2 and len(book.asks) > 0
    assert np.all(np.diff(book.bids[:, 0]) < 0), "bids strictly descending"
    assert np.all(np.diff(book.asks[:, 0]) > 0), "asks strictly ascending"
    assert book.bids[0, 0] < book.asks[0, 0]
    assert np.all(book.bids[:, 1] > 0) and np.all(book.asks[:, 1] > 0)


def test_bundle_is_packaged_with_the_code() -> None:
    assert BOOKS_PATH.parent.name == "data"
    assert BOOKS_PATH.is_file()
    assert recorded_books() is recorded_books()  # loaded once


def test_every_recorded_sample_is_a_valid_book_with_200_btc_per_side() -> None:
    count = snapshot_count()
    assert count > 800
    times = recorded_books().time_ms
    for i in range(count):
        book = recorded_order_book(i)
        assert_book_invariants(book)
        assert book.bids[:, 1].sum() >= 200.0
        assert book.asks[:, 1].sum() >= 200.0
        # prices sit on the 0.1 USDT tick, sizes on the 0.001 BTC step
        ticks = np.concatenate([book.bids[:, 0], book.asks[:, 0]]) * 10.0
        np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
        assert book.timestamp_ms == times[i]
    assert np.all(np.diff(times) > 0)  # 2024-07-18/19 then 2024-08-08, in time order


def test_recorded_books_support_a_200_btc_walk() -> None:
    for i in range(0, snapshot_count(), 25):
        book = recorded_order_book(i)
        assert walk_book(book.asks, 200.0, "buy").fully_filled
        assert walk_book(book.bids, 200.0, "sell").fully_filled


def test_recorded_source_names_exchange_symbol_and_time() -> None:
    book = recorded_order_book(0)
    assert book.source.startswith("recorded:binanceusdm:BTCUSDT:20")
    assert book.source.endswith("Z")


@pytest.mark.parametrize("mid", [64123.45, 70000.0, 58000.05, 30000.0, 250000.0])
def test_btc_book_recentres_on_the_given_mid(mid: float) -> None:
    book = replay_order_book("BTCUSDT", mid, at_ms=1_723_161_300_000, depth=400)
    assert_book_invariants(book)
    assert abs(book.mid - mid) <= 0.1
    assert book.source.startswith("recorded:binanceusdm:BTCUSDT:")
    assert len(book.bids) <= 400 and len(book.asks) <= 400


def test_recentring_at_the_recorded_mid_returns_the_recorded_book() -> None:
    at_ms = 5_000
    recorded = recorded_order_book(snapshot_index(at_ms))
    book = replay_order_book("BTCUSDT", recorded.mid, at_ms=at_ms, depth=10_000)
    np.testing.assert_array_equal(book.bids, recorded.bids)
    np.testing.assert_array_equal(book.asks, recorded.asks)
    assert book.source == recorded.source
    assert book.timestamp_ms == at_ms


def test_recentring_keeps_each_levels_bps_offset_and_notional() -> None:
    at_ms = 123_000
    recorded = recorded_order_book(snapshot_index(at_ms))
    mid = recorded.mid * 1.137  # levels spread apart: no two land on one tick
    book = replay_order_book("BTCUSDT", mid, at_ms=at_ms, depth=10_000)
    for new, old in ((book.bids, recorded.bids), (book.asks, recorded.asks)):
        assert len(new) == len(old)
        old_bps = (old[:, 0] / recorded.mid - 1.0) * 1e4
        new_bps = (new[:, 0] / mid - 1.0) * 1e4
        np.testing.assert_allclose(new_bps, old_bps, atol=0.1 / mid * 1e4)  # one tick
        np.testing.assert_allclose(new[:, 0] * new[:, 1], old[:, 0] * old[:, 1], rtol=1e-12)


def cumulative_notional_within(levels: np.ndarray, mid: float, bps: float) -> float:
    inside = np.abs(levels[:, 0] / mid - 1.0) * 1e4 <= bps
    return notional(levels[inside])


def test_recentring_lower_merges_levels_but_keeps_the_notional_profile() -> None:
    at_ms = 400_000
    recorded = recorded_order_book(snapshot_index(at_ms))
    mid = recorded.mid * 0.45  # tick now 2.2x coarser in bps: levels merge
    book = replay_order_book("BTCUSDT", mid, at_ms=at_ms, depth=10_000)
    assert_book_invariants(book)
    assert len(book.bids) < len(recorded.bids)
    for new, old in ((book.bids, recorded.bids), (book.asks, recorded.asks)):
        assert notional(new) == pytest.approx(notional(old), rel=1e-12)
    tick_bps = 0.1 / mid * 1e4
    for bps in (2.0, 5.0, 10.0):
        for new, old in ((book.bids, recorded.bids), (book.asks, recorded.asks)):
            got = cumulative_notional_within(new, mid, bps + tick_bps)
            assert got >= cumulative_notional_within(old, recorded.mid, bps) * (1 - 1e-12)
            got_inner = cumulative_notional_within(new, mid, bps - tick_bps)
            assert got_inner <= cumulative_notional_within(old, recorded.mid, bps) * (1 + 1e-12)


def test_book_cycles_with_replay_time() -> None:
    count = snapshot_count()
    first = replay_order_book("BTCUSDT", 60000.0, at_ms=10_000, depth=50)
    same_second = replay_order_book("BTCUSDT", 60000.0, at_ms=10_999, depth=50)
    next_second = replay_order_book("BTCUSDT", 60000.0, at_ms=11_000, depth=50)
    looped = replay_order_book("BTCUSDT", 60000.0, at_ms=10_000 + count * 1000, depth=50)
    np.testing.assert_array_equal(first.bids, same_second.bids)
    assert next_second.source != first.source
    assert not np.array_equal(first.asks, next_second.asks)
    np.testing.assert_array_equal(first.asks, looped.asks)
    assert looped.source == first.source
    assert snapshot_index(10_000 + count * 1000) == snapshot_index(10_000)


def test_other_symbol_gets_the_rescaled_profile_and_says_so() -> None:
    at_ms = 77_000
    recorded = recorded_order_book(snapshot_index(at_ms))
    book = replay_order_book("ETHUSDT", 2512.37, at_ms=at_ms, depth=10_000, quote_volume_scale=0.4)
    assert_book_invariants(book)
    assert book.source.startswith("profile:BTCUSDT->ETHUSDT ")
    assert recorded.source in book.source
    assert "x0.4" in book.source
    assert abs(book.mid - 2512.37) <= 0.01
    ticks = np.concatenate([book.bids[:, 0], book.asks[:, 0]]) * 100.0
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
    for new, old in ((book.bids, recorded.bids), (book.asks, recorded.asks)):
        assert notional(new) == pytest.approx(0.4 * notional(old), rel=1e-12)
    span_old = (recorded.asks[-1, 0] / recorded.mid - 1.0) * 1e4
    span_new = (book.asks[-1, 0] / book.mid - 1.0) * 1e4
    assert span_new == pytest.approx(span_old, abs=0.1)


def test_depth_limits_levels_per_side() -> None:
    book = replay_order_book("SOLUSDT", 151.234, at_ms=0, depth=7)
    assert len(book.bids) == 7 and len(book.asks) == 7
    assert book.source.startswith("profile:BTCUSDT->SOLUSDT ")
    assert_book_invariants(book)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mid_price": 0.0}, "mid_price"),
        ({"mid_price": float("nan")}, "mid_price"),
        ({"depth": 0}, "depth"),
        ({"quote_volume_scale": -1.0}, "quote_volume_scale"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict, name: str) -> None:
    args = {"symbol": "BTCUSDT", "mid_price": 60000.0, "at_ms": 0, "depth": 10, **kwargs}
    with pytest.raises(ValueError, match=name):
        replay_order_book(**args)


@settings(max_examples=150, deadline=None)
@given(
    mid=st.floats(min_value=1e-4, max_value=1e6),
    at_ms=st.integers(min_value=0, max_value=2**41),
    symbol=st.sampled_from(["BTCUSDT", "ETHUSDT", "DOGEUSDT"]),
    scale=st.floats(min_value=1e-3, max_value=1e3),
)
def test_any_mid_gives_a_valid_book_centred_within_one_tick(
    mid: float, at_ms: int, symbol: str, scale: float
) -> None:
    book = replay_order_book(symbol, mid, at_ms=at_ms, depth=300, quote_volume_scale=scale)
    assert_book_invariants(book)
    tick = 10.0 ** -tick_decimals(symbol, mid)
    assert tick <= mid * 1e-5 * (1 + 1e-9)
    assert abs(book.mid - mid) <= tick


@pytest.mark.parametrize(
    ("symbol", "price", "decimals"),
    [
        ("BTCUSDT", 61800.0, 1),
        ("BTCUSDT", 250000.0, 1),
        ("BTCUSDT", 900.0, 3),
        ("ETHUSDT", 2500.0, 2),
        ("SOLUSDT", 150.0, 3),
        ("DOGEUSDT", 0.12, 6),
    ],
)
def test_tick_decimals(symbol: str, price: float, decimals: int) -> None:
    assert tick_decimals(symbol, price) == decimals
