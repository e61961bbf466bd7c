"""The pure paper engine: known answers on small books and properties on the recorded Binance
BTCUSDT books (fills vs depth and quantity, book consumption, money conservation, reduce-only,
post-only, stops, liquidation, and folding the events reproducing the live state)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.domain.orders import Order, OrderRequest
from execsvc.liqmap.margin import liquidation_price
from execsvc.market.replay_books import recorded_order_book, snapshot_count
from execsvc.venues.paper.engine import (
    Fees,
    decide_cancel,
    decide_on_price,
    decide_submit,
    open_account,
)
from execsvc.venues.paper.ledger import Event, fold
from execsvc.venues.paper.state import PaperState

BRACKETS = BINANCE_USDM_BRACKETS["BTCUSDT"]
FEES = Fees(taker_bps=5.0, maker_bps=2.0)
SMALL = OrderBook.of([[99.0, 1.0], [98.0, 2.0], [97.0, 3.0]], [[100.0, 1.0], [101.0, 2.0],
                                                          [102.0, 3.0]], version=1)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@cache
def recorded(index: int, version: int | None = None) -> OrderBook:
    book = recorded_order_book(index)
    return OrderBook.of(book.bids, book.asks, version=index if version is None else version)


class Sim:
    """A paper account driven by decisions, keeping every event it journaled."""

    def __init__(self, balance: float = 10_000_000.0, symbol: str = "BTCUSDT") -> None:
        self.state = PaperState()
        self.events: list[Event] = []
        self.now = 0
        self.symbol = symbol
        self.run(open_account(self.state, balance, now_ms=0))

    def run(self, decision) -> list[Event]:
        self.state.absorb(decision.state)
        self.events += decision.events
        return decision.events

    def submit(self, book: OrderBook | None, **fields) -> Order:
        self.now += 1
        request = OrderRequest(client_order_id=f"c{self.now}", symbol=self.symbol, **fields)
        decision = decide_submit(self.state, request, book=book, fees=FEES, brackets=BRACKETS,
                                 now_ms=self.now, api_key_id="k1")
        self.run(decision)
        return self.state.orders[decision.order_id]

    def tick(self, low: float, high: float, mark: float, book: OrderBook | None = None) -> list:
        self.now += 1
        return self.run(decide_on_price(self.state, self.symbol, low, high, mark, book=book,
                                        fees=FEES, brackets=BRACKETS, now_ms=self.now))

    def cancel(self, order_id: str) -> list[Event]:
        self.now += 1
        return self.run(decide_cancel(self.state, order_id, now_ms=self.now))

    def fills(self) -> list[Event]:
        return [e for e in self.events if e["type"] == "fill"]


def assert_consistent(sim: Sim) -> None:
    """Money conservation, order bookkeeping, and fold(events) == live state."""
    state = sim.state
    fills = sim.fills()
    liquidations = [e for e in sim.events if e["type"] == "position_liquidated"]
    fees = sum(e["fee_quote"] for e in fills) + sum(e["fee_quote"] for e in liquidations)
    scale = state.deposits_quote + sum(e["quantity"] * e["price"] for e in fills)
    tol = 1e-9 * scale
    assert state.fees_paid_quote == pytest.approx(fees, abs=tol)
    change = state.balance_quote - state.deposits_quote
    assert change == pytest.approx(state.realized_pnl_quote - state.fees_paid_quote, abs=tol)
    # Cash-flow identity of weighted-average positions (see execsvc.venues.paper.ledger).
    cash = -sum((1 if e["side"] == "buy" else -1) * e["quantity"] * e["price"] for e in fills)
    cash_liq = 0.0
    sizes: dict[str, float] = {}
    for event in sim.events:
        if event["type"] == "fill":
            sign = 1 if event["side"] == "buy" else -1
            sizes[event["symbol"]] = sizes.get(event["symbol"], 0.0) + sign * event["quantity"]
        elif event["type"] == "position_liquidated":
            cash_liq += sizes[event["symbol"]] * event["price"]
            sizes[event["symbol"]] = 0.0
    held = sum(p.size * p.entry_price for p in state.positions.values())
    assert change == pytest.approx(cash + cash_liq + held - fees, abs=tol)
    for order in state.orders.values():
        assert order.filled_quantity <= order.request.quantity * (1 + 1e-9)
        assert math.fsum(f.quantity for f in order.fills) == pytest.approx(
            order.filled_quantity, rel=1e-12)
        assert (order.id in state.open_orders) == order.is_open
    assert all(v >= 0.0 for v in state.reserved.values())
    assert fold(orjson.loads(orjson.dumps(sim.events))) == state


# --- known answers on a small book ----------------------------------------------------------


def test_market_order_partial_fill_when_depth_runs_out() -> None:
    sim = Sim()
    order = sim.submit(SMALL, side="buy", type="market", quantity=10.0)
    assert order.status == "expired" and order.reason == "insufficient_depth"
    assert order.filled_quantity == 6.0
    assert order.average_price == pytest.approx((100 + 202 + 306) / 6)
    assert order.fees_quote == pytest.approx(608 * 5e-4)
    assert sim.state.positions["BTCUSDT"].size == 6.0
    again = sim.submit(SMALL, side="buy", type="market", quantity=1.0)
    assert again.status == "rejected" and again.reason == "no_liquidity"
    fresh = OrderBook.of(SMALL.bids, SMALL.asks, version=2)  # a new version resets consumption
    assert sim.submit(fresh, side="buy", type="market", quantity=1.0).average_price == 100.0
    assert_consistent(sim)


def test_limit_gtc_takes_up_to_its_price_and_rests_the_rest() -> None:
    sim = Sim()
    order = sim.submit(SMALL, side="buy", type="limit", quantity=5.0, price=101.0)
    assert order.status == "partially_filled" and order.filled_quantity == 3.0
    assert order.average_price == pytest.approx(302 / 3)
    assert sim.state.reserved[order.id] == pytest.approx(2.0 * 101.0 / 10.0)
    assert sim.tick(101.0, 103.0, 101.5) == []  # touching 101 is not trading through it
    events = sim.tick(100.9, 103.0, 101.0)
    assert [e["type"] for e in events] == ["fill"] and events[0]["liquidity"] == "maker"
    done = sim.state.orders[order.id]
    assert done.status == "filled" and done.fills[-1].fee_quote == pytest.approx(202 * 2e-4)
    assert order.id not in sim.state.reserved
    assert_consistent(sim)


def test_ioc_remainder_expires_and_cancel_releases_margin() -> None:
    sim = Sim()
    ioc = sim.submit(SMALL, side="sell", type="limit", quantity=3.5, price=98.0,
                     time_in_force="IOC")
    assert ioc.status == "expired" and ioc.reason == "ioc" and ioc.filled_quantity == 3.0
    resting = sim.submit(SMALL, side="buy", type="limit", quantity=5.0, price=90.0)
    # 3 of the 5 would close the short: only 2 open exposure and reserve 2 * 90 / 10x
    assert resting.status == "new" and sim.state.reserved[resting.id] == pytest.approx(18.0)
    sim.cancel(resting.id)
    assert sim.state.orders[resting.id].status == "canceled"
    assert resting.id not in sim.state.reserved and sim.cancel(resting.id) == []
    assert_consistent(sim)


def test_insufficient_margin_is_rejected() -> None:
    sim = Sim(balance=50.0)
    order = sim.submit(SMALL, side="buy", type="market", quantity=6.0, leverage=10.0)
    assert order.status == "rejected" and order.reason == "insufficient_margin"
    assert sim.submit(SMALL, side="buy", type="market", quantity=1.0, leverage=10.0).status == (
        "filled")


def take_profit_outliving_its_position(balance: float, stop: bool = False) -> tuple[Sim, str]:
    """A long of 5 at ~100 (1x) with a sell that reduces it and so reserves nothing (a limit
    at 110, or a stop at 95), then the long closed at market: the sell now opens a short."""
    sim = Sim(balance=balance)
    sim.submit(SMALL, side="buy", type="market", quantity=5.0, leverage=1.0)
    exit_order = (sim.submit(SMALL, side="sell", type="stop", quantity=5.0, stop_price=95.0,
                             leverage=1.0) if stop else
                  sim.submit(SMALL, side="sell", type="limit", quantity=5.0, price=110.0,
                             leverage=1.0))
    assert exit_order.status == "new" and exit_order.id not in sim.state.reserved
    assert sim.submit(SMALL, side="sell", type="market", quantity=5.0,
                      leverage=1.0).status == "filled"
    assert sim.state.positions == {}
    return sim, exit_order.id


@pytest.mark.parametrize("stop", [False, True])
def test_a_resting_order_cannot_open_exposure_it_has_no_margin_for(stop: bool) -> None:
    """The exit outlived its position and the balance went to another order: when it fills
    it would open a short of 5 with no margin held (the account's committed margin above its
    balance, `available_quote` negative), so it expires unfilled instead."""
    sim, exit_id = take_profit_outliving_its_position(1000.0, stop)
    bid = sim.submit(SMALL, side="buy", type="limit", quantity=9.5, price=90.0, leverage=1.0)
    assert bid.status == "new"
    if stop:
        sim.tick(94.0, 100.0, 94.5, OrderBook.of(SMALL.bids, SMALL.asks, version=2))
    else:
        sim.tick(100.0, 111.0, 111.0)
    exit_order = sim.state.orders[exit_id]
    assert exit_order.status == "expired" and exit_order.reason == "insufficient_margin"
    assert exit_order.filled_quantity == 0.0 and "BTCUSDT" not in sim.state.positions
    assert sim.state.available_quote >= 0.0
    assert_consistent(sim)


@pytest.mark.parametrize("stop", [False, True])
def test_a_resting_order_with_the_margin_for_it_still_opens_exposure(stop: bool) -> None:
    sim, exit_id = take_profit_outliving_its_position(1000.0, stop)
    if stop:
        sim.tick(94.0, 100.0, 94.5, OrderBook.of(SMALL.bids, SMALL.asks, version=2))
    else:
        sim.tick(100.0, 111.0, 111.0)
    assert sim.state.orders[exit_id].status == "filled"
    assert sim.state.positions["BTCUSDT"].size == -5.0
    assert sim.state.available_quote >= 0.0
    assert_consistent(sim)


def test_invalid_requests_are_rejected_with_a_reason() -> None:
    sim = Sim()
    assert sim.submit(SMALL, side="buy", type="limit", quantity=1.0).reason == "invalid_price"
    assert sim.submit(SMALL, side="buy", type="market", quantity=-1.0).reason == (
        "invalid_quantity")
    assert sim.submit(SMALL, side="buy", type="market", quantity=1.0, leverage=200.0).reason == (
        "invalid_leverage")
    assert sim.submit(None, side="buy", type="market", quantity=1.0).reason == "no_book"
    assert sim.submit(SMALL, side="sell", type="market", quantity=1.0,
                      reduce_only=True).reason == "reduce_only_no_position"


def test_a_known_client_order_id_produces_no_events() -> None:
    sim = Sim()
    order = sim.submit(SMALL, side="buy", type="market", quantity=1.0)
    decision = decide_submit(sim.state, order.request, book=SMALL, fees=FEES,
                             brackets=BRACKETS, now_ms=99)
    assert decision.events == [] and decision.order_id == order.id


# --- properties on the recorded books -------------------------------------------------------

book_index = st.integers(0, snapshot_count() - 1)
sides = st.sampled_from(["buy", "sell"])
quantities = st.floats(0.001, 300.0)


@SETTINGS
@given(book_index, st.lists(st.tuples(sides, quantities), min_size=1, max_size=6))
def test_fills_never_exceed_quantity_or_book_depth(index: int, orders: list) -> None:
    book = recorded(index)
    sim = Sim(balance=1e12)
    for side, quantity in orders:
        order = sim.submit(book, side=side, type="market", quantity=quantity, leverage=100.0)
        assert order.filled_quantity <= quantity * (1 + 1e-12)
    for side, levels in (("buy", book.asks), ("sell", book.bids)):
        taken: dict[float, float] = {}
        for fill in sim.fills():
            if fill["side"] == side:
                assert fill["quantity"] == pytest.approx(sum(q for _, q in fill["levels"]),
                                                         rel=1e-12)
                for price, quantity in fill["levels"]:
                    taken[price] = taken.get(price, 0.0) + quantity
        depth = dict(zip(levels[:, 0].tolist(), levels[:, 1].tolist(), strict=True))
        for price, quantity in taken.items():
            assert quantity <= depth[price] * (1 + 1e-9)
    assert_consistent(sim)


@SETTINGS
@given(book_index, sides, st.floats(0.01, 90.0))
def test_a_second_market_order_sees_a_thinner_book(index: int, side: str, qty: float) -> None:
    book = recorded(index)
    sim = Sim(balance=1e12)
    first = sim.submit(book, side=side, type="market", quantity=qty, leverage=100.0)
    second = sim.submit(book, side=side, type="market", quantity=qty, leverage=100.0)
    sign = 1.0 if side == "buy" else -1.0
    assert first.status == second.status == "filled"
    assert sign * (second.average_price - first.average_price) >= 0.0
    best = book.asks[0] if side == "buy" else book.bids[0]
    if qty >= best[1]:  # the first order emptied the best level: strictly worse
        assert sign * (second.average_price - first.average_price) > 0.0
    renewed = OrderBook.of(book.bids, book.asks, version=book.version + 10_000)
    third = sim.submit(renewed, side=side, type="market", quantity=qty, leverage=100.0)
    assert third.average_price == first.average_price


reduce_only = st.sampled_from([False, False, False, True])
order_actions = st.one_of(
    st.tuples(st.just("market"), sides, st.floats(0.001, 40.0), st.sampled_from([1, 5, 20, 100]),
              reduce_only),
    st.tuples(st.just("limit"), sides, st.floats(0.001, 40.0), st.floats(-40.0, 40.0),
              st.sampled_from(["GTC", "IOC", "POST_ONLY"]), reduce_only),
    st.tuples(st.just("stop"), sides, st.floats(0.001, 40.0), st.floats(2.0, 300.0),
              reduce_only),
    st.tuples(st.just("tick"), st.floats(-600.0, 600.0), st.floats(0.0, 100.0), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(1, 12)),
    st.tuples(st.just("book"), book_index),
)


def play(sim: Sim, book: OrderBook, action: tuple) -> OrderBook:
    """Run one drawn action; prices are bps offsets from the current book's mid."""
    kind, mid = action[0], book.mid
    if kind == "market":
        _, side, qty, leverage, reduce = action
        sim.submit(book, side=side, type="market", quantity=qty, leverage=float(leverage),
                   reduce_only=reduce)
    elif kind == "limit":
        _, side, qty, offset, tif, reduce = action
        sim.submit(book, side=side, type="limit", quantity=qty, price=mid * (1 + offset / 1e4),
                   time_in_force=tif, reduce_only=reduce, leverage=20.0)
    elif kind == "stop":
        _, side, qty, offset, reduce = action
        sign = 1.0 if side == "buy" else -1.0
        sim.submit(book, side=side, type="stop", quantity=qty, reduce_only=reduce,
                   stop_price=mid * (1 + sign * offset / 1e4), leverage=50.0)
    elif kind == "tick":
        _, move, spread, with_book = action
        mark = mid * (1 + move / 1e4)
        sim.tick(min(mid, mark) * (1 - spread / 1e4), max(mid, mark) * (1 + spread / 1e4), mark,
                 book if with_book else None)
    elif kind == "cancel":
        sim.cancel(f"po-{action[1]:08d}")
    else:
        return recorded(action[1], version=book.version + 1)
    return book


