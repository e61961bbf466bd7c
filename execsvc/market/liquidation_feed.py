"""`LiquidationFeed`: a venue's public liquidation stream through ccxt's websocket client
(imported when a feed is built or run, not with this module, whose status types the store and
the API read in every configuration).

`updates()` yields a `FeedUpdate` whenever events arrive, and at least every `heartbeat_s`
(so the consumer can publish the feed's health even when nothing is liquidated): the new
`LiquidationEvent`s, a `FeedStatus` snapshot and the coverage `Gap`s closed since the last
update (intervals without a connection, during which the venue's events are not replayed).

How nothing is lost between ccxt and the consumer: a ccxt `watch_liquidations*` call returns
only the message that woke it, and messages arriving while the consumer is busy (storing the
previous batch) are in ccxt's liquidation cache but never returned. So the watch calls only
say "something arrived or the connection failed"; the events are read from the cache with an
identity cursor (the last structure handed out), which also recovers events that arrived just
before a disconnect. The cache holds `CACHE_SIZE` structures; a consumer that falls further
behind is reported as a gap, not silently skipped.

Faults: a dropped connection or an exchange error ends the watch calls; the feed reconnects
after an exponential backoff with jitter (`Backoff`), counts the reconnect and records the
gap. A malformed frame (invalid JSON, a structure ccxt cannot parse, an event without a
positive price, quantity or time) is skipped and logged once per kind of fault (then only
counted): ccxt's own receive loop would otherwise stop on the first such frame and leave a
silent, connected-looking socket.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from execsvc.domain.liquidations import LiquidationEvent
from execsvc.market.ccxt_liquidations import LIQUIDATED_SIDE, MalformedLiquidation, normalise

log = logging.getLogger(__name__)

CACHE_SIZE = 10_000
"""Liquidation structures ccxt keeps (its `liquidationsLimit`): the consumer's slack."""


class LiquidationFeedError(RuntimeError):
    """The feed cannot run as configured (venue without a public liquidation stream, no
    configured symbol listed); `str()` says why."""


