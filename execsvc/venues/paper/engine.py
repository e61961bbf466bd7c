"""Paper trading decisions: given an account state, a book and a request (or a price tick), the
events that happen. Pure: no I/O, no clock (callers pass `now_ms`), no randomness.

Each `decide_*` function works on a `fork()` of the state, applying every event as it emits
it (so a later fill sees the position and book an earlier one left), and returns a `Decision`:
the events, in order, and the forked state after them. The caller journals the events and only
then adopts the state (`PaperState.absorb`); folding the same events with `apply` from the
same start gives the same state.

Matching rules (prices quote per base, quantities base, fees in bps of notional):
- market: walks the effective book (`paper.book`) with `walk_book` as a taker, one fill per
  level walked (at the level's price, on the tick; the part taken there on the book's lot, as
  an exchange reports trades); what the depth cannot fill expires (`insufficient_depth`).
  Without a book it is rejected (`no_book`), and so it is when this account's earlier fills
  took the whole side (`no_liquidity`); except a reduce-only order, which fills at the last
  known price (`last_price`, a taker fill like a book-less stop's), so a position can always
  be closed.
- limit GTC / IOC: the part that crosses walks the book up to the limit price as a taker; the
  rest rests (GTC) or expires (IOC). POST_ONLY: rejected if it would cross (`post_only_would_
  cross`), else rests. A resting limit fills in full, as a maker at its price, when a tick
  trades through it (buy: low < price; sell: high > price). No queue position is modelled.
- stop (stop-market): rests until a tick reaches the stop (buy: high >= stop; sell: low <=
  stop), then walks the book like a market order (without a book: fills at the stop price).
  Rejected when the book's mid is already at or through the stop (`stop_would_trigger`).
- reduce-only: rejected without an opposite position to reduce; each fill is clipped to the
  position, and what is left once the position is closed expires. Never flips or grows it.
- margin (isolated): an order needs `opening * price / leverage` plus a taker fee on its
  quantity within `available_quote`, `opening` being the part beyond an opposite position;
  resting orders reserve that margin until they fill or close. Adding to a position keeps
  the position's leverage. A resting order is checked again when it fills (a limit traded
  through, a stop triggered; at its limit or stop price): the position it was to reduce may
  be gone, so what it would open needs margin plus the fee within `available_quote` with its
  own reservation counted back, else it expires unfilled (`insufficient_margin`), as an
  exchange refuses a triggered order it cannot margin.
- liquidation price: `liqmap.margin.liquidation_price` of the position after each fill, on
  the tick toward the entry when the book carries the symbol's grid.
- liquidation: after a tick's fills, a position whose liquidation price the mark reached
  (long: mark <= LP; short: mark >= LP) closes at LP; the rest of its isolated margin is the
  clearance fee, so the account loses exactly that margin. Its reduce-only orders are canceled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from execsvc.domain.book import OrderBook, take, within_limit
from execsvc.domain.brackets import Bracket
from execsvc.domain.orders import Order, OrderRequest, Position, request_to_json
from execsvc.domain.units import MarketPrecision
from execsvc.liqmap.margin import liquidation_price
from execsvc.venues.paper.admission import (
    Fees,
    closable,
    finite_positive,
    initial_margin,
    market_walk,
    refusal,
)
from execsvc.venues.paper.book import effective_side
from execsvc.venues.paper.ledger import Event, apply, fill_position
from execsvc.venues.paper.state import DUST_REL, PaperState


@dataclass(frozen=True, slots=True)
class Decision:
    """The events a decision produced and the state after them (`order_id`: the order a
    submission created, if any)."""

    events: list[Event]
    state: PaperState
    order_id: str | None = None


@dataclass(slots=True)
class _Run:
    state: PaperState
    now_ms: int
    fees: Fees
    brackets: Sequence[Bracket]
    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        event["ts"] = self.now_ms
        apply(self.state, event)
        self.events.append(event)

    def decision(self, order_id: str | None = None) -> Decision:
        return Decision(self.events, self.state, order_id)


def position_liquidation_price(position: Position, brackets: Sequence[Bracket],
                               precision: MarketPrecision | None = None) -> float | None:
    """Isolated-margin liquidation price (quote per base) from `liqmap.margin.liquidation_price`,
    on the tick toward the entry when the grid is known (liquidated no later than the exact
    price); None when it is <= 0 (a long at 1x cannot be liquidated)."""
    side = "long" if position.size > 0.0 else "short"
    price = float(liquidation_price(side, position.entry_price, abs(position.size),
                                    position.leverage, brackets))
    if price <= 0.0:
        return None
    return precision.price_toward(price, position.entry_price) if precision else price


def _new_order_id(state: PaperState) -> str:
    return f"po-{state.order_seq + 1:08d}"


def _emit_fill(run: _Run, order: Order, quantity: float, price: float, fee: float,
               liquidity: str, book_version: int | None, levels: list | None,
               precision: MarketPrecision | None = None) -> None:
    request = order.request
    after, _ = fill_position(run.state.positions.get(request.symbol), request.symbol,
                             request.side, quantity, price, request.leverage)
    run.emit({
        "type": "fill", "id": f"{order.id}-{len(order.fills) + 1}", "order_id": order.id,
        "symbol": request.symbol, "side": request.side, "quantity": quantity, "price": price,
        "fee_quote": fee, "liquidity": liquidity, "leverage": request.leverage,
        "liquidation_price": None if after is None else position_liquidation_price(
            after, run.brackets, precision),
        "book_version": book_version, "levels": levels,
    })


def _emit_taker_fills(run: _Run, order_id: str, per_level: list[list[float]],
                      book: OrderBook) -> None:
    """One taker fill per book level walked, as an exchange reports them: each at the level's
    price (on the tick) for the part taken there (on the lot)."""
    for price, quantity in per_level:
        fee = price * quantity * run.fees.taker_bps / 1e4
        _emit_fill(run, run.state.orders[order_id], quantity, price, fee, "taker",
                   book.version, [[price, quantity]], book.precision)


def _fillable(run: _Run, order: Order) -> float:
    """The order's remaining quantity, clipped to the position for reduce-only (base)."""
    remaining = order.remaining_quantity
    if order.request.reduce_only:
        remaining = min(remaining, closable(run.state, order.request.symbol, order.request.side))
    return remaining if remaining > DUST_REL * order.request.quantity else 0.0


