"""Paper trading benchmark: order requests per second end to end, and the time to rebuild an
account from its journal.

1. Requests/s: `PaperBroker.submit` / `cancel` one after another (each submission: risk check,
   decision on the book, one journal commit to Redis, adopt the state), 3 market orders :
   1 resting GTC limit : 1 cancel of it, on the recorded BTCUSDT books, a new book version
   every 50 steps. Run without a risk check and with the risk module's `RiskGate.admit` (the
   `/orders` step: policy rules, rate counter, client-id claim and audit entry in Redis).
   Baseline: the same stream decided in memory (engine, no journal).
2. Rebuild: a journal of `rebuild_entries` events (the same stream's real decisions, appended
   through `PaperJournal.commit` in atomic batches) folded back by `PaperJournal.rebuild`;
   median seconds of `repeats`.

`redis_url` None runs on the embedded store (fakeredis with Lua), else on that server. The
benchmark writes under fresh key prefixes and deletes its keys afterwards (the risk gate's
audit entries go to its own stream under that prefix).
"""

from __future__ import annotations

import asyncio
import inspect
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fakeredis
from redis.asyncio import Redis

from execsvc.bench.figures import Figure, Section
from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import BINANCE_USDM_BRACKETS, bracket_table
from execsvc.domain.orders import OrderRequest
from execsvc.market.replay_books import recorded_order_book, snapshot_count
from execsvc.venues.paper.engine import Fees, decide_cancel, decide_submit, open_account
from execsvc.venues.paper.journal import PaperJournal
from execsvc.venues.paper.service import PaperBroker
from execsvc.venues.paper.state import PaperState

BOOK_EVERY = 50
DEFAULT_POLICY = Path("policies/default.toml")
BATCH_EVENTS = 2_000


def bench_step(index: int) -> OrderRequest | str:
    """Step `index` of the benchmark stream: market orders both ways; every 5th step a resting
    GTC limit far from the book, canceled two steps later (a step that cancels returns the
    limit's client order id)."""
    side = "buy" if index % 2 == 0 else "sell"
    if index % 5 == 4:
        price = 58_000.0 if side == "buy" else 67_000.0  # recorded mids: 61,600..64,000
        return OrderRequest(f"b{index}", "BTCUSDT", side, "limit", 0.01, price=price)
    if index % 5 == 1 and index > 5:
        return f"b{index - 2}"
    return OrderRequest(f"b{index}", "BTCUSDT", side, "market", 0.05 + (index % 7) * 0.01)