class Backoff:
    """Exponential backoff with jitter: the k-th `next_delay()` (from 0) is
    `min(max_s, initial_s * 2**k) * (1 + jitter * u)`, u uniform in [-1, 1]; `reset()` after
    a success starts again from `initial_s`."""

    def __init__(
        self, initial_s: float = 0.5, max_s: float = 30.0, jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < initial_s <= max_s and 0 <= jitter < 1")
        self.initial_s = initial_s
        self.max_s = max_s
        self.jitter = jitter
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        base = min(self.max_s, self.initial_s * 2.0 ** min(self.attempts, 60))
        self.attempts += 1
        return base * (1.0 + self.jitter * self._rng.uniform(-1.0, 1.0))

    def reset(self) -> None:
        self.attempts = 0


FeedState = Literal["connecting", "connected", "reconnecting"]


@dataclass(frozen=True, slots=True)
class Gap:
    """An interval (epoch ms) in which the feed may have missed events, and why."""

    start_ms: int
    end_ms: int
    reason: str


@dataclass(slots=True)
class FeedStatus:
    venue: str
    symbols: list[str]
    state: FeedState = "connecting"
    since_ms: int = 0
    last_event_ms: int | None = None
    events: int = 0
    reconnects: int = 0
    malformed: int = 0
    last_error: str | None = None

    def snapshot(self) -> FeedStatus:
        return replace(self, symbols=list(self.symbols))


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    events: list[LiquidationEvent]
    status: FeedStatus
    gaps: list[Gap] = field(default_factory=list)


class _LogOnce:
    """Logs the first fault of each kind at WARNING; later ones of that kind are counted."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str, detail: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] == 1:
            log.warning("liquidation feed: skipped %s (%s); later ones are only counted",
                        kind, detail[:300])


def build_ws_exchange(
    exchange_id: str, *, timeout_ms: int = 10_000, rest_origin: str | None = None,
    urls_override: Mapping[str, Any] | None = None,
) -> Any:
    """A guarded ccxt.pro client (`ccxt_client.build_ws_client`) for a venue whose liquidation
    side convention is known, its liquidation cache `CACHE_SIZE` long."""
    from execsvc.market.ccxt_client import build_ws_client

    if exchange_id not in LIQUIDATED_SIDE:
        raise LiquidationFeedError(
            f"liquidation ingestion supports {', '.join(sorted(LIQUIDATED_SIDE))}, not "
            f"{exchange_id!r}: its side convention is not verified here")
    return build_ws_client(exchange_id, timeout_ms=timeout_ms, rest_origin=rest_origin,
                           urls_override=urls_override,
                           options={"liquidationsLimit": CACHE_SIZE})


class LiquidationFeed:
    """Realised liquidations of the configured `symbols` (exchange ids such as `BTCUSDT`) on
    `exchange_id`. `exchange` is a client from `build_ws_exchange` (built if None).
    `resume_from_ms`, when given, is when the previous coverage ended: the time until the first
    connection is reported as a gap. `clock` returns seconds."""

    def __init__(
        self,
        exchange_id: str,
        symbols: Sequence[str],
        *,
        exchange: Any | None = None,
        backoff: Backoff | None = None,
        heartbeat_s: float = 5.0,
        resume_from_ms: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.venue = exchange_id
        self._exchange = exchange if exchange is not None else build_ws_exchange(exchange_id)
        self._exchange.on_malformed = self._malformed
        self._backoff = backoff or Backoff()
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self.status = FeedStatus(venue=exchange_id, symbols=[s.upper() for s in symbols],
                                 since_ms=self._now_ms())
        self._log_once = _LogOnce()
        self._keys: dict[str, str] = {}
        self._contract_sizes: dict[str, float] = {}
        self._cursor: Any = None
        self._gaps: list[Gap] = []
        self._gap_start_ms = resume_from_ms
        self._gap_reason = "no ingest was running"
        self._up_clients: list[Any] = []
        self._alive_ms = self.status.since_ms

    @property
    def fault_counts(self) -> dict[str, int]:
        """Skipped frames and events by kind of fault."""
        return dict(self._log_once.counts)

    async def close(self) -> None:
        await self._exchange.close()

    async def updates(self) -> AsyncIterator[FeedUpdate]:
        """Yield updates until the consumer stops iterating (then the watches are cancelled;
        call `close()` to close the connections)."""
        import ccxt

        while not self._keys:
            try:
                await self._load_markets()
            except (ccxt.NetworkError, ccxt.ExchangeError) as exc:
                self.status.last_error = _describe(exc, "loading markets")
                yield self._update([])
                async for update in self._backoff_pause():
                    yield update
        waiters: dict[str, asyncio.Task[Any]] = {}
        last_yield = time.monotonic()
        try:
            while True:
                connected = self.status.state == "connected"
                failure = self._lost_connection()
                if failure is None:
                    for name, watch in self._watches().items():
                        if name not in waiters:
                            waiters[name] = asyncio.ensure_future(watch())
                    await asyncio.wait(list(waiters.values()), timeout=self._heartbeat_s
                                       if connected else 0.05,
                                       return_when=asyncio.FIRST_COMPLETED)
                    failure = self._collect(waiters)
                    self._observe_connection()
                events = self._drain()
                if failure is None:
                    if events or time.monotonic() - last_yield >= self._heartbeat_s or (
                            self.status.state == "connected" and not connected):
                        last_yield = time.monotonic()
                        yield self._update(events)
                    continue
                for task in waiters.values():
                    task.cancel()
                waiters.clear()
                self._disconnected(failure)
                last_yield = time.monotonic()
                yield self._update(events)
                async for update in self._backoff_pause():
                    yield update
                last_yield = time.monotonic()
        finally:
            for task in waiters.values():
                task.cancel()

    # ---- markets and watches -----------------------------------------------------------------

    async def _load_markets(self) -> None:
        await self._exchange.load_markets()
        keys, sizes = {}, {}
        for symbol in self.status.symbols:
            market = _linear_swap(self._exchange, symbol)
            if market is None:
                log.warning("%s lists no linear perpetual %s: its liquidations are not "
                            "ingested", self.venue, symbol)
                continue
            keys[market["symbol"]] = symbol
            sizes[symbol] = float(market.get("contractSize") or 1.0)
        if not keys:
            raise LiquidationFeedError(
                f"{self.venue} lists none of {', '.join(self.status.symbols)}")
        self._keys, self._contract_sizes = keys, sizes
        self.status.symbols = list(keys.values())

    def _watches(self) -> dict[str, Callable[[], Coroutine[Any, Any, Any]]]:
        """One watch call for all symbols where the venue has one, else one per symbol."""
        unified = list(self._keys)
        if self._exchange.has.get("watchLiquidationsForSymbols"):
            return {"all": lambda: self._exchange.watch_liquidations_for_symbols(unified)}
        return {s: (lambda s=s: self._exchange.watch_liquidations(s)) for s in unified}

    @staticmethod
    def _collect(waiters: dict[str, asyncio.Task[Any]]) -> BaseException | None:
        """Remove finished watch tasks; the first failure among them, if any."""
        failure = None
        for name in [n for n, t in waiters.items() if t.done()]:
            task = waiters.pop(name)
            if not task.cancelled() and task.exception() is not None and failure is None:
                failure = task.exception()
        return failure

    # ---- reading the cache -------------------------------------------------------------------

    def _drain(self) -> list[LiquidationEvent]:
        """Events ccxt has cached since the last drain, oldest first."""
        cache = getattr(self._exchange, "liquidations", None)
        if not cache:
            return []
        fresh, found = [], self._cursor is None
        for item in reversed(cache):
            if item is self._cursor:
                found = True
                break
            fresh.append(item)
        if not found and len(cache) >= CACHE_SIZE:
            self._overflowed(fresh)
        self._cursor = cache[-1]
        fresh.reverse()
        events = []
        for raw in fresh:
            event = self._normalised(raw)
            if event is not None:
                events.append(event)
        return events

    def _normalised(self, raw: Any) -> LiquidationEvent | None:
        if not isinstance(raw, dict):
            self._malformed("invalid liquidation", repr(raw)[:200])
            return None
        symbol = self._keys.get(raw.get("symbol"))  # type: ignore[arg-type]
        if symbol is None:
            # another market's, or one without a symbol, which ccxt caches and then fails
            # on: that frame is already counted as unparseable
            return None
        try:
            return normalise(raw, venue=self.venue, symbol=symbol,
                             contract_size=self._contract_sizes[symbol])
        except MalformedLiquidation as exc:
            self._malformed("invalid liquidation", f"{exc}: {str(raw.get('info'))[:200]}")
            return None

    def _overflowed(self, fresh: list[Any]) -> None:
        oldest = min((r.get("timestamp") or 0 for r in fresh if isinstance(r, dict)), default=0)
        start = self.status.last_event_ms or oldest
        self._gaps.append(Gap(start, max(start, oldest), "consumer fell more than "
                              f"{CACHE_SIZE} liquidations behind"))
        log.warning("liquidation feed: consumer fell more than %d events behind, some may be "
                    "lost", CACHE_SIZE)

    # ---- state ---------------------------------------------------------------------------------

    def _malformed(self, kind: str, detail: str) -> None:
        self.status.malformed += 1
        self._log_once(kind, detail)

    def _clients(self) -> list[Any]:
        return list((getattr(self._exchange, "clients", None) or {}).values())

    def _lost_connection(self) -> BaseException | None:
        """A connection seen up earlier that ccxt has since dropped (closed while no watch was
        pending, so no watch call failed), as a `NetworkError`; else None."""
        import ccxt

        current = self._clients()
        if any(c not in current or c.closed() for c in self._up_clients):
            return ccxt.NetworkError("connection closed while no watch was pending")
        return None

    def _observe_connection(self) -> None:
        up = [c for c in self._clients() if c.connected.done() and not c.connected.cancelled()
              and c.connected.exception() is None and not c.closed()]
        if up:
            self._up_clients = up
            self._alive_ms = self._now_ms()
        if up and self.status.state != "connected":
            now = self._now_ms()
            if self._gap_start_ms is not None:
                self._gaps.append(Gap(self._gap_start_ms, now, self._gap_reason))
                self._gap_start_ms = None
            self.status.state = "connected"
            self.status.since_ms = now
            log.info("liquidation feed %s connected (%s)", self.venue,
                     ", ".join(self.status.symbols))

    def _disconnected(self, failure: BaseException) -> None:
        """Count the failure; the coverage gap starts when the connection was last seen up."""
        now = self._now_ms()
        reason = _describe(failure)
        self._up_clients = []
        if self.status.state == "connected":
            if now - self.status.since_ms > self._backoff.max_s * 1000:
                self._backoff.reset()
            self.status.reconnects += 1
            self._gap_start_ms, self._gap_reason = min(now, self._alive_ms), reason
            log.warning("liquidation feed %s disconnected (%s); reconnecting", self.venue,
                        reason)
        self.status.state = "reconnecting"
        self.status.since_ms = now
        self.status.last_error = _describe(failure, "watching liquidations")

    async def _backoff_pause(self) -> AsyncIterator[FeedUpdate]:
        """Sleep the next backoff delay, yielding a status update every heartbeat meanwhile
        (so a long pause does not read as a dead ingest); the first attempt and every tenth
        are logged."""
        delay = self._backoff.next_delay()
        if self._backoff.attempts == 1 or self._backoff.attempts % 10 == 0:
            log.warning("liquidation feed %s: %s; attempt %d, retrying in %.1f s",
                        self.venue, self.status.last_error, self._backoff.attempts, delay)
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, self._heartbeat_s))
            if left > self._heartbeat_s:
                yield self._update([])

    def _update(self, events: list[LiquidationEvent]) -> FeedUpdate:
        if events:
            self._backoff.reset()
            self.status.events += len(events)
            self.status.last_event_ms = max(e.time_ms for e in events)
        gaps, self._gaps = self._gaps, []
        return FeedUpdate(events, self.status.snapshot(), gaps)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _describe(failure: BaseException, doing: str = "") -> str:
    text = f"{type(failure).__name__}: {failure}"
    return (f"{doing} failed: {text}" if doing else text)[:300]


def _linear_swap(exchange: Any, symbol: str) -> dict[str, Any] | None:
    """The loaded linear perpetual whose exchange id is `symbol`."""
    found = (exchange.markets_by_id or {}).get(symbol) or []
    for market in found if isinstance(found, list) else [found]:
        if market.get("swap") and market.get("linear"):
            return market
    return None

