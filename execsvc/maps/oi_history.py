"""`PolledOpenInterest`: an open-interest history for venues that only report the present.

Hyperliquid serves no open-interest history (ccxt `fetchOpenInterestHistory` is absent): its
`CcxtSource` answers `open_interest` with one sample, the value now. This decorator wraps such
a source: each time `open_interest` is asked, it appends the polled sample to the store
(`store.oi_samples`: one sample per timestamp, bounded retention) and answers with the stored
history from `since_ms`. The history grows with the worker's refreshes (one sample per
refresh interval) and survives restarts; until it spans a window, a map of that venue reads
the open interest it has. Every other call passes straight through to the wrapped source.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from execsvc.market.types import MarketSource, OpenInterest, SymbolInfo
from execsvc.store.oi_samples import OpenInterestSamples

log = logging.getLogger(__name__)


class PolledOpenInterest:
    """A `MarketSource` whose `open_interest` is the stored history of polled samples."""

    def __init__(self, inner: MarketSource, samples: OpenInterestSamples, venue: str) -> None:
        self.inner = inner
        self.name = inner.name
        self.venue = venue
        self.samples = samples

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def symbols(self) -> list[SymbolInfo]:
        return self.inner.symbols()

    async def open_interest(self, symbol: str, since_ms: int) -> OpenInterest | None:
        """Poll the wrapped source, store the newest sample it reports (the polled one), answer
        with the stored samples (quote notional) at or after `since_ms`; None when the venue
        reports none at all."""
        polled = await self.inner.open_interest(symbol, since_ms)
        if polled is None:
            return None
        if len(polled):
            await self.samples.append(self.venue, symbol, int(polled.time_ms[-1]),
                                      float(polled.oi_quote[-1]))
        times, values = await self.samples.history(self.venue, symbol, since_ms)
        return OpenInterest(time_ms=times, oi_quote=values)

    async def close(self) -> None:
        await self.inner.close()


def keep_polled_open_interest(
    sources: Mapping[str, MarketSource], samples: OpenInterestSamples
) -> dict[str, MarketSource]:
    """`sources` with every venue that polls its open interest (`polls_open_interest`)
    wrapped in `PolledOpenInterest`; the others unchanged, in the same order."""
    wrapped: dict[str, MarketSource] = {}
    for venue, source in sources.items():
        if polls_open_interest(source):
            log.info("%s has no open-interest history: building one from polled samples", venue)
            wrapped[venue] = PolledOpenInterest(source, samples, venue)
        else:
            wrapped[venue] = source
    return wrapped


def polls_open_interest(source: MarketSource) -> bool:
    """Whether `source` reports open interest only as the present value (its
    `oi_is_polled` says so; replay and CSV sources have histories)."""
    return bool(getattr(source, "oi_is_polled", False))