def _book(index: int) -> OrderBook:
    """The book order `index` meets: a new version every `BOOK_EVERY` orders."""
    return _book_version(index // BOOK_EVERY + 1)


@lru_cache(maxsize=4)
def _book_version(version: int) -> OrderBook:
    book = recorded_order_book((version - 1) % snapshot_count())
    return OrderBook.of(book.bids, book.asks, version=version)


async def _cleanup(redis: Redis, journal: PaperJournal) -> None:
    await redis.delete(journal.stream, journal.meta_key, journal.cid_key, journal.orders_key,
                       journal.positions_key)


async def _allowed(check: Callable[[OrderRequest], Any] | None, request: OrderRequest) -> bool:
    if check is None:
        return True
    verdict = check(request)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return verdict is not False and getattr(verdict, "allowed", True) is not False


def policy_check(redis: Redis, broker: PaperBroker, policy_path: str | Path, prefix: str
                 ) -> Callable[[OrderRequest], Awaitable[Any]]:
    """The `/orders` risk step for the benchmark: `RiskGate.admit` under the policy file (rate
    limit lifted: the benchmark sends thousands of orders a minute; no map clusters), with the
    book's mid as the mark and the broker's position. Gate keys live under `prefix`."""
    from execsvc.risk.gate import RiskGate
    from execsvc.risk.policy import load_policy
    from execsvc.risk.rules import RiskContext

    policy = load_policy(policy_path).model_copy(update={"max_orders_per_minute": 10**9})
    gate = RiskGate(redis, prefix=prefix)

    async def check(request: OrderRequest) -> Any:
        mark = await broker.mark(request.symbol)
        context = RiskContext(mark_price=mark.price if mark else 0.0,
                              brackets=bracket_table(request.symbol),
                              position=broker.state.positions.get(request.symbol))
        return await gate.admit(policy, request, context, "bench", request.client_order_id)

    return check


async def _requests_per_second(redis: Redis, steps: int,
                               check: Callable[[OrderRequest], Any] | None,
                               policy_path: str | Path | None = None) -> tuple[float, int]:
    """(order requests per second through PaperBroker, submissions the check refused)."""
    tag = f"bench-{uuid.uuid4().hex[:12]}"
    journal = PaperJournal(redis, tag)
    current = {"index": 0}

    async def books(symbol: str) -> OrderBook:
        return _book(current["index"])

    broker = PaperBroker(journal, books, fees=Fees(), starting_balance_quote=1e9)
    await broker.start()
    if policy_path is not None:
        check = policy_check(redis, broker, policy_path, f"{tag}-risk")
    refused = 0
    try:
        started = time.perf_counter()
        for index in range(steps):
            current["index"] = index
            step = bench_step(index)
            if isinstance(step, str):
                order_id = broker.state.client_ids.get(step)
                if order_id is not None:
                    await broker.cancel(order_id)
            elif await _allowed(check, step):
                await broker.submit("bench", step)
            else:
                refused += 1
        elapsed = time.perf_counter() - started
    finally:
        await _cleanup(redis, journal)
        keys = [k async for k in redis.scan_iter(match=f"{tag}-risk:*")]
        if keys:
            await redis.delete(*keys)
    return steps / elapsed, refused


def _engine_steps(state: PaperState, first: int, count: int) -> list:
    """Decide and adopt steps `first`.. of the stream in memory; returns their events."""
    brackets, fees = BINANCE_USDM_BRACKETS["BTCUSDT"], Fees()
    events: list = []
    for index in range(first, first + count):
        step = bench_step(index)
        if isinstance(step, str):
            decision = decide_cancel(state, state.client_ids[step], now_ms=index)
        else:
            decision = decide_submit(state, step, book=_book(index), fees=fees,
                                     brackets=brackets, now_ms=index)
        state.absorb(decision.state)
        events += decision.events
    return events


def _engine_requests_per_second(steps: int) -> float:
    """The same stream in memory (decide + adopt, no journal)."""
    state = PaperState()
    state.absorb(open_account(state, 1e9, now_ms=0).state)
    started = time.perf_counter()
    _engine_steps(state, 0, steps)
    return steps / (time.perf_counter() - started)


async def _fill_journal(journal: PaperJournal, entries: int) -> None:
    """Append at least `entries` events of real decisions through `PaperJournal.commit`, in
    atomic batches of about `BATCH_EVENTS`."""
    state = PaperState(account_id=journal.account_id)
    opened = open_account(state, 1e9, now_ms=0)
    state.absorb(opened.state)
    pending = list(opened.events)
    committed, index = 0, 0
    while committed + len(pending) < entries:
        pending += _engine_steps(state, index, 100)
        index += 100
        if len(pending) >= BATCH_EVENTS:
            await journal.commit(pending, expected_version=committed, after=state)
            committed += len(pending)
            pending = []
    if pending:
        await journal.commit(pending, expected_version=committed, after=state)


async def _rebuild_seconds(redis: Redis, entries: int, repeats: int) -> tuple[float, int]:
    journal = PaperJournal(redis, f"bench-{uuid.uuid4().hex[:12]}")
    try:
        await _fill_journal(journal, entries)
        length = await journal.length()
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            await journal.rebuild()
            samples.append(time.perf_counter() - started)
    finally:
        await _cleanup(redis, journal)
    return statistics.median(samples), length


def bench_paper(redis_url: str | None = None, *, requests: int = 2_000,
                rebuild_entries: int = 100_000, repeats: int = 3,
                check: Callable[[OrderRequest], Any] | None = None,
                policy_path: str | Path | None = DEFAULT_POLICY) -> dict[str, float]:
    """The paper-trading figures (see the module docstring; `paper_section` tabulates them).

    The stream runs twice: without a risk check (or with `check(request)`, sync or async, if
    given: a False result, or one whose `allowed` is False, refuses the order), and with the
    risk module's `RiskGate.admit` under `policy_path` (skipped when None or missing)."""
    policy = Path(policy_path) if policy_path is not None else None
    if policy is not None and not policy.is_file():
        policy = None

    async def run() -> dict[str, float]:
        redis: Redis = (fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
                        if redis_url is None else Redis.from_url(redis_url))
        figures: dict[str, float] = {}
        try:
            figures["requests_per_second"], figures["refused"] = await _requests_per_second(
                redis, requests, check)
            if policy is not None:
                rate, refused = await _requests_per_second(redis, requests, None, policy)
                figures["risk_requests_per_second"], figures["risk_refused"] = rate, refused
            figures["rebuild_s"], figures["journal_entries"] = await _rebuild_seconds(
                redis, rebuild_entries, repeats)
        finally:
            await redis.aclose()
        return figures

    figures = asyncio.run(run())
    figures["engine_requests_per_second"] = _engine_requests_per_second(requests)
    figures["requests"] = requests
    if policy is not None:
        figures["policy"] = policy.name  # type: ignore[assignment]
    return figures


def paper_section(figures: dict[str, Any], redis_url: str | None, *,
                  custom_check: bool = False) -> Section:
    """`bench_paper`'s figures as a section of the report (no targets: rates to compare)."""
    store = ("embedded store (fakeredis)" if redis_url is None
             else f"Redis at {urlsplit(redis_url).hostname}:{urlsplit(redis_url).port or 6379}")
    rows = [Figure("given check + fill + journal" if custom_check else "fill + journal",
                   figures["requests_per_second"], "requests/s",
                   note=f"{1e6 / figures['requests_per_second']:,.0f} us each, "
                        f"{figures['refused']:,.0f} refused")]
    if "risk_requests_per_second" in figures:
        rows.append(Figure(f"risk check ({figures['policy']}) + fill + journal",
                           figures["risk_requests_per_second"], "requests/s",
                           note=f"{figures['risk_refused']:,.0f} refused"))
    rows.append(Figure("engine alone, no journal", figures["engine_requests_per_second"],
                       "requests/s"))
    entries, seconds = figures["journal_entries"], figures["rebuild_s"]
    rows.append(Figure(f"rebuild of {entries:,.0f} journal entries", seconds, "s",
                       note=f"{seconds * 1e6 / entries:.1f} us per entry"))
    return Section(
        key="paper",
        title=(f"paper trading on the {store}: {figures['requests']:,.0f} requests, 3 market : "
               "1 resting limit : 1 cancel, recorded BTCUSDT books"),
        figures=rows,
    )
