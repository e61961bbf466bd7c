"""The refresh worker: every `REFRESH_INTERVAL_S`, rebuild every owned symbol's maps.

One symbol's failure (source, model or store) never stops the others: it is counted in the
store's status hash and in metrics, and logged once per burst of consecutive failures (and
once on recovery). With several workers, `SymbolLeases` shares the symbols out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from execsvc.domain.book import BookError
from execsvc.domain.map_document import MapDocument, history_snapshot, map_summary
from execsvc.maps.metrics import WorkerMetrics
from execsvc.maps.refresh import (
    MarketSnapshot,
    build_documents,
    fetch_snapshot,
    map_params,
    snapshot_lookback_s,
)
from execsvc.market.types import MarketSource, MarketSourceError, SymbolInfo
from execsvc.settings import Settings
from execsvc.store import BandStore, StoreUnavailable
from execsvc.store.leases import SymbolLeases

log = logging.getLogger("execsvc.maps.worker")


@dataclass
class TickReport:
    built: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class MapWorker:
    def __init__(
        self,
        source: MarketSource,
        store: BandStore,
        settings: Settings,
        registry: CollectorRegistry | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.settings = settings
        self.params = map_params(settings)
        self.windows = settings.window_seconds
        self.lookback_s = snapshot_lookback_s(self.windows, self.params)
        self.metrics = WorkerMetrics(registry or CollectorRegistry())
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.symbols = {info.symbol: info for info in source.symbols()}
        missing = [s for s in settings.symbols if s not in self.symbols]
        if missing:
            raise MarketSourceError(f"source {source.name!r} has no data for symbols "
                                    f"{missing}")
        self.leases = SymbolLeases(
            store.redis, self.worker_id, lease_s=max(3 * settings.refresh_interval_s, 10.0)
        )
        self._registered = False
        self._consecutive_failures: dict[str, int] = {}
        self._history_marks: dict[tuple[str, str], int] = {}

    async def tick(self) -> TickReport:
        """Refresh every symbol this worker holds a lease for, concurrently."""
        started = time.perf_counter()
        report = TickReport()
        try:
            await self._announce()
            owned = await self.leases.acquire(self.settings.symbols)
        except StoreUnavailable as exc:
            report.failed = {symbol: str(exc) for symbol in self.settings.symbols}
            log.warning("store unavailable, nothing refreshed: %s", exc)
            return report
        self.metrics.owned_symbols.set(len(owned))
        results = await asyncio.gather(*(self._refresh(self.symbols[s]) for s in owned))
        for symbol, outcome in zip(owned, results, strict=True):
            if isinstance(outcome, str):
                report.failed[symbol] = outcome
            else:
                report.built += outcome
        report.seconds = time.perf_counter() - started
        self.metrics.tick_seconds.observe(report.seconds)
        return report

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

    async def _announce(self) -> None:
        await self.store.heartbeat(self.worker_id, ttl_s=3 * self.settings.refresh_interval_s + 5)
        if not self._registered:
            await self.store.register_symbols(
                {
                    s: {
                        "exchange": info.exchange,
                        "quote_currency": info.quote_currency,
                        "has_open_interest": info.has_open_interest,
                    }
                    for s, info in self.symbols.items()
                    if s in self.settings.symbols
                }
            )
            self._registered = True

    async def _refresh(self, info: SymbolInfo) -> int | str:
        """Build and store every window of one symbol: the number of maps, or the failure."""
        stage = "source"
        try:
            snapshot = await fetch_snapshot(self.source, info, self.lookback_s, with_book=True)
            stage = "model"
            started = time.perf_counter()
            documents = await asyncio.to_thread(
                build_documents, snapshot, self.windows, self.params
            )
            self.metrics.build_seconds.observe((time.perf_counter() - started) / len(documents))
            stage = "store"
            await self._store_book(info, snapshot)
            for document in documents:
                await self.store.put_map(document, map_summary(document))
                await self._remember(info, document)
                self.metrics.builds.labels(info.symbol, document["window"], "ok").inc()
            await self.store.record_success(info.exchange, info.symbol, int(time.time() * 1000))
        except Exception as exc:  # one symbol's fault, whatever it is, must not stop the rest
            return await self._failed(info, stage, exc)
        await self._recovered(info)
        return len(documents)

    async def _store_book(self, info: SymbolInfo, snapshot: MarketSnapshot) -> None:
        """Store the symbol's book for advice; a bad book (crossed, empty) is counted and
        skipped: advice then sees the previous one age out, the maps are still stored."""
        try:
            if snapshot.book is None:
                raise BookError("no order book in the snapshot")
            book = snapshot.book.cleaned()
        except BookError as exc:
            self.metrics.failures.labels(info.symbol, "book").inc()
            log.warning("order book of %s refused: %s", info.symbol, exc)
            return
        await self.store.put_book(info.exchange, info.symbol, book)

    async def _remember(self, info: SymbolInfo, document: MapDocument) -> None:
        """Add the map to its history once per new candle (not on every tick)."""
        key = (info.symbol, document["window"])
        candle = document["stats"]["last_candle_open_ms"]
        if self._history_marks.get(key) != candle:
            await self.store.append_history(
                info.exchange, info.symbol, document["window"], history_snapshot(document)
            )
            self._history_marks[key] = candle

    async def _failed(self, info: SymbolInfo, stage: str, exc: Exception) -> str:
        reason = f"{stage}: {exc}"
        self.metrics.failures.labels(info.symbol, stage).inc()
        consecutive = self._consecutive_failures.get(info.symbol, 0) + 1
        self._consecutive_failures[info.symbol] = consecutive
        if consecutive == 1:
            log.warning("refresh of %s failed (%s); failures in a row are counted, not logged",
                        info.symbol, reason, exc_info=stage == "model")
        # With the store down the failure is visible anyway: maps go stale, /readyz says why.
        with contextlib.suppress(StoreUnavailable):
            await self.store.record_failure(
                info.exchange, info.symbol, reason, int(time.time() * 1000)
            )
        return reason

    async def _recovered(self, info: SymbolInfo) -> None:
        failures = self._consecutive_failures.pop(info.symbol, 0)
        if failures:
            log.info("refresh of %s recovered after %d failures", info.symbol, failures)