def _on_lot(quantity: float, book: OrderBook | None) -> float:
    """`quantity` on the book's lot (the nearest whole lots: a remainder of an order on the lot
    is on it up to float error), unchanged when the grid is unknown."""
    if book is None or book.precision is None or quantity <= 0.0:
        return quantity
    return book.precision.quantity(quantity)


def _close(run: _Run, order_id: str, kind: str, reason: str) -> None:
    if run.state.orders[order_id].is_open:
        run.emit({"type": kind, "order_id": order_id, "reason": reason})


def _take_from_book(run: _Run, order_id: str, book: OrderBook, limit: float | None) -> None:
    """A taker fill of what the effective book holds (up to `limit`) for the order."""
    order = run.state.orders[order_id]
    side, symbol = order.request.side, order.request.symbol
    quantity = _fillable(run, order)
    levels = within_limit(effective_side(book, side, run.state.books.get(symbol)), side, limit)
    if quantity <= 0.0 or len(levels) == 0:
        return
    _, per_level = take(levels, quantity, side, book.precision)
    _emit_taker_fills(run, order_id, per_level, book)


def _fill_at(run: _Run, order_id: str, price: float) -> None:
    """A book-less taker fill of what the order may still fill, at `price`."""
    order = run.state.orders[order_id]
    quantity = _fillable(run, order)
    if quantity > 0.0:
        fee = quantity * price * run.fees.taker_bps / 1e4
        _emit_fill(run, order, quantity, price, fee, "taker", None, None)


def _leftover_reason(run: _Run, order_id: str, default: str) -> str:
    order = run.state.orders[order_id]
    if order.request.reduce_only and _fillable(run, order) <= 0.0:
        return "reduce_only_position_closed"
    return default


def decide_submit(state: PaperState, request: OrderRequest, *, book: OrderBook | None, fees: Fees,
                  brackets: Sequence[Bracket], now_ms: int, api_key_id: str | None = None,
                  last_price: float | None = None) -> Decision:
    """Accept or reject `request` and do what it does at once (taker fills, IOC expiry).

    A `client_order_id` the account already knows produces no events (`order_id` is the known
    order): the caller returns that order, which makes submissions idempotent.
    """
    run = _Run(state.fork(), now_ms, fees, brackets)
    known = state.client_ids.get(request.client_order_id)
    if known is not None:
        return run.decision(known)
    order_id = _new_order_id(state)
    market = market_walk(state, request, book)
    closing_price = last_price if (request.type == "market" and request.reduce_only
                                   and book is None) else None
    reason, reserve = refusal(state, request, book, fees, market, closing_price)
    base = {"order_id": order_id, "api_key_id": api_key_id, "request": request_to_json(request)}
    if reason is not None:
        run.emit({"type": "order_rejected", **base, "reason": reason})
        return run.decision(order_id)
    run.emit({"type": "order_accepted", **base, "reserved_margin_quote": reserve})
    if request.type == "market" and book is not None:
        if market is not None and not request.reduce_only:
            _emit_taker_fills(run, order_id, market.levels, book)
        else:
            _take_from_book(run, order_id, book, None)
        _close(run, order_id, "order_expired",
               _leftover_reason(run, order_id, "insufficient_depth"))
    elif closing_price is not None:
        _fill_at(run, order_id, closing_price)
        _close(run, order_id, "order_expired", _leftover_reason(run, order_id, "no_book"))
    elif request.type == "limit" and request.time_in_force != "POST_ONLY":
        if book is not None:
            _take_from_book(run, order_id, book, request.price)
        if request.time_in_force == "IOC":
            _close(run, order_id, "order_expired", _leftover_reason(run, order_id, "ioc"))
        elif run.state.orders[order_id].is_open and _fillable(run, run.state.orders[order_id]) <= 0:
            _close(run, order_id, "order_expired", "reduce_only_position_closed")
    return run.decision(order_id)


