"""Parsed maps and books for the advice routes, cached per stored version.

Bots ask for stops many times a second while a map changes every few seconds. A cached view is
trusted for `revalidate_s` (default 1 s); after that one small Redis read compares versions,
and the JSON document is fetched and parsed into arrays and clusters only when the version
changed. A view is never served past `MAX_MAP_AGE_S` (the routes check its age), so a stopped
worker still shows up as a stale map. Cascade overshoots are memoised per (window, map
version, cluster) on the book view.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from execsvc.liqmap.cascade import cluster_overshoot_pct
from execsvc.liqmap.clusters import Cluster
from execsvc.market.types import OrderBook
from execsvc.store import BandStore


@dataclass
class MapView:
    version: int
    computed_at_ms: int
    document: dict[str, Any]
    clusters: list[Cluster]
    edges: np.ndarray
    long_notional: np.ndarray
    short_notional: np.ndarray

    @property
    def price(self) -> float:
        return float(self.document["price"])

    @property
    def atr_quote(self) -> float:
        return float(self.document.get("stats", {}).get("atr_quote", 0.0))

    @property
    def band_width_quote(self) -> float:
        return float(self.edges[1] - self.edges[0]) if len(self.edges) > 1 else 0.0

    def age_s(self) -> float:
        return max(0.0, time.time() - self.computed_at_ms / 1000.0)


@dataclass
class BookView:
    version: int
    bids: np.ndarray
    asks: np.ndarray
    source: str
    timestamp_ms: int = 0
    overshoots: dict[tuple[str, int, int], float] = field(default_factory=dict)

    def order_book(self) -> OrderBook:
        return OrderBook(self.bids, self.asks, self.timestamp_ms, self.source)


def parse_map(version: int, computed_at_ms: int, document: dict[str, Any]) -> MapView:
    bands = document["bands"]
    edges = np.array([b["price_low"] for b in bands] + [bands[-1]["price_high"]]) if bands else (
        np.zeros(0))
    return MapView(
        version=version,
        computed_at_ms=computed_at_ms,
        document=document,
        clusters=[Cluster(**c) for c in document["clusters"]],
        edges=edges,
        long_notional=np.array([b["long_notional_quote"] for b in bands], dtype=np.float64),
        short_notional=np.array([b["short_notional_quote"] for b in bands], dtype=np.float64),
    )


def _levels(raw: list) -> np.ndarray:
    return np.asarray(raw, dtype=np.float64).reshape(-1, 2)


class AdviceCache:
    def __init__(
        self, store: BandStore, max_entries: int = 256, revalidate_s: float = 1.0
    ) -> None:
        self.store = store
        self.max_entries = max_entries
        self.revalidate_s = revalidate_s
        self._maps: OrderedDict[tuple[str, str, str], MapView] = OrderedDict()
        self._books: OrderedDict[tuple[str, str], BookView] = OrderedDict()
        self._checked: dict[tuple, float] = {}
        self._answers: OrderedDict[tuple, Any] = OrderedDict()

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
        value = compute()
        self._answers[key] = value
        if len(self._answers) > 4 * self.max_entries:
            self._answers.popitem(last=False)
        return value

    async def map_view(self, exchange: str, symbol: str, window: str) -> MapView | None:
        key = (exchange, symbol, window)
        trusted = self._trusted(self._maps, key)
        if trusted is not None:
            return trusted
        fresh = await self.store.map_freshness(exchange, symbol, window)
        if fresh is None:
            return None
        cached = self._maps.get(key)
        if cached is not None and cached.version == fresh[0]:
            self._checked[key] = time.monotonic()
            return cached
        stored = await self.store.get_map(exchange, symbol, window)
        if stored is None:
            return None
        view = parse_map(stored.version, stored.computed_at_ms, stored.document)
        self._remember(self._maps, key, view)
        return view

    async def book_view(self, exchange: str, symbol: str) -> BookView | None:
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
        stored = await self.store.get_book(exchange, symbol)
        if stored is None:
            return None
        version, doc = stored
        view = BookView(version, _levels(doc["bids"]), _levels(doc["asks"]), doc["source"],
                        int(doc.get("timestamp_ms", 0)))
        self._remember(self._books, key, view)
        return view


def overshoot_pct(map_view: MapView, book: BookView | None, cluster: Cluster) -> float:
    """Percent the price runs past `cluster`'s far edge once a move reaches it (cascade model);
    0 without a book. Memoised on the book view per (window, map version, cluster rank)."""
    if book is None:
        return 0.0
    key = (map_view.document["window"], map_view.version, cluster.rank)
    if key not in book.overshoots:
        book.overshoots[key] = cluster_overshoot_pct(
            map_view.edges, map_view.long_notional, map_view.short_notional, map_view.price,
            book.bids, book.asks, cluster,
        )
    return book.overshoots[key]
