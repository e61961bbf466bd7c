"""The read side of the stored maps: parsed maps and books for advice, risk checks and paper
fills, cached per stored version, and the venues each symbol's maps are stored under.

Bots ask for stops many times a second while a map changes every few seconds. A cached view is
trusted for `revalidate_s` (default 1 s); after that one small Redis read compares versions,
and the JSON document is fetched and parsed into arrays and clusters only when the version
changed. A view is never served past `MAX_MAP_AGE_S` (the routes check its age), so a stopped
worker still shows up as a stale map. Cascade overshoots are memoised per (window, map
version, cluster) on the book view.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.map_document import MapDocument
from execsvc.domain.units import MarketPrecision, fallback_precision
from execsvc.liqmap.cascade import cluster_overshoot_pct
from execsvc.liqmap.clusters import Cluster
from execsvc.store import BandStore, LastPrice

REGISTRY_TTL_S = 5.0
CLUSTER_FIELDS = tuple(f.name for f in fields(Cluster))
"""What advice reads of a document's cluster (an aggregated map's also has venue shares)."""


@dataclass
class MapView:
    """A stored map parsed for advice: its clusters and the band edges and notionals as arrays
    (quote per base, quote)."""

    version: int
    computed_at_ms: int
    document: MapDocument
    clusters: list[Cluster]
    edges: np.ndarray
    long_notional: np.ndarray
    short_notional: np.ndarray

    @property
    def price(self) -> float:
        return float(self.document["price"])

    @property
    def atr_quote(self) -> float:
        return float(self.document["stats"]["atr_quote"])

    @functools.cached_property
    def precision(self) -> MarketPrecision:
        """The symbol's exchange grid as the worker recorded it (a fallback when it did not);
        read once per map version."""
        recorded = self.document.get("precision")
        if recorded:
            return MarketPrecision.from_json(recorded)
        return fallback_precision(self.price)

    @property
    def band_width_quote(self) -> float:
        return float(self.edges[1] - self.edges[0]) if len(self.edges) > 1 else 0.0

    def age_s(self) -> float:
        return max(0.0, time.time() - self.computed_at_ms / 1000.0)


def parse_map(version: int, computed_at_ms: int, document: MapDocument) -> MapView:
    bands = document["bands"]
    edges = np.array([b["price_low"] for b in bands] + [bands[-1]["price_high"]]) if bands else (
        np.zeros(0))
    return MapView(
        version=version,
        computed_at_ms=computed_at_ms,
        document=document,
        clusters=[Cluster(**{k: c[k] for k in CLUSTER_FIELDS}) for c in document["clusters"]],
        edges=edges,
        long_notional=np.array([b["long_notional_quote"] for b in bands], dtype=np.float64),
        short_notional=np.array([b["short_notional_quote"] for b in bands], dtype=np.float64),
    )


@dataclass(frozen=True, slots=True)
class SymbolVenues:
    """Where a symbol's maps are stored: `book_exchange`, the venue of its book and last
    price; `exchanges`, every venue with a map of it; `default_map`, the map served when none
    is named (`all` with several venues)."""

    book_exchange: str
    exchanges: tuple[str, ...]
    default_map: str

    @classmethod
    def of(cls, info: dict[str, Any] | None, default: SymbolVenues) -> SymbolVenues:
        """From the worker's registry entry (`maps.worker`), `default` without one."""
        if not info or not info.get("exchange"):
            return default
        exchange = info["exchange"]
        exchanges = tuple(info.get("exchanges") or (exchange,))
        return cls(exchange, exchanges, info.get("default_map") or exchange)


