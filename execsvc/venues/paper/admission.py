"""Admission of a paper order: validation, post-only and stop checks, and the isolated margin
an order needs (and, if it rests, reserves). Pure: no I/O.

Units: quantities in base units, prices in quote per base, money in quote, fees in bps of the
fill's quote notional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from execsvc.domain.book import BookWalk, OrderBook, take
from execsvc.domain.orders import OrderRequest
from execsvc.venues.paper.book import effective_side
from execsvc.venues.paper.state import PaperState

MAX_LEVERAGE = 125.0


@dataclass(frozen=True, slots=True)
class Fees:
    """Trading fees in basis points of the fill's quote notional (Binance USD-M regular tier
    defaults: 5 bps taker, 2 bps maker)."""

    taker_bps: float = 5.0
    maker_bps: float = 2.0


def closable(state: PaperState, symbol: str, side: str) -> float:
    """How much of the position an order on `side` would reduce (base units)."""
    position = state.positions.get(symbol)
    if position is None or (position.size > 0.0) == (side == "buy"):
        return 0.0
    return abs(position.size)


def finite_positive(value: float | None) -> bool:
    """True for a finite number > 0."""
    return value is not None and math.isfinite(value) and value > 0.0


def initial_margin(state: PaperState, request: OrderRequest, quantity: float, price: float
                   ) -> float:
    """Isolated initial margin (quote) a fill of `quantity` (base) of `request` at `price`
    needs in `state`: `opening * price / leverage`, `opening` the part beyond an opposite
    position; adding to a position uses the position's leverage."""
    reducible = closable(state, request.symbol, request.side)
    position = state.positions.get(request.symbol)
    leverage = position.leverage if position is not None and reducible == 0.0 else (
        request.leverage)
    return max(quantity - reducible, 0.0) * price / leverage


def invalid(request: OrderRequest) -> str | None:
    """Why a request is malformed (`invalid_request`, `invalid_quantity`, `invalid_leverage`
    outside 1..125, `invalid_price`, `invalid_stop_price`, `invalid_type`,
    `invalid_time_in_force` for IOC/POST_ONLY on a non-limit order), or None."""
    if not request.symbol or request.side not in ("buy", "sell"):
        return "invalid_request"
    if not finite_positive(request.quantity):
        return "invalid_quantity"
    if not (math.isfinite(request.leverage) and 1.0 <= request.leverage <= MAX_LEVERAGE):
        return "invalid_leverage"
    if request.type == "limit" and not finite_positive(request.price):
        return "invalid_price"
    if request.type == "stop" and not finite_positive(request.stop_price):
        return "invalid_stop_price"
    if request.type not in ("market", "limit", "stop"):
        return "invalid_type"
    if request.time_in_force != "GTC" and request.type != "limit":
        return "invalid_time_in_force"
    return None


@dataclass(frozen=True, slots=True)
class MarketWalk:
    """A market order's walk of the effective book, computed once for both the margin estimate
    and the fill (the acceptance event does not change the book)."""

    walk: BookWalk
    levels: list[list[float]]


def market_walk(state: PaperState, request: OrderRequest, book: OrderBook | None
                ) -> MarketWalk | None:
    """The walk of a valid market order over the effective book, None for other orders or
    when there is nothing to walk."""
    if request.type != "market" or book is None or invalid(request) is not None:
        return None
    levels = effective_side(book, request.side, state.books.get(request.symbol))
    if len(levels) == 0:
        return None
    return MarketWalk(*take(levels, request.quantity, request.side, book.precision))


def _reference_price(request: OrderRequest, market: MarketWalk | None,
                     closing_price: float | None) -> float | None:
    """The price margin is estimated at: the limit or stop price, or a market order's average
    over the effective book (a closing order without a book: `closing_price`)."""
    if request.type == "limit":
        return request.price
    if request.type == "stop":
        return request.stop_price
    return closing_price if market is None else market.walk.average_price


def refusal(state: PaperState, request: OrderRequest, book: OrderBook | None, fees: Fees,
            market: MarketWalk | None, closing_price: float | None = None
            ) -> tuple[str | None, float]:
    """(reason to reject or None, initial margin the order reserves while it rests, quote).

    Reasons, in the order checked: those of `invalid`, `reduce_only_no_position`,
    `post_only_would_cross`, `stop_would_trigger`, `no_book` / `no_liquidity` (a market order
    with nothing to walk, unless it is reduce-only with a `closing_price`),
    `insufficient_margin` (`opening * price / leverage` plus a taker fee on the whole quantity
    exceeds `available_quote`; `opening` is the part beyond an opposite position, and adding
    to a position uses the position's leverage).
    """
    reason = invalid(request)
    if reason is not None:
        return reason, 0.0
    symbol, side = request.symbol, request.side
    reducible = closable(state, symbol, side)
    if request.reduce_only and reducible <= 0.0:
        return "reduce_only_no_position", 0.0
    overlay = state.books.get(symbol)
    if request.type == "limit" and request.time_in_force == "POST_ONLY" and book is not None:
        opposite = effective_side(book, side, overlay)
        if len(opposite) and (request.price - opposite[0, 0]) * (1 if side == "buy" else -1) >= 0:
            return "post_only_would_cross", 0.0
    mid = book.mid if book is not None else None
    if request.type == "stop" and mid is not None and (
            (request.stop_price - mid) * (1 if side == "buy" else -1) <= 0.0):
        return "stop_would_trigger", 0.0
    price = _reference_price(request, market, closing_price)
    if price is None:
        return ("no_book" if book is None else "no_liquidity"), 0.0
    if request.reduce_only:
        return None, 0.0
    margin = initial_margin(state, request, request.quantity, price)
    fee = request.quantity * price * fees.taker_bps / 1e4
    if margin + fee > state.available_quote:
        return "insufficient_margin", 0.0
    rests = request.type == "stop" or (request.type == "limit" and request.time_in_force != "IOC")
    return None, margin if rests else 0.0
