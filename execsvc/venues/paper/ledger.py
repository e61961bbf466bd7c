"""The event fold of a paper account: `apply(state, event) -> state`, and the position arithmetic
it shares with the decisions. Pure: no I/O, no clock, no randomness.

Events are JSON-ready dicts with a `type` and a `ts` (epoch ms):

- `account_opened` `{balance_quote}`: the starting deposit.
- `order_accepted` `{order_id, api_key_id, request, reserved_margin_quote}`.
- `order_rejected` `{order_id, api_key_id, request, reason}` (binds the client order id too).
- `fill` `{id, order_id, symbol, side, quantity, price, fee_quote, liquidity, leverage,
  liquidation_price, book_version, levels}`: `price` the average over `levels`
  (`[[price, base quantity], ...]` taken from book version `book_version`; both null for maker
  fills and book-less stop fills); `liquidation_price` of the position after the fill.
- `order_canceled` / `order_expired` `{order_id, reason}`.
- `position_liquidated` `{symbol, price, mark, fee_quote}`: closed at its liquidation price,
  the rest of the isolated margin (`fee_quote`, the clearance fee) goes to the insurance fund.

Rounding: float64 throughout, nothing rounded. Positions use the weighted-average entry, so
`balance - deposits = sum(-signed qty * price over fills and liquidations) + sum(size * entry
over open positions) - fees` up to float summation error; sizes and remainders within
`DUST_REL` of their scale count as zero. orjson writes the shortest repr that round-trips a
float64, so folding the journal reproduces the live state bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from execsvc.domain.orders import Fill, Order, Position, request_from_json
from execsvc.domain.units import order_side_sign
from execsvc.venues.paper.state import DUST_REL, Overlay, PaperState

Event = dict[str, Any]


def fill_position(
    position: Position | None, symbol: str, side: str, quantity: float, price: float,
    leverage: float, liquidation: float | None = None,
) -> tuple[Position | None, float]:
    """The position after a fill and the PnL it realises (quote), one-way (net) mode.

    Same direction (or flat): sizes add, entry is the size-weighted average, the position keeps
    its leverage (a new one takes the order's). Opposite: the closed part realises
    `closed * (price - entry) * sign(size)`; a remainder beyond the position opens a new one at
    `price` with the order's leverage. Isolated margin is `|size| * entry / leverage`. The
    position gets `liquidation` as its liquidation price (the caller computes it).
    """
    delta = order_side_sign(side) * quantity
    if position is None:
        return Position(symbol, delta, price, leverage, quantity * price / leverage,
                        liquidation), 0.0
    size, entry, lev = position.size, position.entry_price, position.leverage
    if size * delta > 0.0:
        new_size = size + delta
        new_entry = (size * entry + delta * price) / new_size
        return Position(symbol, new_size, new_entry, lev, abs(new_size) * new_entry / lev,
                        liquidation, position.realized_pnl_quote), 0.0
    held = abs(size)
    direction = 1.0 if size > 0.0 else -1.0
    if abs(quantity - held) <= DUST_REL * max(quantity, held):
        return None, held * (price - entry) * direction
    if quantity < held:
        realized = quantity * (price - entry) * direction
        new_size = size + delta
        return Position(symbol, new_size, entry, lev, abs(new_size) * entry / lev, liquidation,
                        position.realized_pnl_quote + realized), realized
    rest = quantity - held
    opened = Position(symbol, order_side_sign(side) * rest, price, leverage,
                      rest * price / leverage, liquidation)
    return opened, held * (price - entry) * direction


def _order_from_event(event: Event, status: str, reason: str | None) -> Order:
    return Order(
        id=event["order_id"], request=request_from_json(event["request"]), status=status,
        created_at_ms=event["ts"], updated_at_ms=event["ts"], reason=reason,
        api_key_id=event.get("api_key_id"),
    )


def _apply_opened(state: PaperState, event: Event) -> None:
    state.opened = True
    state.balance_quote += event["balance_quote"]
    state.deposits_quote += event["balance_quote"]


def _apply_accepted(state: PaperState, event: Event) -> None:
    order = _order_from_event(event, "new", None)
    state.orders[order.id] = order
    state.client_ids[order.request.client_order_id] = order.id
    state.open_orders[order.id] = None
    if event["reserved_margin_quote"] > 0.0:
        state.reserved[order.id] = event["reserved_margin_quote"]
    state.order_seq += 1


def _apply_rejected(state: PaperState, event: Event) -> None:
    order = _order_from_event(event, "rejected", event["reason"])
    state.orders[order.id] = order
    state.client_ids[order.request.client_order_id] = order.id
    state.closed[order.id] = None
    state.order_seq += 1


def _consume(state: PaperState, symbol: str, side: str, version: int, levels: list) -> None:
    overlay = state.books.get(symbol)
    if overlay is None or overlay.version != version:
        overlay = state.books[symbol] = Overlay(version)
    taken = overlay.asks if side == "buy" else overlay.bids
    for price, quantity in levels:
        taken[price] = taken.get(price, 0.0) + quantity


def _apply_fill(state: PaperState, event: Event) -> None:
    order = state.orders[event["order_id"]]
    request, quantity, price, fee = order.request, event["quantity"], event["price"], event[
        "fee_quote"]
    fill = Fill(order.id, event["symbol"], event["side"], quantity, price, fee,
                event["liquidity"], event["ts"], event["id"])
    before = order.remaining_quantity
    filled = order.filled_quantity + quantity
    average = ((order.average_price or 0.0) * order.filled_quantity + price * quantity) / filled
    done = request.quantity - filled <= DUST_REL * request.quantity
    state.orders[order.id] = Order(
        id=order.id, request=request, status="filled" if done else "partially_filled",
        filled_quantity=filled, average_price=average, fees_quote=order.fees_quote + fee,
        created_at_ms=order.created_at_ms, updated_at_ms=event["ts"], reason=order.reason,
        fills=(*order.fills, fill), api_key_id=order.api_key_id,
    )
    if done:
        state.open_orders.pop(order.id, None)
        state.reserved.pop(order.id, None)
        state.closed[order.id] = None
    elif order.id in state.reserved:
        state.reserved[order.id] *= max(before - quantity, 0.0) / before
    symbol = event["symbol"]
    position, realized = fill_position(state.positions.get(symbol), symbol, event["side"],
                                       quantity, price, event["leverage"],
                                       event["liquidation_price"])
    if position is None:
        state.positions.pop(symbol, None)
    else:
        state.positions[symbol] = position
    state.balance_quote += realized - fee
    state.realized_pnl_quote += realized
    state.fees_paid_quote += fee
    if event["book_version"] is not None:
        _consume(state, symbol, event["side"], event["book_version"], event["levels"])


def _apply_closed(state: PaperState, event: Event, status: str) -> None:
    order = state.orders[event["order_id"]]
    state.orders[order.id] = Order(
        id=order.id, request=order.request, status=status,
        filled_quantity=order.filled_quantity, average_price=order.average_price,
        fees_quote=order.fees_quote, created_at_ms=order.created_at_ms,
        updated_at_ms=event["ts"], reason=event["reason"], fills=order.fills,
        api_key_id=order.api_key_id,
    )
    state.open_orders.pop(order.id, None)
    state.reserved.pop(order.id, None)
    state.closed[order.id] = None


def _apply_liquidated(state: PaperState, event: Event) -> None:
    position = state.positions.pop(event["symbol"])
    realized = position.size * (event["price"] - position.entry_price)
    state.balance_quote += realized - event["fee_quote"]
    state.realized_pnl_quote += realized
    state.fees_paid_quote += event["fee_quote"]


_APPLY: dict[str, Callable[[PaperState, Event], None]] = {
    "account_opened": _apply_opened,
    "order_accepted": _apply_accepted,
    "order_rejected": _apply_rejected,
    "fill": _apply_fill,
    "order_canceled": lambda state, event: _apply_closed(state, event, "canceled"),
    "order_expired": lambda state, event: _apply_closed(state, event, "expired"),
    "position_liquidated": _apply_liquidated,
}
EVENT_TYPES: frozenset[str] = frozenset(_APPLY)


def apply(state: PaperState, event: Event) -> PaperState:
    """Fold one event into `state` and return it.

    Updates `state` in place (O(1) per event, so a 100,000-event journal folds in linear
    time); to keep a state unchanged, apply to its `fork()`. Raises KeyError for an unknown
    event type.
    """
    _APPLY[event["type"]](state, event)
    state.version += 1
    return state


def fold(events: list[Event], state: PaperState | None = None) -> PaperState:
    """Apply `events` in order to `state` (a new empty account when None)."""
    current = PaperState() if state is None else state
    for event in events:
        apply(current, event)
    return current
