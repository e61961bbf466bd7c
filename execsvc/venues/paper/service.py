"""`PaperBroker`: the async paper-trading service behind the order endpoints.

One broker per paper account. Every change goes: decide on a fork of the in-memory state ->
journal commit (one Lua script: events + derived keys + idempotency) -> adopt the fork. So the
local state never holds anything Redis has not acknowledged. When another writer (a second API
replica) got there first, the commit is refused; the broker folds the journal's new events and
decides again. When Redis fails, the error (`StoreUnavailable`) is raised: the commit may or
may not have happened, and the next operation learns which from the journal (a client retrying
with the same `client_order_id` gets the committed order, never a second one). An asyncio lock
per account (shared by brokers of the same account in one event loop) serializes changes, so
each order sees the book the previous one left.

Bounded: the broker keeps working orders and the `order_history` most recently closed ones in
memory (older ones are read from the journal's derived hashes when asked for, and their client
order ids still resolve to them), and every `snapshot_every` events it compacts the journal
(a snapshot of the state, the entries behind it trimmed; `PaperJournal.compact`).

Units: quantities in base units, prices in quote per base, money in quote, latency in ms.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import Bracket, bracket_table
from execsvc.domain.orders import Account, DuplicateOrder, Order, OrderRequest, Position
from execsvc.store.band_store import BandStore, LastPrice, StoreUnavailable
from execsvc.venues.paper.engine import (
    Decision,
    Fees,
    decide_cancel,
    decide_on_price,
    decide_submit,
    open_account,
)
from execsvc.venues.paper.journal import JournalConflict, PaperJournal
from execsvc.venues.paper.ledger import Event
from execsvc.venues.paper.state import PaperState

log = logging.getLogger(__name__)
BookSource = Callable[[str], Awaitable[OrderBook | None]]
MarkSource = Callable[[str], Awaitable[float | None]]
LastPriceSource = Callable[[str], Awaitable[LastPrice | None]]
MAX_ATTEMPTS = 5

_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())


def account_lock(key: str) -> asyncio.Lock:
    """The lock of one account (journal stream key) in the running event loop."""
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(key, asyncio.Lock())


def band_store_books(store: BandStore, exchange: str) -> BookSource:
    """A book source reading the latest book the worker stored (`BandStore.get_book`)."""

    async def source(symbol: str) -> OrderBook | None:
        return await store.get_book(exchange, symbol)

    return source


class PaperUnavailable(RuntimeError):
    """The journal kept changing under the broker (`MAX_ATTEMPTS` conflicts in a row)."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A mark price (quote per base); `stale` when it is the last known price and older than
    the broker's `stale_after_s` (the worker stopped storing books and prices)."""

    price: float
    stale: bool = False


@dataclass(frozen=True, slots=True)
class MarkedPosition:
    """A position with the mark price it was valued at and its unrealised PnL (quote)."""

    position: Position
    mark_price: float | None
    unrealized_pnl_quote: float
    mark_stale: bool = False


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return int(time.time() * 1000)


