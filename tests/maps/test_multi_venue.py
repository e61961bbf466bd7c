"""The worker over several venues, on a real redis-server: each venue's maps stored under the
venue, their sum under `all` with every venue named; a failing or stale venue is dropped from
the sum with its reason and never stops the others."""

from __future__ import annotations

import statistics

import orjson
import pytest
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.venues import assert_shares_add_up, venues

WINDOWS = ("1d", "7d")


def settings(symbols: str = "BTCUSDT") -> Settings:
    return Settings(_env_file=None, symbols=symbols, windows=",".join(WINDOWS),
                    max_map_age_s=30)


async def test_each_venue_and_their_sum_are_stored(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    worker = MapWorker(venues("binanceusdm", "bybit", symbols=["BTCUSDT", "ETHUSDT"]), store,
                       settings("BTCUSDT,ETHUSDT"))
    report = await worker.tick()
    assert report.failed == {}
    assert report.built == 2 * 2 * 2 + 2 * 2  # venue maps, then the sums
    for window in WINDOWS:
        own = {v: (await store.get_map(v, "BTCUSDT", window)).document
               for v in ("binanceusdm", "bybit")}
        assert {d["exchange"] for d in own.values()} == {"binanceusdm", "bybit"}
        assert own["binanceusdm"]["price"] != own["bybit"]["price"], "venues of their own"
        summed = (await store.get_map("all", "BTCUSDT", window)).document
        assert summed["exchange"] == "all" and summed["stats_exchange"] == "binanceusdm"
        assert summed["price"] == pytest.approx(
            statistics.median(d["price"] for d in own.values()), rel=1e-6)
        assert [v["exchange"] for v in summed["venues"]] == ["binanceusdm", "bybit"]
        assert all(v["included"] and not v["stale"] and v["reason"] is None
                   for v in summed["venues"])
        assert summed["dropped"] == []
        for venue in summed["venues"]:  # each venue's whole map is in the sum
            document = own[venue["exchange"]]
            assert venue["long_notional_quote"] + venue["short_notional_quote"] == (
                pytest.approx(document["totals"]["long_notional_quote"]
                              + document["totals"]["short_notional_quote"], rel=1e-6))
            assert venue["data_lag_s"] == document["stats"]["data_lag_s"]
        assert_shares_add_up(summed)
        assert len(await store.history("all", "BTCUSDT", window)) == 1
    registry = await store.symbol_registry()
    assert registry["BTCUSDT"]["exchanges"] == ["binanceusdm", "bybit"]
    assert registry["BTCUSDT"]["default_map"] == "all"
    assert registry["BTCUSDT"]["exchange"] == "binanceusdm"
    assert await store.get_book("binanceusdm", "BTCUSDT") is not None
    assert await store.get_book("bybit", "BTCUSDT") is not None


async def test_a_failing_venue_is_dropped_and_named(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    worker = MapWorker(venues("binanceusdm", "okx", "bybit"), store, settings())
    report = await worker.tick()
    assert set(report.failed) == {"okx:BTCUSDT"}
    assert "venue unreachable" in report.failed["okx:BTCUSDT"]
    assert await store.get_map("okx", "BTCUSDT", "7d") is None
    summed = (await store.get_map("all", "BTCUSDT", "7d")).document
    okx = summed["venues"][1]
    assert okx["exchange"] == "okx" and not okx["included"] and okx["stale"]
    assert okx["reason"].startswith("source: ") and "venue unreachable" in okx["reason"]
    assert okx["long_notional_quote"] is None and okx["data_lag_s"] is None
    assert summed["dropped"] == [{"exchange": "okx", "reason": okx["reason"]}]
    assert list(summed["notional_by_venue_quote"]) == ["binanceusdm", "bybit"]
    assert_shares_add_up(summed)
    assert (await store.status("okx", "BTCUSDT"))["consecutive_failures"] == "1"
    assert (await store.status("all", "BTCUSDT"))["consecutive_failures"] == "0"


async def test_a_stale_venue_is_dropped_but_its_own_map_is_stored(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    worker = MapWorker(venues("lagging", "binanceusdm"), store, settings())
    assert (await worker.tick()).failed == {}
    own = (await store.get_map("lagging", "BTCUSDT", "7d")).document
    assert own["stats"]["data_lag_s"] > 3 * 3600
    summed = (await store.get_map("all", "BTCUSDT", "7d")).document
    lagging = summed["venues"][0]
    assert not lagging["included"] and lagging["stale"] and lagging["reason"] == "data_stale"
    assert lagging["data_lag_s"] == own["stats"]["data_lag_s"]
    assert summed["stats_exchange"] == "binanceusdm"
    binance = (await store.get_map("binanceusdm", "BTCUSDT", "7d")).document
    assert summed["price"] == binance["price"], "the sum of one venue is that venue's map"
    assert summed["totals"]["long_notional_quote"] == pytest.approx(
        binance["totals"]["long_notional_quote"], abs=0.01)


async def test_no_venue_left_is_a_failure_of_the_sum(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    worker = MapWorker(venues("okx", "lagging"), store, settings())
    report = await worker.tick()
    assert set(report.failed) == {"okx:BTCUSDT", "all:BTCUSDT"}
    assert "no venue to sum" in report.failed["all:BTCUSDT"]
    assert "okx: source:" in report.failed["all:BTCUSDT"]
    assert "lagging: data_stale" in report.failed["all:BTCUSDT"]
    assert await store.get_map("all", "BTCUSDT", "7d") is None
    assert await store.get_map("lagging", "BTCUSDT", "7d") is not None
    assert (await store.status("all", "BTCUSDT"))["consecutive_failures"] == "1"


async def test_each_venue_is_mapped_with_its_own_liquidation_formula(redis_client: Redis) -> None:
    store = BandStore(redis_client)
    worker = MapWorker(venues("binanceusdm", "bybit"), store, settings())
    assert (await worker.tick()).failed == {}
    formulas = {v: (await store.get_map(v, "BTCUSDT", "7d")).document["assumptions"]
                ["liquidation_formula"] for v in ("binanceusdm", "bybit")}
    assert formulas == {"binanceusdm": "binance", "bybit": "bybit"}


@pytest.mark.parametrize("exchange", ["binanceusdm", "bybit", "all"])
async def test_execsvc_map_prints_the_bytes_the_worker_stores(redis_client: Redis,
                                                              exchange: str) -> None:
    """`execsvc map --exchange <venue>` and the worker build a venue's maps through the same
    `build_venue` (the venue's own liquidation formula) and sum them alike: the same market
    data gives the same document, byte for byte (Bybit's maps use Bybit's formula)."""
    from execsvc.cli.map_table import encode_document

    store = BandStore(redis_client)
    worker_settings = settings()
    worker = MapWorker(venues("binanceusdm", "bybit"), store, worker_settings)
    assert (await worker.tick()).failed == {}
    for window in WINDOWS:
        stored = await redis_client.hget(f"execsvc:map:{exchange}:BTCUSDT:{window}", "doc")
        printed = await encode_document(venues("binanceusdm", "bybit"), worker_settings,
                                        "BTCUSDT", window, exchange)
        assert printed.json == stored
    formula = orjson.loads(stored)["assumptions"]["liquidation_formula"]
    assert formula == {"binanceusdm": "binance", "bybit": "bybit", "all": "binance"}[exchange]
