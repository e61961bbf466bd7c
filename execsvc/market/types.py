"""Market data containers and the `MarketSource` protocol every data adapter implements.

All times are epoch milliseconds (UTC). Prices are in the quote currency (USDT for Binance
USD-M, USD for FTX). Quantities are base units unless a name ends in `_quote`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import Bracket
from execsvc.domain.units import MarketPrecision
from execsvc.liqmap.candles import Candles


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """Open interest samples: `time_ms` and the open interest as quote notional."""

    time_ms: np.ndarray
    oi_quote: np.ndarray

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """What a source knows about one configured symbol key (e.g. `BTCUSDT`)."""

    symbol: str
    exchange: str
    quote_currency: str
    has_open_interest: bool


class MarketSourceError(RuntimeError):
    """A source could not deliver data (network, exchange or data fault); carries a reason."""


@runtime_checkable
class MarketSource(Protocol):
    """Where the worker gets market data. Implementations: `replay` and `ccxt`.

    `since_ms` bounds the history wanted; implementations may return a little more.
    """

    name: str

    def symbols(self) -> list[SymbolInfo]: ...

    async def candles(self, symbol: str, since_ms: int) -> Candles: ...

    async def open_interest(self, symbol: str, since_ms: int) -> OpenInterest | None: ...

    async def order_book(self, symbol: str, depth: int) -> OrderBook: ...

    async def leverage_brackets(self, symbol: str) -> list[Bracket]: ...

    async def mark_price(self, symbol: str) -> float: ...

    async def precision(self, symbol: str) -> MarketPrecision:
        """The symbol's exchange grid: tick (quote per base) and lot step (base units)."""
        ...

    async def now_ms(self, symbol: str) -> int:
        """The source's clock for `symbol`: wall time for live data, the replay position
        (which differs per recorded dataset) for replay."""
        ...

    async def close(self) -> None: ...
