"""The liquidation ingest: a venue's feed -> the online score against the map of each event's
moment -> `LiquidationStore`.

One ingest owns a venue at a time (a Redis lease `liquidations:<exchange>`, renewed on every
feed update): a second replica waits on standby and takes over when the first one stops, so
rolling deploys neither double-count nor leave a hole longer than the lease.

Each event is scored against the latest map of its symbol (window `score_window`) computed at
or before the event's time and at most `MAX_MAP_AGE_S` older than it; otherwise it is stored
unscored with the reason (`no_map`, `map_stale`). The stored entry names the map (window,
version, model version, computed time) either way. A store fault holds the batch and retries
with backoff: the feed keeps buffering meanwhile (`liquidation_feed.CACHE_SIZE`), so a short
Redis outage loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from execsvc.domain.liquidations import SAMPLING_NOTES, LiquidationEvent
from execsvc.liqmap.online_score import EventScore, MapBands, ScoreTotals, score_event
from execsvc.market.ccxt_liquidations import LIQUIDATED_SIDE
from execsvc.market.liquidation_feed import (
    Backoff,
    FeedStatus,
    FeedUpdate,
    LiquidationFeed,
    LiquidationFeedError,
)
from execsvc.settings import Settings
from execsvc.store import BandStore, StoreUnavailable
from execsvc.store.leases import SymbolLeases
from execsvc.store.liquidation_store import DUPLICATE, EXPIRED, LiquidationStore

log = logging.getLogger(__name__)

def no_source_reason(settings: Settings) -> str | None:
    """Why this configuration has no realised liquidations to ingest or serve, or None."""
    if not settings.liquidations:
        return "realised liquidations are turned off (EXECSVC_LIQUIDATIONS=false)"
    if settings.source != "ccxt":
        return ("replay mode plays recorded market data and has no liquidation stream: "
                "realised liquidations need a live exchange (EXECSVC_SOURCE=ccxt)")
    if settings.exchange not in LIQUIDATED_SIDE:
        return (f"{settings.exchange} is not a supported liquidation stream (supported: "
                f"{', '.join(sorted(LIQUIDATED_SIDE))})")
    return None


DOWN_AFTER_HEARTBEATS = 3
"""An ingest silent for this many heartbeats (plus 5 s) is reported `down`."""


def feed_health(status: FeedStatus, updated_ms: int, now_ms: int, heartbeat_s: float
                ) -> dict[str, Any]:
    """The ingest's last status as served: its state, or `down` when it stopped reporting;
    whether the venue's stream is a sample."""
    age_s = max(0.0, (now_ms - updated_ms) / 1000.0)
    down = age_s > DOWN_AFTER_HEARTBEATS * heartbeat_s + 5.0
    note = SAMPLING_NOTES.get(status.venue)
    return {
        "exchange": status.venue, "state": "down" if down else status.state,
        "since_ms": updated_ms if down else status.since_ms, "heartbeat_age_s": round(age_s, 3),
        "last_event_ms": status.last_event_ms, "events": status.events,
        "reconnects": status.reconnects, "malformed": status.malformed,
        "last_error": status.last_error, "sampled": note is not None, "sampling_note": note,
    }


CONFIG_RETRY_S = 60.0
"""Seconds before a feed that cannot run as configured is tried again."""

MAPS_KEPT = 4
"""Recent maps kept per symbol, so an event is scored by the map current at its time even when
a newer one was stored between the event and its processing."""


@dataclass(frozen=True, slots=True)
class ScoringMap:
    version: int
    computed_at_ms: int
    model_version: str
    price: float
    bands: MapBands

    def reference(self, window: str) -> dict[str, Any]:
        return {"window": window, "version": self.version, "computed_at_ms": self.computed_at_ms,
                "model_version": self.model_version, "price": self.price}


@dataclass(slots=True)
class IngestCounts:
    stored: int = 0
    duplicates: int = 0
    expired: int = 0


class MapHistory:
    """The last `MAPS_KEPT` maps of each symbol, read from the band store when its version
    changes."""

    def __init__(self, band_store: BandStore, exchange: str, window: str) -> None:
        self.band_store = band_store
        self.exchange = exchange
        self.window = window
        self._maps: dict[str, list[ScoringMap]] = {}

    async def refresh(self, symbol: str) -> None:
        kept = self._maps.setdefault(symbol, [])
        fresh = await self.band_store.map_freshness(self.exchange, symbol, self.window)
        if fresh is None or (kept and kept[-1].version == fresh.version):
            return
        stored = await self.band_store.get_map(self.exchange, symbol, self.window)
        if stored is None:
            return
        doc = stored.document
        kept.append(ScoringMap(stored.version, stored.computed_at_ms, doc.get("model_version", ""),
                               float(doc["price"]), MapBands.from_document(doc)))
        del kept[:-MAPS_KEPT]

    def at(self, symbol: str, time_ms: int) -> ScoringMap | None:
        """The newest kept map computed at or before `time_ms`."""
        for candidate in reversed(self._maps.get(symbol, [])):
            if candidate.computed_at_ms <= time_ms:
                return candidate
        return None