class AdviceCache:
    """Maps, books and memoised answers of one process; `default_venues` are the venues of a
    symbol the worker has not registered yet."""

    def __init__(
        self, store: BandStore, default_venues: SymbolVenues | str, max_entries: int = 256,
        revalidate_s: float = 1.0,
    ) -> None:
        self.store = store
        if isinstance(default_venues, str):
            default_venues = SymbolVenues(default_venues, (default_venues,), default_venues)
        self.default_venues = default_venues
        self._venues: dict[str, SymbolVenues] = {}
        self._venues_read = 0.0
        self.max_entries = max_entries
        self.revalidate_s = revalidate_s
        self._maps: OrderedDict[tuple[str, str, str], MapView] = OrderedDict()
        self._books: OrderedDict[tuple[str, str], OrderBook] = OrderedDict()
        self._overshoots: OrderedDict[tuple, float] = OrderedDict()
        self._checked: dict[tuple, float] = {}
        self._answers: OrderedDict[tuple, Any] = OrderedDict()
        self._prices: OrderedDict[tuple, LastPrice] = OrderedDict()

    def _remember(self, cache: OrderedDict, key: tuple, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        self._checked[key] = time.monotonic()
        while len(cache) > self.max_entries:
            old, _ = cache.popitem(last=False)
            self._checked.pop(old, None)

    def _trusted(self, cache: OrderedDict, key: tuple) -> Any:
        """The cached value if it was checked against Redis less than `revalidate_s` ago."""
        value = cache.get(key)
        if value is not None and time.monotonic() - self._checked[key] < self.revalidate_s:
            return value
        return None

    def answer(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """A memoised answer for `key` (which must name every input, versions included)."""
        if key in self._answers:
            self._answers.move_to_end(key)
            return self._answers[key]
        return self._keep_answer(key, compute())

    async def answer_in_thread(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`answer`, computing a missing one in a worker thread: for advice whose computation
        would hold the event loop (a slice plan takes up to tens of ms)."""
        if key in self._answers:
            self._answers.move_to_end(key)
            return self._answers[key]
        return self._keep_answer(key, await asyncio.to_thread(compute))

    def _keep_answer(self, key: tuple, value: Any) -> Any:
        self._answers[key] = value
        if len(self._answers) > 4 * self.max_entries:
            self._answers.popitem(last=False)
        return value

    def overshoot_pct(self, map_view: MapView, book: OrderBook | None, cluster: Cluster) -> float:
        """Percent the price runs past `cluster`'s far edge once a move reaches it (cascade
        model); 0 without a book. Memoised per (map, map version, book version, cluster)."""
        if book is None:
            return 0.0
        document = map_view.document
        key = (document["exchange"], document["symbol"], document["window"], map_view.version,
               book.version, cluster.rank)
        if key not in self._overshoots:
            self._overshoots[key] = cluster_overshoot_pct(
                map_view.edges, map_view.long_notional, map_view.short_notional, map_view.price,
                book.bids, book.asks, cluster,
            )
            if len(self._overshoots) > 4 * self.max_entries:
                self._overshoots.popitem(last=False)
        return self._overshoots[key]

    async def venues_of(self, symbol: str) -> SymbolVenues:
        """Where a symbol's maps and book are stored, as the worker registered it (re-read at
        most every `REGISTRY_TTL_S`), else `default_venues`."""
        now = time.monotonic()
        if symbol not in self._venues or now - self._venues_read > REGISTRY_TTL_S:
            registry = await self.store.symbol_registry()
            self._venues = {s: SymbolVenues.of(info, self.default_venues)
                            for s, info in registry.items()}
            self._venues_read = now
        return self._venues.get(symbol) or self.default_venues

    async def exchange_of(self, symbol: str) -> str:
        """The venue a symbol's book and last price are stored under (`venues_of`)."""
        return (await self.venues_of(symbol)).book_exchange

    async def latest_book(self, symbol: str) -> OrderBook | None:
        """The latest stored book of `symbol` on its registered venue (paper fills use it)."""
        return await self.book(await self.exchange_of(symbol), symbol)

    async def last_price(self, symbol: str) -> LastPrice | None:
        """The last price the worker stored for `symbol` (it outlives maps and books: marks,
        paper liquidations and closing orders fall back on it), re-read at most every
        `revalidate_s`."""
        key = ("last", symbol)
        trusted = self._trusted(self._prices, key)
        if trusted is not None:
            return trusted
        last = await self.store.last_price(await self.exchange_of(symbol), symbol)
        if last is not None:
            self._remember(self._prices, key, last)
        return last

    async def map_view(self, exchange: str, symbol: str, window: str) -> MapView | None:
        key = (exchange, symbol, window)
        trusted = self._trusted(self._maps, key)
        if trusted is not None:
            return trusted
        fresh = await self.store.map_freshness(exchange, symbol, window)
        if fresh is None:
            return None
        cached = self._maps.get(key)
        if cached is not None and cached.version == fresh.version:
            self._checked[key] = time.monotonic()
            return cached
        stored = await self.store.get_map(exchange, symbol, window)
        if stored is None:
            return None
        view = parse_map(stored.version, stored.computed_at_ms, stored.document)
        self._remember(self._maps, key, view)
        return view

    async def book(self, exchange: str, symbol: str) -> OrderBook | None:
        """The latest stored book (with its version), revalidated like the maps."""
        key = (exchange, symbol)
        trusted = self._trusted(self._books, key)
        if trusted is not None:
            return trusted
        version = await self.store.book_version(exchange, symbol)
        if version is None:
            return None
        cached = self._books.get(key)
        if cached is not None and cached.version == version:
            self._checked[key] = time.monotonic()
            return cached
        book = await self.store.get_book(exchange, symbol)
        if book is None:
            return None
        self._remember(self._books, key, book)
        return book
