"""Incremental history for live sources.

The worker asks for the whole lookback (30 days of 1m candles is 29 klines requests) on every
tick. `IncrementalHistory` wraps a `MarketSource`: the first request for a symbol fetches the
full history; later ones fetch only from the newest stored candle (or OI sample) on, append
what is new and drop what fell out of the lookback. Everything else passes straight through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from execsvc.liqmap.candles import Candles
from execsvc.market.types import MarketSource, OpenInterest, SymbolInfo


@dataclass
class _Held:
    covered_from_ms: int
    candles: Candles | None = None
    open_interest: OpenInterest | None = None


def _append_candles(held: Candles, newer: Candles) -> Candles:
    fresh = newer.since(int(held.open_time_ms[-1]) + 1) if len(held) else newer
    if len(fresh) == 0:
        return held
    return Candles(
        *(np.concatenate((getattr(held, f), getattr(fresh, f))) for f in (
            "open_time_ms", "open", "high", "low", "close", "volume", "taker_buy_volume")),
        interval_ms=held.interval_ms,
    )


def _append_oi(held: OpenInterest, newer: OpenInterest) -> OpenInterest:
    last = held.time_ms[-1] if len(held) else -1
    keep = newer.time_ms > last
    return OpenInterest(np.concatenate((held.time_ms, newer.time_ms[keep])),
                        np.concatenate((held.oi_quote, newer.oi_quote[keep])))


def _oi_since(oi: OpenInterest, since_ms: int) -> OpenInterest:
    first = int(np.searchsorted(oi.time_ms, since_ms, side="left"))
    return OpenInterest(oi.time_ms[first:], oi.oi_quote[first:])


class IncrementalHistory:
    """A `MarketSource` that remembers candles and open interest between calls."""

    def __init__(self, inner: MarketSource) -> None:
        self.inner = inner
        self.name = inner.name
        self._candles: dict[str, _Held] = {}
        self._oi: dict[str, _Held] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def symbols(self) -> list[SymbolInfo]:
        return self.inner.symbols()

    async def candles(self, symbol: str, since_ms: int) -> Candles:
        held = self._candles.get(symbol)
        if held is None or not held.candles or held.covered_from_ms > since_ms:
            held = _Held(since_ms, await self.inner.candles(symbol, since_ms))
        else:
            newer = await self.inner.candles(symbol, int(held.candles.open_time_ms[-1]))
            held.candles = _append_candles(held.candles, newer).since(since_ms)
            held.covered_from_ms = since_ms
        self._candles[symbol] = held
        return held.candles.since(since_ms)

    async def open_interest(self, symbol: str, since_ms: int) -> OpenInterest | None:
        held = self._oi.get(symbol)
        if held is None or not held.open_interest or held.covered_from_ms > since_ms:
            oi = await self.inner.open_interest(symbol, since_ms)
            if oi is None:
                return None
            held = _Held(since_ms, open_interest=oi)
        else:
            newer = await self.inner.open_interest(symbol, int(held.open_interest.time_ms[-1]))
            if newer is not None:
                held.open_interest = _oi_since(_append_oi(held.open_interest, newer), since_ms)
            held.covered_from_ms = since_ms
        self._oi[symbol] = held
        return _oi_since(held.open_interest, since_ms)

    async def close(self) -> None:
        await self.inner.close()
