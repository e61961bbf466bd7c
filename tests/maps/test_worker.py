"""The refresh worker against a real redis-server: every symbol and window, faults, leases,
outages, the run loop, the bounded history, chunks and the stored bytes."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from execsvc.maps import venue_build as venue_build_module
from execsvc.maps import worker as worker_module
from execsvc.maps.refresh import fetch_snapshot
from execsvc.maps.venue_build import encode_documents
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.market.types import MarketSourceError
from execsvc.settings import Settings
from execsvc.store import BandStore, StoreUnavailable

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]


def settings(**overrides) -> Settings:
    base = {"symbols": ",".join(SYMBOLS), "refresh_interval_s": 0.2, "windows": "1d,7d"}
    return Settings(_env_file=None, **{**base, **overrides})


class FailingFor:
    """A replay source whose data for some symbols raises, as an exchange outage would."""

    def __init__(self, inner: ReplaySource, broken: set[str]) -> None:
        self.inner = inner
        self.broken = broken
        self.name = "replay-with-faults"

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def candles(self, symbol, since_ms):
        if symbol in self.broken:
            raise MarketSourceError(f"{symbol}: exchange returned HTTP 503")
        return await self.inner.candles(symbol, since_ms)


async def test_worker_tick_stores_every_symbol_and_window(redis_client: Redis) -> None:
    config = settings()
    store = BandStore(redis_client)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, config)
    report = await worker.tick()
    assert report.failed == {}
    assert report.built == len(SYMBOLS) * 2
    btc = await store.get_map("hyperliquid", "BTCUSDT", "7d")
    assert btc.document["model"] == "oi_delta"
    sides = {c["side"] for c in btc.document["clusters"]}
    assert sides == {"long", "short"}, "clusters on both sides of the price"
    ftx = await store.get_map("ftx", "BTC-PERP", "1d")
    assert ftx.document["model"] == "volume_proxy"
    registry = await store.symbol_registry()
    assert registry["BTC-PERP"]["exchange"] == "ftx"


async def test_one_failing_symbol_does_not_stop_the_others(redis_client: Redis, caplog) -> None:
    store = BandStore(redis_client)
    source = FailingFor(ReplaySource(speed=720, symbols=SYMBOLS), {"ETHUSDT"})
    worker = MapWorker(source, store, settings())
    for _ in range(3):
        report = await worker.tick()
    assert set(report.failed) == {"ETHUSDT"}
    assert "HTTP 503" in report.failed["ETHUSDT"]
    assert await store.get_map("hyperliquid", "BTCUSDT", "1d") is not None
    assert await store.get_map("hyperliquid", "ETHUSDT", "1d") is None
    status = await store.status("hyperliquid", "ETHUSDT")
    assert status["consecutive_failures"] == "3" and status["failures_total"] == "3"
    logged = [r for r in caplog.records if "ETHUSDT" in r.getMessage()]
    assert len(logged) == 1, "a burst of failures is logged once"
    source.broken.clear()
    await worker.tick()
    status = await store.status("hyperliquid", "ETHUSDT")
    assert status["consecutive_failures"] == "0"


async def test_two_workers_share_symbols_without_overlap(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    a = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, settings(), worker_id="a")
    b = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, settings(), worker_id="b")
    owned_a = await a.leases.acquire(SYMBOLS[:2])
    owned_b = await b.leases.acquire(SYMBOLS)
    assert owned_a == SYMBOLS[:2] and owned_b == SYMBOLS[2:]
    assert await a.leases.acquire(SYMBOLS) == SYMBOLS[:2], "a renews, b keeps its own"
    await a.leases.release_all()
    assert await b.leases.acquire(SYMBOLS) == SYMBOLS, "freed leases are taken over"


async def test_worker_survives_store_outage() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), BandStore(dead), settings())
    report = await worker.tick()
    assert set(report.failed) == set(SYMBOLS)
    assert all("redis unreachable" in reason for reason in report.failed.values())
    with pytest.raises(StoreUnavailable):
        await BandStore(dead).get_map("x", "y", "1d")


async def test_run_loop_refreshes_until_stopped(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    worker = MapWorker(ReplaySource(speed=3600, symbols=SYMBOLS), store, settings())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    stored = await store.get_map("hyperliquid", "BTCUSDT", "1d")
    assert stored.version >= 3, "several ticks in a second at a 0.2 s interval"
    assert await redis_client.keys("execsvc:lease:*") == [], "leases released on stop"


async def test_history_keeps_one_snapshot_per_candle(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    source = ReplaySource(speed=720, symbols=SYMBOLS, clock=lambda: 0.0)  # time stands still
    worker = MapWorker(source, store, settings())
    await worker.tick()
    await worker.tick()  # same replay hour: no new snapshot
    source.advance(3_600_000)
    await worker.tick()
    history = await store.history("hyperliquid", "BTCUSDT", "1d")
    assert len(history) == 2
    first, second = history
    assert second["t_ms"] - first["t_ms"] >= 3_600_000
    assert len(first["values"]) == 400 and first["width"] > 0
    assert first["low"] < first["price"] < first["low"] + 400 * first["width"]


async def test_chunks_store_everything_and_keep_faults_to_their_symbol(
        redis_client: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three symbols in chunks of two (the second chunk builds while the first one's writes
    go out): one symbol's model fails, one's store writes fail, the third is stored whole."""
    monkeypatch.setattr(worker_module, "CHUNK_SYMBOLS", 2)
    store = BandStore(redis_client)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, settings())
    await redis_client.set("execsvc:status:hyperliquid:ETHUSDT", "not a hash")
    real_build = venue_build_module.build_maps

    def build(snapshot, *args):
        if snapshot.info.symbol == "BTC-PERP":
            raise FloatingPointError("model blew up")
        return real_build(snapshot, *args)

    monkeypatch.setattr(venue_build_module, "build_maps", build)
    report = await worker.tick()
    assert report.built == 2
    assert report.failed["BTC-PERP"].startswith("model: model blew up")
    assert report.failed["ETHUSDT"].startswith("store: redis error")
    btc = await store.get_map("hyperliquid", "BTCUSDT", "1d")
    assert btc.document["symbol"] == "BTCUSDT" and len(btc.document["bands"]) == 400
    assert (await store.get_book("hyperliquid", "BTCUSDT")).version == 1
    assert len(await store.history("hyperliquid", "BTCUSDT", "7d")) == 1
    assert (await store.status("hyperliquid", "BTCUSDT"))["consecutive_failures"] == "0"
    assert await store.get_map("ftx", "BTC-PERP", "1d") is None


