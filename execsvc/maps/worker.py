"""The refresh worker: every `REFRESH_INTERVAL_S`, rebuild every owned symbol's maps.

With several venues (venue id -> `MarketSource`), each venue's maps of a symbol are built from
its own data and stored under the venue, and their sum under `all` (`maps.aggregate`), in the
same store write as any map. One venue's failure drops it from the sum, named with its reason,
and never stops the other venues.

Symbols go `CHUNK_SYMBOLS` at a time: their market data is fetched concurrently, their maps
built and encoded in one worker thread (off the event loop), and everything they store goes
to Redis in one pipelined round trip (`BandStore.write_refreshes`), which runs while the next
chunk is built.

One symbol's failure (source, model or store) never stops the others: it is counted in the
store's status hash and in metrics, and logged once per burst of consecutive failures (and
once on recovery). With several workers the symbols are shared out: every tick a worker
heartbeats into the registry of live workers, computes the assignment of symbols to the live
workers (`store.leases.assign`: about N/k each) and holds the leases of its own share only
(`SymbolLeases`), so adding a worker adds capacity and a dead worker's share moves to the others
once its heartbeat and leases expire. A clean stop leaves the registry at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from prometheus_client import CollectorRegistry

from execsvc.domain.book import BookError
from execsvc.domain.map_document import AGGREGATE_EXCHANGE, EncodedDocument
from execsvc.maps.aggregate import aggregate_documents
from execsvc.maps.metrics import WorkerMetrics
from execsvc.maps.refresh import MarketSnapshot, fetch_snapshot, map_params, snapshot_lookback_s
from execsvc.maps.venue_build import VenueBuild, VenueModels, build_venue, venue_coverage
from execsvc.market.types import MarketSource, MarketSourceError, SymbolInfo
from execsvc.settings import Settings
from execsvc.store import BandStore, StoreUnavailable
from execsvc.store.band_store import SymbolWrites
from execsvc.store.leases import SymbolLeases, assign

log = logging.getLogger("execsvc.maps.worker")


CHUNK_SYMBOLS = 50
"""Symbols fetched, built and stored together: one thread hand-off and one Redis round trip
for all their maps, books, history snapshots and statuses."""


@dataclass
class TickReport:
    """Maps stored, and the failures by symbol (with several venues by `venue:symbol`, the
    aggregate's as `all:symbol`)."""

    built: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Built:
    """One symbol's build on one venue (or the venues' sum, `exchange` `all`): its encoded
    documents, book and last price (the book's mid, else the source's mark), or the error that
    stopped it; `venue`, what the sum takes of it."""

    info: SymbolInfo
    documents: list[EncodedDocument] = field(default_factory=list)
    book_json: bytes | None = None
    seconds: float = 0.0
    book_refused: str | None = None
    error: Exception | None = None
    last_price: float | None = None
    venue: VenueBuild | None = None


class MapWorker:
    def __init__(
        self,
        sources: MarketSource | Mapping[str, MarketSource],
        store: BandStore,
        settings: Settings,
        registry: CollectorRegistry | None = None,
        worker_id: str | None = None,
        lease_s: float | None = None,
    ) -> None:
        self.sources = (dict(sources) if isinstance(sources, Mapping)
                        else {sources.name: sources})
        self.store = store
        self.settings = settings
        self.params = map_params(settings)
        self.models = VenueModels(self.params)
        self.model = self.models.model
        self.windows = settings.window_seconds
        self.lookback_s = snapshot_lookback_s(self.windows, self.params)
        self.metrics = WorkerMetrics(registry or CollectorRegistry())
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.coverage = venue_coverage(sources)
        missing = [s for s in settings.symbols if s not in self.coverage]
        if missing:
            names = ", ".join(repr(source.name) for source in self.sources.values())
            raise MarketSourceError(f"source {names} has no data for symbols {missing}")
        self.several = isinstance(sources, Mapping) and len(sources) > 1
        self.leases = SymbolLeases(
            store.redis, self.worker_id,
            lease_s=lease_s or max(3 * settings.refresh_interval_s, 10.0),
        )
        self.heartbeat_ttl_s = 3 * settings.refresh_interval_s + 5
        self._registered = False
        self._consecutive_failures: dict[tuple[str, str], int] = {}
        self._history_marks: dict[tuple[str, str, str], int] = {}

    async def tick(self) -> TickReport:
        """Refresh every symbol this worker holds a lease for, `CHUNK_SYMBOLS` at a time (see
        the module docstring)."""
        started = time.perf_counter()
        report = TickReport()
        try:
            owned = await self.claim_symbols()
        except StoreUnavailable as exc:
            report.failed = {symbol: str(exc) for symbol in self.settings.symbols}
            log.warning("store unavailable, nothing refreshed: %s", exc)
            return report
        self.metrics.owned_symbols.set(len(owned))
        storing: asyncio.Task | None = None
        outcomes: dict[str, int | str] = {}
        for first in range(0, len(owned), CHUNK_SYMBOLS):
            chunk = owned[first : first + CHUNK_SYMBOLS]
            built = await self._fetch_and_build(chunk, outcomes)
            if storing is not None:  # the previous chunk's writes went on meanwhile
                outcomes.update(await storing)
            storing = asyncio.create_task(self._store(built))
        if storing is not None:
            outcomes.update(await storing)
        for label, outcome in outcomes.items():
            if isinstance(outcome, str):
                report.failed[label] = outcome
            else:
                report.built += outcome
        report.seconds = time.perf_counter() - started
        self.metrics.tick_seconds.observe(report.seconds)
        return report

    async def close(self) -> None:
        """Close every venue's source."""
        for source in self.sources.values():
            await source.close()

    def label(self, info: SymbolInfo) -> str:
        """How a symbol's outcome is reported: the symbol, with several venues `venue:symbol`."""
        return f"{info.exchange}:{info.symbol}" if self.several else info.symbol

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set, one tick every refresh interval (never overlapping)."""
        interval = self.settings.refresh_interval_s
        while not stop.is_set():
            report = await self.tick()
            log.debug("tick: %d maps in %.3f s, %d failed", report.built, report.seconds,
                      len(report.failed))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, interval - report.seconds))
        await self.leases.release_all()
        with contextlib.suppress(StoreUnavailable):
            await self.store.leave(self.worker_id)

    async def claim_symbols(self) -> list[str]:
        """Heartbeat, then hold the leases of this worker's share of the symbols among the live
        workers (releasing the rest); the symbols it owns now."""
        await self._announce()
        workers = await self.store.live_workers()
        if self.worker_id not in workers:
            workers = sorted({*workers, self.worker_id})
        owners = assign(self.settings.symbols, workers)
        mine = [s for s in self.settings.symbols if owners.get(s) == self.worker_id]
        return await self.leases.acquire(mine)

    async def _announce(self) -> None:
        await self.store.heartbeat(self.worker_id, ttl_s=self.heartbeat_ttl_s)
        if not self._registered:
            await self.store.register_symbols(
                {s: self._registration(s) for s in self.settings.symbols})
            self._registered = True

    def _registration(self, symbol: str) -> dict[str, object]:
        """What the API reads of a symbol: the venue its book and last price are stored under
        (the first), every venue with a map of it, and the map served by default (`all` with
        several venues)."""
        venues = self.coverage[symbol]
        info, _ = next(iter(venues.values()))
        return {
            "exchange": info.exchange,
            "exchanges": list(venues),
            "default_map": AGGREGATE_EXCHANGE if len(venues) > 1 else info.exchange,
            "quote_currency": info.quote_currency,
            "has_open_interest": info.has_open_interest,
        }

    async def _fetch_and_build(self, chunk: list[str],
                               outcomes: dict[str, int | str]) -> list[_Built]:
        """Fetch some symbols' market data on every venue concurrently and build their maps in
        one worker thread; a venue whose data could not be fetched gets its failure in
        `outcomes` (and is named in the symbol's aggregate)."""
        venues = [venue for symbol in chunk for venue in self.coverage[symbol].values()]
        snapshots = await asyncio.gather(
            *(fetch_snapshot(source, info, self.lookback_s, with_book=True)
              for info, source in venues), return_exceptions=True)
        fetched: dict[str, list[MarketSnapshot | VenueBuild]] = {s: [] for s in chunk}
        for (info, _), snapshot in zip(venues, snapshots, strict=True):
            if isinstance(snapshot, Exception):
                reason = await self._failed(info, "source", snapshot)
                outcomes[self.label(info)] = reason
                fetched[info.symbol].append(VenueBuild(info.exchange, error=reason))
            else:
                fetched[info.symbol].append(snapshot)
        return await asyncio.to_thread(self._build_all, fetched)

    async def _store(self, built: list[_Built]) -> dict[str, int | str]:
        """Store the built symbols in one pipelined round trip: per symbol the number of maps
        stored, or the failure (of the model, or of its writes)."""
        outcomes: dict[str, int | str] = {}
        writes: list[tuple[_Built, SymbolWrites]] = []
        for result in built:
            if result.error is not None:
                stage = "aggregate" if result.info.exchange == AGGREGATE_EXCHANGE else "model"
                outcomes[self.label(result.info)] = await self._failed(result.info, stage,
                                                                      result.error)
                continue
            if result.book_refused is not None:
                self.metrics.failures.labels(result.info.symbol, "book").inc()
                log.warning("order book of %s refused: %s", result.info.symbol,
                            result.book_refused)
            writes.append((result, self._writes(result)))
        try:
            refused = await self.store.write_refreshes([w for _, w in writes])
        except StoreUnavailable as exc:
            refused = {(write.exchange, write.symbol): str(exc) for _, write in writes}
        for result, write in writes:
            info = result.info
            if (info.exchange, info.symbol) in refused:
                outcomes[self.label(info)] = await self._failed(
                    info, "store", StoreUnavailable(refused[(info.exchange, info.symbol)]))
                continue
            for document in write.history:
                self._history_marks[(info.exchange, info.symbol, document.head["window"])] = (
                    document.head["stats"]["last_candle_open_ms"])
            for document in result.documents:
                self.metrics.build_seconds.observe(result.seconds / len(result.documents))
                self.metrics.builds.labels(info.symbol, document.head["window"], "ok").inc()
            await self._recovered(info)
            outcomes[self.label(info)] = len(result.documents)
        return outcomes

    def _build_all(self, fetched: dict[str, list[MarketSnapshot | VenueBuild]]
                   ) -> list[_Built]:
        """Every venue's documents and order book of each symbol, and with several venues
        their sum (CPU-bound, in a thread)."""
        built: list[_Built] = []
        for symbol, venues in fetched.items():
            own = [self._build(v) for v in venues if isinstance(v, MarketSnapshot)]
            built += own
            if len(self.coverage[symbol]) > 1:
                builds = {b.venue.venue: b.venue for b in own if b.venue is not None}
                builds |= {v.venue: v for v in venues if isinstance(v, VenueBuild)}
                built.append(self._aggregate(symbol, [builds[venue] for venue
                                                      in self.coverage[symbol]]))
        return built

    def _aggregate(self, symbol: str, builds: list[VenueBuild]) -> _Built:
        """The symbol's `all` documents, or why there are none."""
        info, _ = next(iter(self.coverage[symbol].values()))
        info = replace(info, exchange=AGGREGATE_EXCHANGE)
        started = time.perf_counter()
        try:
            documents, missing = aggregate_documents(
                symbol, builds, list(self.windows), self.params, self.settings.max_map_age_s,
                self.model)
        except Exception as exc:  # as for one venue's map: never stops the rest
            return _Built(info, error=exc)
        if not documents:
            return _Built(info, error=MarketSourceError(missing))
        return _Built(info, documents, seconds=time.perf_counter() - started)

    def _build(self, snapshot: MarketSnapshot) -> _Built:
        started = time.perf_counter()
        try:
            build = build_venue(snapshot, self.windows, self.models)
        except Exception as exc:  # one symbol's fault, whatever it is, must not stop the rest
            return _Built(snapshot.info, error=exc,
                          venue=VenueBuild(snapshot.info.exchange, error=f"model: {exc}"))
        seconds = time.perf_counter() - started
        documents = build.documents
        built = build if self._aggregated(snapshot.info) else None
        try:
            if snapshot.book is None:
                raise BookError("no order book in the snapshot")
            book = snapshot.book.cleaned()
        except BookError as exc:
            # advice then sees the previous book age out; the maps are still stored
            return _Built(snapshot.info, documents, seconds=seconds, book_refused=str(exc),
                          last_price=snapshot.price, venue=built)
        return _Built(snapshot.info, documents, book.to_json_bytes(), seconds=seconds,
                      last_price=book.mid or snapshot.price, venue=built)

    def _aggregated(self, info: SymbolInfo) -> bool:
        return len(self.coverage[info.symbol]) > 1

    def _writes(self, result: _Built) -> SymbolWrites:
        """The store writes of one built symbol: maps, book, the history snapshots of windows
        with a new candle since the last one stored (not one per tick), the success."""
        info = result.info
        history = [
            document for document in result.documents
            if self._history_marks.get((info.exchange, info.symbol, document.head["window"]))
            != document.head["stats"]["last_candle_open_ms"]
        ]
        return SymbolWrites(
            exchange=result.info.exchange, symbol=result.info.symbol,
            documents=result.documents, book_json=result.book_json, history=history,
            success_ms=int(time.time() * 1000), last_price=result.last_price,
        )

    async def _failed(self, info: SymbolInfo, stage: str, exc: Exception) -> str:
        reason = f"{stage}: {exc}"
        self.metrics.failures.labels(info.symbol, stage).inc()
        key = (info.exchange, info.symbol)
        consecutive = self._consecutive_failures.get(key, 0) + 1
        self._consecutive_failures[key] = consecutive
        if consecutive == 1:
            log.warning("refresh of %s failed (%s); failures in a row are counted, not logged",
                        self.label(info), reason, exc_info=exc if stage == "model" else None)
        # With the store down the failure is visible anyway: maps go stale, /readyz says why.
        with contextlib.suppress(StoreUnavailable):
            await self.store.record_failure(
                info.exchange, info.symbol, reason, int(time.time() * 1000)
            )
        return reason

    async def _recovered(self, info: SymbolInfo) -> None:
        failures = self._consecutive_failures.pop((info.exchange, info.symbol), 0)
        if failures:
            log.info("refresh of %s recovered after %d failures", self.label(info), failures)