@SETTINGS
@given(book_index, st.lists(order_actions, min_size=1, max_size=25))
def test_money_is_conserved_and_the_fold_equals_the_live_state(index: int, actions) -> None:
    sim = Sim()
    book = recorded(index)
    for action in actions:
        book = play(sim, book, action)
    assert_consistent(sim)


@SETTINGS
@given(book_index, sides, st.floats(0.01, 20.0),
       st.lists(st.tuples(st.sampled_from(["market", "limit", "tick"]), st.floats(0.001, 30.0),
                          st.booleans()), min_size=1, max_size=8))
def test_reduce_only_never_flips_or_grows_a_position(index, side, size, orders) -> None:
    book = recorded(index)
    sim = Sim()
    sim.submit(book, side=side, type="market", quantity=size)
    direction = 1.0 if side == "buy" else -1.0
    held = sim.state.positions["BTCUSDT"].size
    closing = "sell" if side == "buy" else "buy"
    for kind, qty, same_side in orders:
        order_side = side if same_side else closing
        if kind == "market":
            order = sim.submit(book, side=order_side, type="market", quantity=qty,
                               reduce_only=True)
        elif kind == "limit":
            price = book.mid * (1 + (1 if order_side == "sell" else -1) * 5e-4)
            order = sim.submit(book, side=order_side, type="limit", quantity=qty, price=price,
                               reduce_only=True)
        else:
            sim.tick(book.mid * 0.999, book.mid * 1.001, book.mid)
            order = None
        if order is not None and same_side:
            assert order.status == "rejected"
        position = sim.state.positions.get("BTCUSDT")
        now = 0.0 if position is None else position.size
        assert now * direction >= 0.0 and abs(now) <= abs(held) * (1 + 1e-12)
        held = now
    assert_consistent(sim)