class PaperBroker:
    """Paper orders, positions and account of the journal's account.

    `book_source(symbol)` gives the latest stored book (with its version) or None; `mark_source
    (symbol)` the mark price (default: the book's mid, else `last_price_source(symbol)`, the
    last price the worker stored, flagged stale after `stale_after_s`). `fees` in bps,
    `latency_ms` the delay between a submission and the book it meets, `brackets_for(symbol)`
    the maintenance brackets for liquidation prices, `starting_balance_quote` the deposit of a
    new account. A reduce-only market order without a book fills at the last price, so a
    position can always be closed.
    """

    def __init__(
        self,
        journal: PaperJournal,
        book_source: BookSource,
        mark_source: MarkSource | None = None,
        fees: Fees | None = None,
        latency_ms: float = 0.0,
        brackets_for: Callable[[str], Sequence[Bracket]] = bracket_table,
        *,
        starting_balance_quote: float = 10_000.0,
        clock: Callable[[], int] = now_ms,
        last_price_source: LastPriceSource | None = None,
        stale_after_s: float = 30.0,
        order_history: int = 1_000,
        snapshot_every: int = 10_000,
    ) -> None:
        self.journal = journal
        self.order_history = order_history
        self.snapshot_every = snapshot_every
        self._compacted_at = 0
        self.last_price_source = last_price_source
        self.stale_after_s = stale_after_s
        self.book_source = book_source
        self.mark_source = mark_source
        self.fees = fees or Fees()
        self.latency_ms = float(latency_ms)
        self.brackets_for = brackets_for
        self.starting_balance_quote = float(starting_balance_quote)
        self.clock = clock
        self.state = PaperState(account_id=journal.account_id)
        self._started = False

    @property
    def _lock(self) -> asyncio.Lock:
        return account_lock(self.journal.stream)

    async def start(self) -> None:
        """Rebuild the account from the journal (opening it with the starting balance if the
        journal is empty). Called by the first operation if not before."""
        async with self._lock:
            if self._started:
                return
            self.state = await self.journal.rebuild()
            self.state.trim_history(self.order_history)
            self._compacted_at = self.state.version
            self._started = True
            await self._decide_and_commit(
                lambda: open_account(self.state, self.starting_balance_quote,
                                     now_ms=self.clock()))

    async def _ensure_started(self) -> None:
        if not self._started:
            await self.start()

    async def _commit(self, decision: Decision) -> bool:
        """Journal the decision and adopt its state; False on a conflict (state caught up)."""
        if not decision.events:
            return True
        try:
            ids = await self.journal.commit(decision.events, expected_version=self.state.version,
                                            after=decision.state)
        except JournalConflict:
            await self._catch_up()
            return False
        decision.state.last_id = ids[-1]
        self.state.absorb(decision.state)
        self.state.trim_history(self.order_history)
        if self.state.version - self._compacted_at >= self.snapshot_every:
            await self._compact()
        return True

    async def _catch_up(self) -> None:
        """Fold what other writers journaled since (lock held)."""
        if await self.journal.catch_up(self.state):
            self.state.trim_history(self.order_history)

    async def _compact(self) -> None:
        """Snapshot the account and trim the journal behind it (lock held); a store failure
        only postpones it."""
        try:
            await self.journal.compact(self.state)
        except StoreUnavailable as exc:
            log.warning("compaction of %s postponed: %s", self.journal.stream, exc)
            return
        self._compacted_at = self.state.version

    async def _decide_and_commit(self, decide: Callable[[], Decision | Awaitable[Decision]]
                                 ) -> Decision:
        """Run `decide` against the current state until its events commit (lock held)."""
        for _ in range(MAX_ATTEMPTS):
            decision = decide()
            if inspect.isawaitable(decision):
                decision = await decision
            if await self._commit(decision):
                return decision
        raise PaperUnavailable(f"journal {self.journal.stream} kept changing")

    async def book(self, symbol: str) -> OrderBook | None:
        """The latest book of `symbol` from the book source (before this account's overlay)."""
        return await self.book_source(symbol)

    def _known(self, request: OrderRequest) -> Order | None:
        order_id = self.state.client_ids.get(request.client_order_id)
        if order_id is None:
            return None
        order = self.state.orders[order_id]
        if order.request != request:
            raise DuplicateOrder(request.client_order_id, order.id)
        return order

    async def _forgotten_order(self, client_order_id: str) -> Order | None:
        """A closed order the state no longer holds, from the journal's derived hashes."""
        if not self.state.evicted or client_order_id in self.state.client_ids:
            return None
        order_id = await self.journal.order_id_for(client_order_id)
        return None if order_id is None else await self.journal.stored_order(order_id)

    async def submit(self, api_key_id: str, request: OrderRequest) -> Order:
        """Place `request`; returns the order after its immediate fills (status `rejected` with
        a `reason` when refused). Idempotent on `client_order_id`: a retry returns the same
        order; the same id with a different request raises DuplicateOrder."""
        await self._ensure_started()
        known = self._known(request)
        if known is not None:
            return known
        forgotten = await self._forgotten_order(request.client_order_id)
        if forgotten is not None:
            if forgotten.request != request:
                raise DuplicateOrder(request.client_order_id, forgotten.id)
            return forgotten
        if self.latency_ms > 0.0:
            await asyncio.sleep(self.latency_ms / 1000.0)
        async with self._lock:

            async def decide() -> Decision:
                if self._known(request) is not None:
                    return Decision([], self.state.fork())
                book = await self.book(request.symbol)
                closing = None
                if book is None and request.reduce_only:
                    last = await self.last_mark(request.symbol)
                    closing = None if last is None else last.price
                return decide_submit(
                    self.state, request, book=book, fees=self.fees,
                    brackets=self.brackets_for(request.symbol), now_ms=self.clock(),
                    api_key_id=api_key_id, last_price=closing)

            await self._decide_and_commit(decide)
            known = self._known(request)
        if known is None:
            raise PaperUnavailable("the committed order is missing from the state")
        return known

    async def order_for_client_id(self, client_order_id: str) -> Order | None:
        """The order a `client_order_id` went to (after folding other writers' events)."""
        await self._refresh()
        order_id = self.state.client_ids.get(client_order_id)
        if order_id is None:
            return await self._forgotten_order(client_order_id)
        return self.state.orders[order_id]

    async def cancel(self, order_id: str) -> Order | None:
        """Cancel a working order; returns it (unchanged if already closed), None if unknown."""
        await self._ensure_started()
        async with self._lock:
            await self._catch_up()
            await self._decide_and_commit(
                lambda: decide_cancel(self.state, order_id, now_ms=self.clock()))
            return self.state.orders.get(order_id)

    async def get_order(self, order_id: str) -> Order | None:
        """The order with its fills, or None if the account has no such order."""
        await self._refresh()
        order = self.state.orders.get(order_id)
        if order is None and self.state.evicted:
            order = await self.journal.stored_order(order_id)
        return order

    async def open_orders(self) -> list[Order]:
        """Working orders (new or partially filled), oldest first."""
        await self._refresh()
        return [self.state.orders[i] for i in self.state.open_orders]

    async def _refresh(self) -> None:
        """Start if needed and fold what other writers journaled since."""
        await self._ensure_started()
        async with self._lock:
            await self._catch_up()

    async def last_mark(self, symbol: str) -> Mark | None:
        """The last price the worker stored, stale after `stale_after_s`; None without one."""
        if self.last_price_source is None:
            return None
        last = await self.last_price_source(symbol)
        if last is None:
            return None
        return Mark(last.price, stale=last.age_s() > self.stale_after_s)

    async def mark(self, symbol: str) -> Mark | None:
        """The mark of `symbol`: the mark source's, else the book's mid (stale when the last
        stored price is), else the last stored price; None when there is no price at all."""
        if self.mark_source is not None:
            price = await self.mark_source(symbol)
            return None if price is None else Mark(price)
        book = await self.book(symbol)
        last = await self.last_mark(symbol)
        if book is not None and book.mid is not None:
            return Mark(book.mid, stale=last is not None and last.stale)
        return last

    async def positions(self) -> list[MarkedPosition]:
        """Open positions valued at the current mark (unrealised PnL 0 without a mark)."""
        await self._refresh()
        marked = []
        for symbol, position in sorted(self.state.positions.items()):
            mark = await self.mark(symbol)
            if mark is None:
                marked.append(MarkedPosition(position, None, 0.0, mark_stale=True))
                continue
            pnl = position.unrealized_pnl_quote(mark.price)
            marked.append(MarkedPosition(position, mark.price, pnl, mark_stale=mark.stale))
        return marked

    async def account(self) -> Account:
        """Balance, positions, fees, realised and unrealised PnL and margins (quote)."""
        marked = await self.positions()
        state = self.state
        return Account(
            balance_quote=state.balance_quote,
            positions={m.position.symbol: m.position for m in marked},
            fees_paid_quote=state.fees_paid_quote,
            realized_pnl_quote=state.realized_pnl_quote,
            unrealized_pnl_quote=sum(m.unrealized_pnl_quote for m in marked),
            position_margin_quote=state.position_margin_quote,
            order_margin_quote=state.order_margin_quote,
        )

    async def on_market(self, symbol: str, low: float, high: float, mark: float) -> list[Event]:
        """A price tick (traded range since the last one, mark now): fills resting limits and
        triggered stops, liquidates a position the mark crossed. Returns the events."""
        await self._ensure_started()
        async with self._lock:

            async def decide() -> Decision:
                book = await self.book(symbol)
                return decide_on_price(self.state, symbol, low, high, mark, book=book,
                                       fees=self.fees, brackets=self.brackets_for(symbol),
                                       now_ms=self.clock())

            return (await self._decide_and_commit(decide)).events