async def test_stored_document_is_the_encoded_one(redis_client: Redis) -> None:
    """What the worker stores is byte for byte the document `execsvc map --json` builds."""
    store = BandStore(redis_client)
    source = ReplaySource(speed=720, symbols=SYMBOLS, clock=lambda: 0.0)
    worker = MapWorker(source, store, settings())
    await worker.tick()
    stored = await redis_client.hget("execsvc:map:hyperliquid:ETHUSDT:7d", "doc")
    info = next(i for i in source.symbols() if i.symbol == "ETHUSDT")
    snapshot = await fetch_snapshot(source, info, worker.lookback_s)
    [document] = encode_documents(snapshot, {"7d": 7 * 86_400}, worker.params)
    assert stored == document.json


# ---- workers share the symbols (issue 10, finding 9) --------------------------------------------


def aliased_workers(store: BandStore, names: list[str], symbols: int = 30,
                    lease_s: float = 1.0) -> tuple[list[MapWorker], list[str]]:
    from execsvc.bench.tick import AliasedReplay

    source = AliasedReplay(ReplaySource(speed=720), symbols)
    keys = [info.symbol for info in source.symbols()]
    config = settings(symbols=",".join(keys), refresh_interval_s=0.2, windows="1d")
    return [MapWorker(source, store, config, worker_id=name, lease_s=lease_s)
            for name in names], keys


async def lease_owners(redis: Redis) -> dict[str, str]:
    owners = {}
    for key in await redis.keys("execsvc:lease:*"):
        owners[key.decode().rsplit(":", 1)[1]] = (await redis.get(key)).decode()
    return owners


async def rounds(workers: list[MapWorker], count: int) -> dict[str, list[str]]:
    held: dict[str, list[str]] = {}
    for _ in range(count):
        for worker in workers:
            held[worker.worker_id] = await worker.claim_symbols()
    return held


async def test_three_workers_hold_a_third_of_thirty_symbols_each(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    (a, b, c), keys = aliased_workers(store, ["a", "b", "c"])
    held = await rounds([a, b, c], 3)
    assert {w: len(s) for w, s in held.items()} == {"a": 10, "b": 10, "c": 10}
    owners = await lease_owners(redis_client)
    assert sorted(owners) == sorted(keys), "every symbol has exactly one lease"
    assert {w: sorted(s for s, o in owners.items() if o == w) for w in "abc"} == {
        w: sorted(held[w]) for w in "abc"}
    report = await a.tick()
    assert report.built == 10 and report.failed == {}, "a refreshes its share only"


async def test_a_dead_worker_vanishes_and_its_share_moves(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    (a, b, c), _ = aliased_workers(store, ["a", "b", "c"])
    for worker in (a, b, c):
        worker.heartbeat_ttl_s = 0.8
    await rounds([a, b, c], 3)
    await asyncio.sleep(1.1)  # c stops: its heartbeat (0.8 s) and leases (1 s) run out
    held = await rounds([a, b], 2)
    assert {w: len(s) for w, s in held.items()} == {"a": 15, "b": 15}
    assert await redis_client.zrange("execsvc:workers", 0, -1) == [b"a", b"b"], (
        "the registry no longer lists c")
    held = await rounds([a, b, c], 3)  # c comes back: the symbols are shared again
    assert {w: len(s) for w, s in held.items()} == {"a": 10, "b": 10, "c": 10}


async def test_a_stopped_worker_leaves_the_registry_and_its_leases(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    (a, b), _ = aliased_workers(store, ["a", "b"], symbols=4, lease_s=30.0)
    await rounds([a, b], 2)
    stop = asyncio.Event()
    stop.set()
    await b.run(stop)  # a clean stop: one tick, then leave
    assert await redis_client.zrange("execsvc:workers", 0, -1) == [b"a"]
    assert len(await a.claim_symbols()) == 4, "b's share moves at once, not after 30 s"


def test_the_assignment_is_balanced_and_moves_few_symbols() -> None:
    from execsvc.store.leases import assign

    symbols = [f"S{i:03d}" for i in range(300)]
    three = assign(symbols, ["w1", "w2", "w3"])
    assert sorted(list(three.values()).count(w) for w in ("w1", "w2", "w3")) == [100] * 3
    four = assign(symbols, ["w1", "w2", "w3", "w4"])
    assert sorted(list(four.values()).count(w) for w in ("w1", "w2", "w3", "w4")) == [75] * 4
    moved = sum(three[s] != four[s] for s in symbols)
    assert moved < 150, f"{moved} of 300 symbols moved when a fourth worker joined"
    assert assign(symbols, ["w3", "w1", "w2"]) == three, "independent of the listing order"