@SETTINGS
@given(book_index, sides, st.floats(-30.0, 30.0))
def test_post_only_that_would_cross_is_rejected(index: int, side: str, offset_bps: float) -> None:
    book = recorded(index)
    sim = Sim()
    best_opposite = book.asks[0, 0] if side == "buy" else book.bids[0, 0]
    price = float(best_opposite * (1 + offset_bps / 1e4))
    order = sim.submit(book, side=side, type="limit", quantity=0.5, price=price,
                       time_in_force="POST_ONLY")
    crosses = price >= best_opposite if side == "buy" else price <= best_opposite
    if crosses:
        assert order.status == "rejected" and order.reason == "post_only_would_cross"
    else:
        assert order.status == "new" and order.fills == ()
    assert_consistent(sim)


@SETTINGS
@given(book_index, sides, st.floats(5.0, 300.0), st.floats(-50.0, 50.0), st.booleans())
def test_a_stop_triggers_when_the_price_trades_through(index, side, away_bps, beyond_bps,
                                                      with_book) -> None:
    book = recorded(index)
    sim = Sim()
    sign = 1.0 if side == "buy" else -1.0
    stop = book.mid * (1 + sign * away_bps / 1e4)
    order = sim.submit(book, side=side, type="stop", quantity=1.0, stop_price=stop)
    assert order.status == "new"
    extreme = stop * (1 + sign * beyond_bps / 1e4)  # the tick's high (buy) or low (sell)
    low, high = (book.mid, extreme) if side == "buy" else (extreme, book.mid)
    sim.tick(min(low, high), max(low, high), book.mid, book if with_book else None)
    after = sim.state.orders[order.id]
    reached = extreme >= stop if side == "buy" else extreme <= stop
    assert after.status == ("filled" if reached else "new")
    if reached:
        assert after.fills[0].liquidity == "taker"
        if not with_book:
            assert after.average_price == stop
    assert_consistent(sim)


