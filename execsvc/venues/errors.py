"""Errors of live order routing (no ccxt import, so the API can map them cheaply)."""

from __future__ import annotations


class LiveRoutingError(Exception):
    """An order operation failed in the router or at the exchange; the message names the
    exchange, the operation and the client order id, never a key."""


class MissingExchangeKeysError(LiveRoutingError):
    """Live trading was asked for without exchange API keys."""


class OrderStateUnknownError(LiveRoutingError):
    """The exchange may or may not hold the order (the lookup got no answer): it was not sent
    again. `fetch()` it later to learn its state."""
