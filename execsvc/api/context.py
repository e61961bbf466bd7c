"""What the routes share: settings, the band store, metrics; and the map lookup they all use."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry

from execsvc.api.problems import Problem, field_problem
from execsvc.mapdoc import data_lag_exceeded, iso_utc
from execsvc.metrics import StoreMetrics
from execsvc.settings import Settings
from execsvc.store import BandStore, StoredMap

REGISTRY_TTL_S = 5.0


@dataclass
class ApiContext:
    settings: Settings
    store: BandStore
    registry: CollectorRegistry
    store_metrics: StoreMetrics
    _venues: dict[str, str | None] = field(default_factory=dict)
    _venues_read: float = 0.0

    def known_symbol(self, symbol: str) -> str:
        key = symbol.upper()
        if key not in self.settings.symbols:
            raise Problem(
                404, f"unknown symbol {symbol!r}; configured: {', '.join(self.settings.symbols)}",
                field="path.symbol",
            )
        return key

    def known_window(self, window: str) -> str:
        if window not in self.settings.windows:
            raise field_problem(
                "query.window", "window not configured",
                f"window {window!r} is not computed; configured: "
                f"{', '.join(self.settings.windows)}",
            )
        return window

    async def exchange_of(self, symbol: str, exchange: str | None) -> str:
        """The venue a symbol's maps are stored under: as asked, else as the worker registered
        it (re-read at most every `REGISTRY_TTL_S`), else the configured exchange."""
        now = time.monotonic()
        if symbol not in self._venues or now - self._venues_read > REGISTRY_TTL_S:
            registry = await self.store.symbol_registry()
            self._venues = {s: info.get("exchange") for s, info in registry.items()}
            self._venues_read = now
        venue = self._venues.get(symbol) or self.settings.exchange
        if exchange and exchange != venue:
            raise Problem(404, f"{symbol} is served from {venue}, not {exchange}",
                          field="exchange")
        return venue

    def freshness(self, stored: StoredMap) -> dict[str, Any]:
        age = stored.age_s(time.time() * 1000)
        lagging = data_lag_exceeded(stored.document, self.settings.max_map_age_s)
        return {
            "version": stored.version,
            "computed_at": iso_utc(stored.computed_at_ms),
            "computed_at_ms": stored.computed_at_ms,
            "age_s": round(age, 3),
            "stale": age > self.settings.max_map_age_s or lagging is not None,
        }

    async def stored_map(self, symbol: str, window: str, exchange: str | None) -> StoredMap:
        """The cached map, or 404/422 for bad names and 503 when there is none yet."""
        key = self.known_symbol(symbol)
        self.known_window(window)
        venue = await self.exchange_of(key, exchange)
        stored = await self.store.get_map(venue, key, window)
        if stored is None:
            raise Problem(
                503, f"no map for {key} {window} on {venue} yet: the worker has not stored one "
                "(starting, or failing: see /readyz)", reason="map_missing",
            )
        return stored


async def context(request: Request) -> ApiContext:
    return request.app.state.ctx