@SETTINGS
@given(book_index, sides, st.floats(2.0, 125.0), st.floats(0.01, 30.0), st.floats(1e-6, 0.05))
def test_liquidation_at_the_liquidation_price(index, side, leverage, qty, beyond) -> None:
    book = recorded(index)
    sim = Sim()
    sim.submit(book, side=side, type="market", quantity=qty, leverage=leverage)
    position = sim.state.positions["BTCUSDT"]
    expected = liquidation_price("long" if side == "buy" else "short", position.entry_price,
                                 abs(position.size), leverage, BRACKETS)
    assert position.liquidation_price == pytest.approx(expected, rel=1e-12)
    lp = position.liquidation_price
    sign = 1.0 if side == "buy" else -1.0
    balance = sim.state.balance_quote
    inside = lp * (1 + sign * 1e-7)
    assert sim.tick(inside * 0.999, inside * 1.001, inside) == []
    mark = lp * (1 - sign * beyond)
    events = sim.tick(min(mark, lp), max(mark, lp), mark)
    assert [e["type"] for e in events] == ["position_liquidated"]
    assert events[0]["price"] == lp
    assert "BTCUSDT" not in sim.state.positions
    assert sim.state.balance_quote - balance == pytest.approx(-position.margin_quote, rel=1e-9)
    assert_consistent(sim)


