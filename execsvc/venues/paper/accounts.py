"""`PaperAccounts`: one `PaperBroker` per paper account (e.g. per API key id), made on first use,
all sharing one Redis, one book source and one fee schedule; and the market loop that feeds
them price ticks (resting limits, stops, liquidations).

Ticks come from polling the book: between two polls the price is taken to have traded through
every level between the previous mid and the current one, so a tick is `low = min(previous
mid, mid)`, `high = max(...)`, and the mark is the mark source's (default: the mid). The first
poll of a symbol is a tick with low = high = mid. Once the book has expired, the last price
the worker stored stands in for the mid, so resting orders, stops and liquidations go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from execsvc.domain.brackets import Bracket, bracket_table
from execsvc.domain.orders import Position
from execsvc.store.errors import StoreUnavailable, store_unavailable
from execsvc.venues.paper.admission import Fees
from execsvc.venues.paper.journal import PaperJournal
from execsvc.venues.paper.ledger import Event
from execsvc.venues.paper.service import (
    BookSource,
    LastPriceSource,
    MarkSource,
    PaperBroker,
    PaperUnavailable,
    now_ms,
)

log = logging.getLogger(__name__)


class PaperAccounts:
    """Brokers by account id (one paper account per API key id)."""

    def __init__(
        self,
        redis: Redis,
        book_source: BookSource,
        mark_source: MarkSource | None = None,
        fees: Fees | None = None,
        latency_ms: float = 0.0,
        brackets_for: Callable[[str], Sequence[Bracket]] = bracket_table,
        *,
        starting_balance_quote: float = 10_000.0,
        prefix: str = "execsvc",
        clock: Callable[[], int] = now_ms,
        last_price_source: LastPriceSource | None = None,
        stale_after_s: float = 30.0,
        order_history: int = 1_000,
        snapshot_every: int = 10_000,
    ) -> None:
        self.redis = redis
        self.book_source = book_source
        self.mark_source = mark_source
        self.last_price_source = last_price_source
        self.prefix = prefix
        self._options = dict(mark_source=mark_source, fees=fees, latency_ms=latency_ms,
                             brackets_for=brackets_for,
                             starting_balance_quote=starting_balance_quote, clock=clock,
                             last_price_source=last_price_source, stale_after_s=stale_after_s,
                             order_history=order_history, snapshot_every=snapshot_every)
        self._brokers: dict[str, PaperBroker] = {}
        self._last_mid: dict[str, float] = {}

    def broker(self, account_id: str) -> PaperBroker:
        """The account's broker (it rebuilds from its journal on first use)."""
        broker = self._brokers.get(account_id)
        if broker is None:
            journal = PaperJournal(self.redis, account_id, prefix=self.prefix)
            broker = PaperBroker(journal, self.book_source, **self._options)
            self._brokers[account_id] = broker
        return broker

    async def position(self, account_id: str, symbol: str) -> Position | None:
        """The account's open position in `symbol`, or None."""
        for marked in await self.broker(account_id).positions():
            if marked.position.symbol == symbol:
                return marked.position
        return None

    async def load_journaled_accounts(self) -> list[str]:
        """Make a broker for every account that has a journal in Redis; returns their ids."""
        pattern = f"{self.prefix}:paper:*:journal"
        ids = []
        try:
            async for raw in self.redis.scan_iter(match=pattern, count=1000):
                key = raw.decode() if isinstance(raw, bytes) else raw
                ids.append(key[len(self.prefix) + len(":paper:"): -len(":journal")])
        except (RedisError, OSError) as exc:
            raise store_unavailable(exc) from exc
        for account_id in ids:
            self.broker(account_id)
        return ids

    async def poll_market(self, symbols: Sequence[str]) -> list[Event]:
        """One tick per symbol (see the module docstring) to every broker made so far; returns
        the events of all accounts."""
        events: list[Event] = []
        for symbol in symbols:
            book = await self.book_source(symbol)
            mid = None if book is None else book.mid
            if mid is None and self.last_price_source is not None:
                last = await self.last_price_source(symbol)
                mid = None if last is None else last.price
            if mid is None:
                continue
            previous = self._last_mid.get(symbol, mid)
            self._last_mid[symbol] = mid
            mark = await self.mark_source(symbol) if self.mark_source is not None else None
            for broker in list(self._brokers.values()):
                events += await broker.on_market(symbol, min(previous, mid), max(previous, mid),
                                                  mid if mark is None else mark)
        return events

    async def run_market_loop(self, symbols: Sequence[str], interval_s: float,
                              stop: asyncio.Event) -> None:
        """`poll_market(symbols)` every `interval_s` seconds until `stop` is set; a Redis
        outage is logged and the next poll tries again. Every account with a journal is loaded
        first, so resting orders, stops and liquidations keep working after a restart even
        before their owner makes a request."""
        while not stop.is_set():
            try:
                await self.load_journaled_accounts()
                break
            except StoreUnavailable as exc:
                log.warning("cannot list paper accounts yet: %s", exc)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
                except TimeoutError:
                    continue
        while not stop.is_set():
            try:
                await self.poll_market(symbols)
            except (StoreUnavailable, PaperUnavailable) as exc:
                log.warning("paper market poll failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                continue