def score_details(
    event: LiquidationEvent, scoring_map: ScoringMap | None, window: str, max_map_age_s: float,
    received_ms: int,
) -> tuple[dict[str, Any], ScoreTotals]:
    """What is stored with an event (map reference, score or the reason there is none, receive
    time) and its contribution to the score totals."""
    score: EventScore | None = None
    reason = None
    if scoring_map is None:
        reason = "no_map"
    elif event.time_ms - scoring_map.computed_at_ms > max_map_age_s * 1000:
        reason = "map_stale"
    else:
        score = score_event(event.side, event.price, scoring_map.bands)
    details = {
        "received_ms": received_ms,
        "map": None if scoring_map is None else scoring_map.reference(window),
        "score": None if score is None else score.to_dict(),
        "unscored_reason": reason,
    }
    return details, ScoreTotals.of_event(event.notional_quote, score)


class LiquidationIngest:
    """Runs `make_feed(resume_from_ms)` while holding the venue's lease and stores what it
    yields. `resume_from_ms` is the previous ingest's last heartbeat, so the time nobody was
    ingesting becomes a recorded coverage gap."""

    def __init__(
        self,
        make_feed: Callable[[int | None], LiquidationFeed],
        store: LiquidationStore,
        band_store: BandStore,
        *,
        exchange: str,
        score_window: str,
        max_map_age_s: float,
        lease_s: float = 15.0,
        owner: str | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.make_feed = make_feed
        self.store = store
        self.exchange = exchange
        self.score_window = score_window
        self.max_map_age_s = max_map_age_s
        self.maps = MapHistory(band_store, exchange, score_window)
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}"
        self.leases = SymbolLeases(band_store.redis, self.owner, lease_s=lease_s)
        self.lease_key = f"liquidations:{exchange}"
        self.counts = IngestCounts()
        self._backoff = backoff or Backoff(initial_s=0.5, max_s=10.0)
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest while holding the lease, stand by otherwise, until `stop` is set. A feed
        that cannot run (the venue lists none of the symbols) or an unexpected fault is
        reported in the feed status and retried later; it never ends the loop."""
        while not stop.is_set():
            if not await self._holds_lease():
                await _wait(stop, self.leases.lease_s / 3)
                continue
            try:
                await self._ingest_until(stop)
            except LiquidationFeedError as exc:
                log.error("liquidation ingest of %s cannot run: %s; retrying in %g s",
                          self.exchange, exc, CONFIG_RETRY_S)
                await self._report(str(exc))
                await _wait(stop, CONFIG_RETRY_S)
            except Exception as exc:  # a bug must not end the ingest: report, back off, retry
                log.exception("liquidation ingest of %s failed; restarting", self.exchange)
                await self._report(f"{type(exc).__name__}: {exc}")
                await _wait(stop, self._backoff.next_delay())
        with contextlib.suppress(StoreUnavailable):
            await self.leases.release_all()

    async def _report(self, error: str) -> None:
        status = FeedStatus(venue=self.exchange, symbols=[], state="reconnecting",
                            since_ms=int(self._clock() * 1000), last_error=error[:300])
        with contextlib.suppress(StoreUnavailable):
            await self.store.put_status(status)

    async def _holds_lease(self) -> bool:
        try:
            return bool(await self.leases.acquire([self.lease_key]))
        except StoreUnavailable as exc:
            log.warning("liquidation ingest: store unavailable (%s)", exc)
            return False

    async def _ingest_until(self, stop: asyncio.Event) -> None:
        previous = await self._previous_heartbeat()
        feed = self.make_feed(previous)
        updates = feed.updates()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                step = asyncio.ensure_future(anext(updates))
                await asyncio.wait([step, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await step
                    break
                await self.ingest(step.result(), stop)
                if not await self._holds_lease():
                    log.warning("liquidation ingest lost the lease of %s; standing by",
                                self.exchange)
                    break
        finally:
            stopping.cancel()
            await updates.aclose()
            await feed.close()

    async def _previous_heartbeat(self) -> int | None:
        try:
            found = await self.store.status(self.exchange)
        except StoreUnavailable:
            return None
        return None if found is None else found[1]

    async def ingest(self, update: FeedUpdate, stop: asyncio.Event | None = None) -> None:
        """Score and store one update's events, gaps and status; retries store faults until
        they succeed (or `stop` is set)."""
        while True:
            try:
                await self._write(update)
                self._backoff.reset()
                return
            except StoreUnavailable as exc:
                delay = self._backoff.next_delay()
                log.warning("liquidation ingest: store unavailable (%s); %d events held, "
                            "retrying in %.1f s", exc, len(update.events), delay)
                if stop is not None and stop.is_set():
                    return
                await asyncio.sleep(delay)

    async def _write(self, update: FeedUpdate) -> None:
        received = int(self._clock() * 1000)
        for symbol in {e.symbol for e in update.events}:
            await self.maps.refresh(symbol)
        for event in update.events:
            details, totals = score_details(
                event, self.maps.at(event.symbol, event.time_ms), self.score_window,
                self.max_map_age_s, received)
            outcome = await self.store.add(event, details, totals, now_ms=received)
            self._count(outcome, event)
        await self.store.add_gaps(self.exchange, update.gaps, now_ms=received)
        await self.store.put_status(update.status, now_ms=received)

    def _count(self, outcome: int, event: LiquidationEvent) -> None:
        if outcome == DUPLICATE:
            self.counts.duplicates += 1
            if self.counts.duplicates == 1:
                log.info("liquidation ingest: dropped a duplicate event (%s %s at %d); later "
                         "duplicates are only counted", event.venue, event.symbol, event.time_ms)
        elif outcome == EXPIRED:
            self.counts.expired += 1
        else:
            self.counts.stored += 1


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