def test_liquidation_cancels_reduce_only_orders() -> None:
    book = recorded(3)
    sim = Sim()
    sim.submit(book, side="buy", type="market", quantity=1.0, leverage=50.0)
    take_profit = sim.submit(book, side="sell", type="limit", quantity=1.0,
                             price=book.mid * 1.05, reduce_only=True)
    lp = sim.state.positions["BTCUSDT"].liquidation_price
    events = sim.tick(lp * 0.99, book.mid, lp * 0.99)
    assert [e["type"] for e in events] == ["position_liquidated", "order_canceled"]
    assert sim.state.orders[take_profit.id].reason == "position_liquidated"
    assert_consistent(sim)


def test_fork_leaves_the_original_untouched() -> None:
    sim = Sim()
    before = fold(orjson.loads(orjson.dumps(sim.events)))
    decision = decide_submit(sim.state, OrderRequest("x", "BTCUSDT", "buy", "market", 2.0),
                             book=recorded(0), fees=FEES, brackets=BRACKETS, now_ms=5)
    assert decision.events and sim.state == before
    assert np.isclose(decision.state.positions["BTCUSDT"].size, 2.0)


# --- the exchange grid ------------------------------------------------------------------------


@SETTINGS
@given(index=st.integers(0, snapshot_count() - 1), lots=st.integers(1, 60_000),
       side=st.sampled_from(["buy", "sell"]), leverage=st.floats(1.0, 100.0))
