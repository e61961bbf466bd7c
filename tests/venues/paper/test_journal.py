"""Paper broker + journal against the real redis-server fixture: rebuild equals the live state,
the derived keys agree with it, client order ids are idempotent (also across restarts, replicas
and commits whose reply was lost), and concurrent submissions serialize."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import numpy as np
import orjson
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from execsvc.bench.figures import render
from execsvc.bench.paper import bench_paper, paper_section
from execsvc.domain.book import OrderBook
from execsvc.domain.orders import DuplicateOrder, OrderRequest, order_to_json, position_to_json
from execsvc.market.replay_books import recorded_order_book
from execsvc.store.band_store import StoreUnavailable
from execsvc.venues.paper.accounts import PaperAccounts
from execsvc.venues.paper.engine import Fees
from execsvc.venues.paper.journal import PaperJournal
from execsvc.venues.paper.service import PaperBroker


class Books:
    """Recorded BTCUSDT books; `advance()` moves to the next sample (a new version), `shift()`
    moves every price of the current one by an amount (quote, also a new version)."""

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.version = 1
        self.offset = 0.0

    def advance(self) -> None:
        self.index += 1
        self.version += 1

    def shift(self, amount: float) -> None:
        self.offset += amount
        self.version += 1

    async def __call__(self, symbol: str) -> OrderBook | None:
        book = recorded_order_book(self.index)
        shift = np.array([self.offset, 0.0])
        return OrderBook.of(book.bids + shift, book.asks + shift, version=self.version)


def broker_for(redis: Redis, books: Books, account: str = "acct", **kwargs) -> PaperBroker:
    clock = itertools.count(1_700_000_000_000)
    return PaperBroker(PaperJournal(redis, account), books, fees=Fees(5.0, 2.0),
                       starting_balance_quote=1_000_000.0, clock=lambda: next(clock), **kwargs)


def request(cid: str, side: str = "buy", kind: str = "market", qty: float = 1.0,
            **fields) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol="BTCUSDT", side=side, type=kind,
                        quantity=qty, **fields)


def as_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


async def assert_rebuild_matches(broker: PaperBroker) -> None:
    journal = broker.journal
    rebuilt = await journal.rebuild()
    assert rebuilt == broker.state
    assert await journal.length() == broker.state.version
    orders = await journal.stored_orders()
    assert orders == {i: as_json(order_to_json(o)) for i, o in broker.state.orders.items()}
    positions = await journal.stored_positions()
    assert positions == {s: as_json(position_to_json(p))
                         for s, p in broker.state.positions.items()}
    meta = await journal.stored_meta()
    assert int(meta["version"]) == broker.state.version
    assert meta["last_id"] == broker.state.last_id
    assert meta["account"]["balance_quote"] == broker.state.balance_quote
    for cid, order_id in broker.state.client_ids.items():
        assert await journal.order_id_for(cid) == order_id


async def test_rebuild_equals_live_state(redis_client: Redis) -> None:
    books = Books()
    broker = broker_for(redis_client, books)
    first = await broker.submit("k1", request("m1", qty=3.0, leverage=20.0))
    assert first.status == "filled" and first.api_key_id == "k1"
    await broker.submit("k1", request("m2", side="sell", qty=1.0))
    resting = await broker.submit("k1", request("l1", kind="limit", qty=2.0, price=60_000.0))
    stop = await broker.submit("k1", request("s1", side="sell", kind="stop", qty=2.0,
                                             stop_price=62_000.0, reduce_only=True))
    post = await broker.submit("k1", request("p1", side="sell", kind="limit", qty=1.0,
                                             price=70_000.0, time_in_force="POST_ONLY"))
    assert (resting.status, stop.status, post.status) == ("new", "new", "new")
    books.advance()
    await broker.cancel(post.id)
    assert (await broker.get_order(post.id)).status == "canceled"
    events = await broker.on_market("BTCUSDT", 59_900.0, 64_000.0, 61_000.0)
    kinds = [e["type"] for e in events]
    assert kinds.count("fill") == 2  # the resting buy (maker) and the stop (taker)
    assert (await broker.get_order(resting.id)).status == "filled"
    assert (await broker.get_order(stop.id)).fills[0].liquidity == "taker"
    position = (await broker.positions())[0]
    assert position.position.size == pytest.approx(2.0)
    lp = position.position.liquidation_price
    events = await broker.on_market("BTCUSDT", lp * 0.99, 61_000.0, lp * 0.99)
    assert [e["type"] for e in events] == ["position_liquidated"]
    account = await broker.account()
    assert account.positions == {} and account.balance_quote < 1_000_000.0
    assert account.balance_quote == pytest.approx(
        1_000_000.0 + account.realized_pnl_quote - account.fees_paid_quote)
    await assert_rebuild_matches(broker)
    restarted = broker_for(redis_client, books)
    await restarted.start()
    assert restarted.state == broker.state


async def test_client_order_id_is_idempotent(redis_client: Redis) -> None:
    books = Books()
    broker = broker_for(redis_client, books)
    order = await broker.submit("k1", request("same", qty=2.0))
    length = await broker.journal.length()
    again = await broker.submit("k1", request("same", qty=2.0))
    assert again == order and await broker.journal.length() == length
    with pytest.raises(DuplicateOrder) as info:
        await broker.submit("k1", request("same", qty=3.0))
    assert info.value.order_id == order.id
    restarted = broker_for(redis_client, books)
    assert await restarted.submit("k1", request("same", qty=2.0)) == order
    assert await restarted.journal.length() == length
    rejected = await broker.submit("k1", request("bad", qty=1.0, reduce_only=True))
    assert rejected.status == "rejected" and rejected.reason == "reduce_only_no_position"
    assert await broker.submit("k1", request("bad", qty=1.0, reduce_only=True)) == rejected


async def test_a_lost_commit_reply_does_not_double_the_order(redis_client: Redis) -> None:
    books = Books()
    broker = broker_for(redis_client, books)
    await broker.start()
    real_commit = broker.journal.commit
    calls = 0

    async def commit_then_drop_the_reply(*args: Any, **kwargs: Any) -> list[str]:
        nonlocal calls
        calls += 1
        ids = await real_commit(*args, **kwargs)
        if calls == 1:
            raise StoreUnavailable("redis unreachable: reply lost")
        return ids

    broker.journal.commit = commit_then_drop_the_reply  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        await broker.submit("k1", request("lost", qty=1.5))
    assert "lost" not in broker.state.client_ids  # nothing unacknowledged in local state
    order = await broker.submit("k1", request("lost", qty=1.5))  # the client retries
    assert order.status == "filled" and order.filled_quantity == 1.5
    fills = [e for _, e in await broker.journal.events_since() if e["type"] == "fill"]
    assert {f["order_id"] for f in fills} == {order.id}  # one order, one fill per level walked
    assert len(fills) == len(order.fills) and sum(f["quantity"] for f in fills) == (
        pytest.approx(1.5))
    await assert_rebuild_matches(broker)


async def test_concurrent_submits_serialize_on_a_thinning_book(redis_client: Redis) -> None:
    broker = broker_for(redis_client, Books(5))
    orders = await asyncio.gather(
        *(broker.submit("k1", request(f"c{i}", qty=4.0, leverage=50.0)) for i in range(20)))
    assert all(o.status == "filled" for o in orders)
    by_id = sorted(orders, key=lambda o: o.id)
    prices = [o.average_price for o in by_id]
    assert prices == sorted(prices) and prices[-1] > prices[0]
    fill_ids = [f.id for o in orders for f in o.fills]
    assert len(fill_ids) == len(set(fill_ids))
    await assert_rebuild_matches(broker)


async def test_two_replicas_on_one_account_converge(redis_client: Redis) -> None:
    books = Books(7)
    one, two = broker_for(redis_client, books), broker_for(redis_client, books)
    for i in range(6):
        broker = one if i % 2 == 0 else two
        order = await broker.submit("k1", request(f"r{i}", qty=5.0, leverage=50.0))
        assert order.status == "filled"
    assert await two.submit("k1", request("r0", qty=5.0, leverage=50.0)) == (
        await one.get_order("po-00000001"))
    await one.get_order("po-00000001")  # catches `one` up
    assert one.state == two.state
    averages = [one.state.orders[f"po-{i:08d}"].average_price for i in range(1, 7)]
    assert averages == sorted(averages)  # each replica saw the depth the other one took
    await assert_rebuild_matches(one)


async def test_events_since_returns_only_later_events(redis_client: Redis) -> None:
    broker = broker_for(redis_client, Books())
    await broker.submit("k1", request("a"))
    mark = broker.state.last_id
    await broker.submit("k1", request("b", side="sell"))
    later = await broker.journal.events_since(mark)
    assert [e["type"] for _, e in later] == ["order_accepted", "fill"]
    assert later[0][1]["request"]["client_order_id"] == "b"
    assert later[-1][0] == broker.state.last_id


async def test_latency_delays_the_fill(redis_client: Redis) -> None:
    broker = broker_for(redis_client, Books(), latency_ms=60.0)
    await broker.start()
    started = time.perf_counter()
    await broker.submit("k1", request("slow"))
    assert time.perf_counter() - started >= 0.06


async def test_journal_pages_fold_a_long_history(redis_client: Redis) -> None:
    broker = broker_for(redis_client, Books())
    broker.journal.page_size = 7
    for i in range(12):
        await broker.submit("k1", request(f"o{i}", side="buy" if i % 2 else "sell"))
    await assert_rebuild_matches(broker)


def test_bench_runs_and_cleans_up(redis_server) -> None:
    checked = []

    def check(order: OrderRequest) -> bool:
        checked.append(order.client_order_id)
        return len(checked) % 10 != 0

    figures = bench_paper(redis_server.url, requests=60, rebuild_entries=300, repeats=1,
                          check=check, policy_path="policies/default.toml")
    assert figures["journal_entries"] >= 300 and figures["rebuild_s"] > 0
    assert figures["refused"] == len(checked) // 10 > 0
    assert figures["risk_requests_per_second"] > 0 and figures["risk_refused"] == 0
    out = render(paper_section(figures, redis_server.url, custom_check=True))
    assert "risk check (default.toml) + fill + journal" in out and "rebuild of" in out
    assert "given check + fill + journal" in out
    client = SyncRedis.from_url(redis_server.url)
    assert list(client.scan_iter(match="*bench-*")) == []
    client.close()


async def test_accounts_are_separate_and_follow_the_market(redis_client: Redis) -> None:
    books = Books(11)
    accounts = PaperAccounts(redis_client, books, fees=Fees(5.0, 2.0),
                             starting_balance_quote=100_000.0)
    assert await accounts.poll_market(["BTCUSDT"]) == []  # no account yet
    alice, bob = accounts.broker("alice"), accounts.broker("bob")
    assert accounts.broker("alice") is alice
    mid = (await alice.book("BTCUSDT")).mid
    await accounts.poll_market(["BTCUSDT"])
    resting = await alice.submit("k-alice", request("dip", kind="limit", qty=0.5,
                                                    price=mid - 5.0))
    await bob.submit("k-bob", request("dip", side="sell", qty=0.2))  # same client id, other account
    assert await accounts.position("alice", "BTCUSDT") is None
    books.shift(-4.0)
    assert await accounts.poll_market(["BTCUSDT"]) == []  # low = mid - 4: not through mid - 5
    books.shift(-2.0)
    events = await accounts.poll_market(["BTCUSDT"])
    assert [e["type"] for e in events] == ["fill"] and events[0]["liquidity"] == "maker"
    assert (await alice.get_order(resting.id)).status == "filled"
    assert (await accounts.position("alice", "BTCUSDT")).size == 0.5
    assert (await accounts.position("bob", "BTCUSDT")).size == -0.2
    assert (await alice.order_for_client_id("dip")).id == resting.id
    stop = asyncio.Event()
    loop = asyncio.create_task(accounts.run_market_loop(["BTCUSDT"], 0.01, stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, timeout=2.0)
    await assert_rebuild_matches(alice)
    await assert_rebuild_matches(bob)


# ---- bounded memory and journal compaction (issue 10, finding 4) --------------------------------


async def trade(broker: PaperBroker, books: Books, count: int, start: int = 0) -> None:
    """A deterministic mix: market orders both ways, resting limits (some canceled, some
    filled by ticks), crossing IOC limits, a new book every 10 orders."""
    from tests.support.paper_burst import burst_request

    for index in range(start, start + count):
        order = await broker.submit("k1", burst_request(index))
        if index % 10 == 9:
            books.advance()
        if order.status == "new" and index % 3 == 0:
            await broker.cancel(order.id)
        if index % 25 == 24:
            await broker.on_market("BTCUSDT", 40_000.0, 90_000.0, 64_000.0)


def comparable(state) -> dict:
    from execsvc.venues.paper.state import state_to_json

    document = state_to_json(state)
    for name in ("account_id", "last_id"):
        document.pop(name)
    document["orders"] = sorted(document["orders"], key=lambda o: o["id"])
    return document


async def test_rebuild_after_compaction_equals_the_uncompacted_state(redis_client: Redis) -> None:
    """The same orders on two accounts, one compacted every 40 events: their rebuilds are
    equal (to each other and to the live state), with history trimmed to 25 closed orders."""
    compacted = broker_for(redis_client, Books(), "compacted", order_history=25,
                           snapshot_every=40)
    full = broker_for(redis_client, Books(), "full", order_history=25, snapshot_every=10**9)
    books_c, books_f = compacted.book_source, full.book_source
    await trade(compacted, books_c, 150)
    await trade(full, books_f, 150)
    assert compacted.state.evicted > 50 and len(compacted.state.orders) < 60
    assert await compacted.journal.length() < 80 < await full.journal.length()
    assert await full.journal.length() == full.state.version == compacted.state.version

    rebuilt = broker_for(redis_client, Books(), "compacted", order_history=25)
    await rebuilt.start()
    reference = broker_for(redis_client, Books(), "full", order_history=25)
    await reference.start()
    assert rebuilt.state == compacted.state, "the rebuild is the live state"
    assert comparable(rebuilt.state) == comparable(reference.state), (
        "snapshot + tail folds to what the whole journal folds to")


async def test_memory_is_bounded_and_forgotten_orders_still_answer(redis_client: Redis) -> None:
    books = Books()
    broker = broker_for(redis_client, books, order_history=10)
    first = await broker.submit("k1", request("first", qty=0.5))
    for i in range(60):
        await broker.submit("k1", request(f"m{i}", side="buy" if i % 2 else "sell", qty=0.5))
    assert len(broker.state.orders) <= 10 + len(broker.state.open_orders)
    assert first.id not in broker.state.orders and broker.state.evicted >= 51
    assert await broker.get_order(first.id) == first
    assert await broker.order_for_client_id("first") == first
    version = broker.state.version
    assert await broker.submit("k1", request("first", qty=0.5)) == first, "not placed again"
    assert broker.state.version == version
    with pytest.raises(DuplicateOrder):
        await broker.submit("k1", request("first", qty=0.7))


async def test_a_replica_behind_a_snapshot_catches_up_from_it(redis_client: Redis) -> None:
    books = Books()
    writer = broker_for(redis_client, books, "shared", snapshot_every=30)
    await trade(writer, books, 10)
    replica = broker_for(redis_client, books, "shared", snapshot_every=30)
    await replica.start()
    await trade(writer, books, 60, start=10)  # compacts past the replica's last event
    assert await writer.journal.length() < writer.state.version
    await replica.order_for_client_id("burst-0")  # folds what the writer journaled
    assert replica.state == writer.state
