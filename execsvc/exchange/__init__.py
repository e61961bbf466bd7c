"""Live order routing to an exchange through async ccxt (`TRADING_MODE=live` only)."""

from execsvc.exchange.router import (
    LiveRouter,
    LiveRoutingError,
    MissingExchangeKeysError,
    OrderStateUnknownError,
)

__all__ = ["LiveRouter", "LiveRoutingError", "MissingExchangeKeysError", "OrderStateUnknownError"]
