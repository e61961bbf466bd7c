"""BandStore against a real redis-server, and the in-process store running the same code."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.settings import Settings
from execsvc.store import BandStore, StoreUnavailable
from execsvc.store.connection import connect, is_embedded

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]


def settings(**overrides) -> Settings:
    base = {"symbols": ",".join(SYMBOLS), "refresh_interval_s": 0.2, "windows": "1d,7d"}
    return Settings(_env_file=None, **{**base, **overrides})


async def test_put_map_is_versioned_and_published(redis_client: Redis) -> None:
    store = BandStore(redis_client, ttl_s=30)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(store.channel)
    await pubsub.get_message(timeout=1)  # subscribe confirmation
    doc = {"exchange": "binanceusdm", "symbol": "BTCUSDT", "window": "7d", "bands": [1, 2]}
    first = await store.put_map(doc, {"symbol": "BTCUSDT", "window": "7d"}, computed_at_ms=1000)
    second = await store.put_map(doc, {"symbol": "BTCUSDT", "window": "7d"}, computed_at_ms=2000)
    assert (first, second) == (1, 2)
    stored = await store.get_map("binanceusdm", "BTCUSDT", "7d")
    assert stored.version == 2 and stored.computed_at_ms == 2000 and stored.document == doc
    ttl_ms = await redis_client.pttl("execsvc:map:binanceusdm:BTCUSDT:7d")
    assert 0 < ttl_ms <= 30_000
    notices = []
    while len(notices) < 2:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
        if message:
            notices.append(orjson.loads(message["data"]))
    assert [n["version"] for n in notices] == [1, 2]
    assert notices[1]["symbol"] == "BTCUSDT" and notices[1]["computed_at_ms"] == 2000
    await pubsub.aclose()


async def test_embedded_store_runs_the_same_code() -> None:
    redis = connect(settings())
    assert is_embedded(redis)
    store = BandStore(redis)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, settings())
    report = await worker.tick()
    assert report.failed == {} and report.built == 6
    assert (await store.get_map("hyperliquid", "ETHUSDT", "7d")).version == 1


async def test_refreshes_go_out_in_bounded_pipelines(redis_client: Redis, monkeypatch) -> None:
    """Many symbols' writes split into round trips of about PIPELINE_BYTES, every write
    landing: maps with versions, books, history, status; a bad key fails only its symbol."""
    from execsvc.domain.map_document import EncodedDocument
    from execsvc.store import band_store
    from execsvc.store.band_store import SymbolWrites

    monkeypatch.setattr(band_store, "PIPELINE_BYTES", 150)
    sent = []
    real = BandStore._write_pipelined

    async def counted(self, writes):
        sent.append(len(writes))
        return await real(self, writes)

    monkeypatch.setattr(BandStore, "_write_pipelined", counted)
    store = BandStore(redis_client)

    def write(symbol: str, window: str) -> SymbolWrites:
        head = {"exchange": "ex", "symbol": symbol, "window": window, "model": "oi_delta",
                "price": 1.0, "data_end": "2026-01-01T00:00:00Z", "clusters": [],
                "stats": {"data_lag_s": 1.5, "candle_interval_s": 60.0}}
        document = EncodedDocument(head=head, json=orjson.dumps({**head, "bands": []}) + b" " * 60,
                                   history={"t_ms": 1, "price": 1.0, "low": 0.9, "width": 0.1,
                                            "values": [1, 2]})
        return SymbolWrites("ex", symbol, [document], book_json=b'{"bids":[],"asks":[]}',
                            history=[document], success_ms=5)

    await redis_client.set("execsvc:status:ex:S3", "not a hash")
    failed = await store.write_refreshes([write(f"S{i}", "1d") for i in range(5)])
    assert set(failed) == {("ex", "S3")} and "WRONGTYPE" in failed[("ex", "S3")]
    assert sum(sent) == 5 and len(sent) >= 3
    for i in (0, 4):
        stored = await store.get_map("ex", f"S{i}", "1d")
        assert stored.version == 1 and stored.document["symbol"] == f"S{i}"
        assert (await store.map_freshness("ex", f"S{i}", "1d")).data_lag_s == 1.5
        assert await store.book_version("ex", f"S{i}") == 1
        assert (await store.history("ex", f"S{i}", "1d"))[0]["values"] == [1, 2]
        assert (await store.status("ex", f"S{i}"))["last_success_ms"] == "5"
    again = await store.write_refreshes([write("S0", "1d")])
    assert again == {} and (await store.get_map("ex", "S0", "1d")).version == 2


@pytest.mark.parametrize("embedded", [False, True])
async def test_health_reads_are_the_single_reads_in_one_round_trip(
        redis_client: Redis, embedded: bool) -> None:
    """What readiness reads in one round trip (a script call) is what the single reads give: maps
    present and missing, a symbol that failed, one that never ran, the live workers; a key
    of the wrong type fails the whole read as the single read fails (a `StoreUnavailable`)."""
    store = BandStore(connect(settings()) if embedded else redis_client)
    worker = MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, settings())
    assert (await worker.tick()).failed == {}
    await store.record_failure("hyperliquid", "ETHUSDT", "model: blew up", 1_000)
    maps = [("hyperliquid", "BTCUSDT", "7d"), ("hyperliquid", "ETHUSDT", "1d"),
            ("ftx", "BTC-PERP", "7d"), ("hyperliquid", "BTCUSDT", "30d"), ("all", "XRP", "1d")]
    symbols = [("hyperliquid", "BTCUSDT"), ("hyperliquid", "ETHUSDT"), ("all", "XRP")]
    await store.health_reads(maps, symbols)  # the script loaded once
    sent = []
    real_execute = store.redis.execute_command

    async def counted(*args, **kwargs):
        sent.append(args[0])
        return await real_execute(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store.redis, "execute_command", counted)
        reads = await store.health_reads(maps, symbols)
    assert sent == ["EVALSHA"], "one round trip"
    assert reads.freshness == {m: await store.map_freshness(*m) for m in maps}
    assert reads.freshness[("hyperliquid", "BTCUSDT", "30d")] is None
    assert reads.freshness[("hyperliquid", "BTCUSDT", "7d")].version == 1
    assert reads.status == {s: await store.status(*s) for s in symbols}
    assert reads.status[("hyperliquid", "ETHUSDT")]["last_error"] == "model: blew up"
    assert reads.status[("all", "XRP")] == {}
    assert reads.live_workers == await store.live_workers() == [worker.worker_id]
    await store.redis.set("execsvc:status:hyperliquid:BTCUSDT", "not a hash")
    with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
        await store.status("hyperliquid", "BTCUSDT")
    with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
        await store.health_reads(maps, symbols)
