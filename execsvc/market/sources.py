"""The market sources of the configured venues: one `MarketSource` per venue, from settings.

`configured_venues(settings)` says which venues are mapped, in order:

- `EXECSVC_EXCHANGES` when set (ccxt ids; for the replay, venues of the bundled recordings);
- else, for `SOURCE=ccxt`, the one `EXECSVC_EXCHANGE`;
- else, for the replay, every bundled venue recording one of `EXECSVC_SYMBOLS`, in the
  manifest's order (`hyperliquid`, `lighter`, and `ftx` for the `BTC-PERP` recording).

`build_market_sources(settings)` builds them: venue id -> source, in that order. Each source
keeps the `MarketSource` protocol, has a `venue` attribute (its venue id, also the `exchange`
of every `SymbolInfo` it lists), and its `symbols()` lists the service keys (`BTCUSDT`) the
venue covers. Live, that is the keys with a ccxt symbol on the venue (`market.venue_symbols`;
after the markets load, only those the venue lists), each source behind `IncrementalHistory`,
with the venue's base URL from `EXECSVC_EXCHANGE_BASE_URLS` (for the first venue,
`EXECSVC_EXCHANGE_BASE_URL` when the map has none). Replayed venues share one `ReplayClock`,
so their maps describe the same moment.

Venues without an open-interest history (Hyperliquid) poll it: `maps.oi_history` keeps the
polled samples in the store (`runtime.make_market_sources` wraps the sources with it).
"""

from __future__ import annotations

from typing import Any

from execsvc.market.types import MarketSource, MarketSourceError
from execsvc.market.venue_symbols import venue_symbol_map
from execsvc.settings import Settings


def configured_venues(settings: Settings) -> list[str]:
    """The venue ids mapped with `settings`, in order (module docstring). A replay venue that
    is not bundled, or one recording none of the symbols, is a `MarketSourceError`."""
    if settings.source == "ccxt":
        return list(settings.exchanges) or [settings.exchange]
    from execsvc.market.replay import replay_venues

    bundled = replay_venues()
    wanted = set(settings.symbols)
    if not settings.exchanges:
        return [venue for venue, keys in bundled.items() if wanted & set(keys)]
    for venue in settings.exchanges:
        if venue not in bundled:
            raise MarketSourceError(f"the replay has no venue {venue!r}; bundled: "
                                    f"{', '.join(bundled)} (EXECSVC_EXCHANGES)")
        if not wanted & set(bundled[venue]):
            raise MarketSourceError(f"the replay of {venue} records none of the symbols "
                                    f"({', '.join(bundled[venue])}; EXECSVC_SYMBOLS)")
    return list(settings.exchanges)


def build_market_sources(settings: Settings, *, replay_clock: Any = None,
                         **ccxt_overrides: Any) -> dict[str, MarketSource]:
    """Venue id -> `MarketSource` for every configured venue, in `configured_venues` order.
    `ccxt_overrides` reach every `CcxtSource` (tests: `retry_attempts`, `clock`);
    `replay_clock` (a `ReplayClock`) is the one the replayed venues share (default: a new one
    at `REPLAY_SPEED`)."""
    venues = configured_venues(settings)
    if settings.source == "ccxt":
        return {venue: _ccxt_venue_source(settings, venue, **ccxt_overrides)
                for venue in venues}
    return _replay_sources(settings, venues, replay_clock)


def venue_base_url(settings: Settings, venue: str) -> str | None:
    """The base URL `venue` is reached at: `EXECSVC_EXCHANGE_BASE_URLS[venue]`, else
    `EXECSVC_EXCHANGE_BASE_URL` for the single venue `EXECSVC_EXCHANGE`, else the venue's own."""
    if venue in settings.exchange_base_urls:
        return settings.exchange_base_urls[venue]
    return settings.exchange_base_url if venue == settings.exchange else None


def _ccxt_venue_source(settings: Settings, venue: str, **overrides: Any) -> MarketSource:
    from execsvc.market.ccxt_source import CcxtSource
    from execsvc.market.incremental import IncrementalHistory

    symbol_map = venue_symbol_map(venue, settings.symbols, settings.venue_symbols)
    if not symbol_map:
        raise MarketSourceError(f"{venue} has no ccxt symbol for any of {settings.symbols}: "
                                "set EXECSVC_VENUE_SYMBOLS")
    keys = venue == settings.exchange
    options: dict[str, Any] = {
        "exchange_id": venue,
        "timeframe": settings.ccxt_timeframe,
        "timeout_ms": settings.ccxt_timeout_ms,
        "api_key": settings.exchange_api_key if keys else None,
        "secret": settings.exchange_secret if keys else None,
        "base_url": venue_base_url(settings, venue),
        "symbol_map": symbol_map,
        **overrides,
    }
    return IncrementalHistory(CcxtSource(list(symbol_map), **options))


def _replay_sources(settings: Settings, venues: list[str], clock: Any
                    ) -> dict[str, MarketSource]:
    from execsvc.market.replay import ReplayClock, ReplaySource, replay_venues

    clock = clock or ReplayClock(settings.replay_speed)
    bundled = replay_venues()
    sources: dict[str, MarketSource] = {}
    for venue in venues:
        keys = [key for key in settings.symbols if key in bundled[venue]]
        if keys:
            sources[venue] = ReplaySource(clock.speed, keys, venue=venue, replay_clock=clock)
    return sources