def test_fills_and_positions_sit_on_the_tick_and_lot(index, lots, side, leverage) -> None:
    """On a book with the symbol's grid (replayed BTCUSDT: tick 0.1, lot 0.001) a market order
    of whole lots fills one level at a time, each at a tick price for whole lots, and the
    position's liquidation price sits on the tick."""
    from execsvc.domain.units import MarketPrecision
    from execsvc.market.replay_books import replay_order_book

    grid = MarketPrecision(0.1, 0.001)
    book = replay_order_book("BTCUSDT", 93536.3, at_ms=index * 1000, depth=1000,
                             precision=grid)
    book = OrderBook.of(book.bids, book.asks, version=1, precision=grid)
    sim = Sim()
    quantity = grid.quantity_of(lots)
    order = sim.submit(book, side=side, type="market", quantity=quantity, leverage=leverage)
    fills = sim.fills()
    assert fills and len({f["price"] for f in fills}) == len(fills)
    for fill in fills:
        assert grid.on_price_grid(fill["price"]) and grid.on_lot_grid(fill["quantity"])
        assert repr(fill["quantity"]) == repr(grid.quantity(fill["quantity"]))
        if fill["liquidation_price"] is not None:
            assert grid.on_price_grid(fill["liquidation_price"])
    filled_lots = sum(grid.lots(f["quantity"]) for f in fills)
    assert filled_lots == (lots if order.status == "filled" else filled_lots)
    if order.status == "filled":
        assert grid.lots(order.filled_quantity) == lots
    assert_consistent(sim)