def decide_cancel(state: PaperState, order_id: str, *, now_ms: int,
                  reason: str = "canceled_by_client") -> Decision:
    """Cancel a working order; no events when it is unknown or already closed."""
    run = _Run(state.fork(), now_ms, Fees(), ())
    order = state.orders.get(order_id)
    if order is not None and order.is_open:
        _close(run, order_id, "order_canceled", reason)
    return run.decision(order_id)


def _unaffordable(run: _Run, order: Order, quantity: float, price: float | None,
                  fee_bps: float) -> bool:
    """Whether a fill of `quantity` at about `price` (the limit or stop price) opens exposure
    the account has no margin for: its initial margin plus the fee beyond what is available
    with the order's own reservation counted back (the position it was to reduce may be gone
    since it rested)."""
    request = order.request
    if request.reduce_only or quantity <= 0.0 or price is None:
        return False
    needed = (initial_margin(run.state, request, quantity, price)
              + quantity * price * fee_bps / 1e4)
    return needed > run.state.available_quote + run.state.reserved.get(order.id, 0.0)


def _on_resting(run: _Run, order_id: str, low: float, high: float, book: OrderBook | None) -> None:
    order = run.state.orders[order_id]
    request = order.request
    buy = request.side == "buy"
    if request.type == "limit":
        if not (low < request.price if buy else high > request.price):
            return
        quantity = _on_lot(_fillable(run, order), book)
        if _unaffordable(run, order, quantity, request.price, run.fees.maker_bps):
            _close(run, order_id, "order_expired", "insufficient_margin")
            return
        if quantity > 0.0:
            fee = quantity * request.price * run.fees.maker_bps / 1e4
            _emit_fill(run, order, quantity, request.price, fee, "maker", None, None,
                       book.precision if book else None)
        _close(run, order_id, "order_canceled" if quantity <= 0.0 else "order_expired",
               "reduce_only_position_closed")
        return
    if not (high >= request.stop_price if buy else low <= request.stop_price):
        return
    if _unaffordable(run, order, _fillable(run, order), request.stop_price,
                     run.fees.taker_bps):
        _close(run, order_id, "order_expired", "insufficient_margin")
        return
    if book is not None:
        _take_from_book(run, order_id, book, None)
    else:
        _fill_at(run, order_id, request.stop_price)
    _close(run, order_id, "order_expired", _leftover_reason(run, order_id, "insufficient_depth"))


def _liquidate_if_crossed(run: _Run, symbol: str, mark: float) -> None:
    position = run.state.positions.get(symbol)
    if position is None or position.liquidation_price is None:
        return
    price = position.liquidation_price
    if not (mark <= price if position.size > 0.0 else mark >= price):
        return
    realized = position.size * (price - position.entry_price)
    fee = max(position.margin_quote + realized, 0.0)
    run.emit({"type": "position_liquidated", "symbol": symbol, "price": price, "mark": mark,
              "fee_quote": fee})
    for order_id in list(run.state.open_orders):
        order = run.state.orders[order_id]
        if order.request.symbol == symbol and order.request.reduce_only:
            _close(run, order_id, "order_canceled", "position_liquidated")


def decide_on_price(state: PaperState, symbol: str, low: float, high: float, mark: float, *,
                    book: OrderBook | None, fees: Fees, brackets: Sequence[Bracket], now_ms: int
                    ) -> Decision:
    """A price tick for `symbol`: traded range [low, high] since the last tick and the mark
    price now (quote per base). Resting limits and stops it trades through fill (in arrival
    order), then the position is liquidated if the mark reached its liquidation price.
    Raises ValueError unless low <= high and all three are finite and > 0."""
    if not all(finite_positive(v) for v in (low, high, mark)) or low > high:
        raise ValueError(f"need 0 < low <= high and mark > 0, got {low}, {high}, {mark}")
    run = _Run(state.fork(), now_ms, fees, brackets)
    for order_id in list(state.open_orders):
        order = run.state.orders[order_id]
        if order.request.symbol == symbol and order.is_open:
            _on_resting(run, order_id, low, high, book)
    _liquidate_if_crossed(run, symbol, mark)
    return run.decision()


def open_account(state: PaperState, balance_quote: float, *, now_ms: int) -> Decision:
    """The starting deposit (quote) of a new account; no events if it is already open."""
    run = _Run(state.fork(), now_ms, Fees(), ())
    if not state.opened:
        run.emit({"type": "account_opened", "balance_quote": float(balance_quote)})
    return run.decision()
