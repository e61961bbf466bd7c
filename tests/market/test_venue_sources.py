"""Several venues at once: ccxt's real `bybit`, `okx` and `hyperliquid` clients against local
servers answering their REST paths (`tests/support/venue_servers.py`), built from settings by
`build_market_sources`; one venue timing out while the others answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import numpy as np
import pytest

from execsvc.liqmap.venue_rules import hyperliquid_brackets
from execsvc.market.ccxt_source import _tier_in_quote
from execsvc.market.replay import ReplayClock
from execsvc.market.sources import build_market_sources, configured_venues, venue_base_url
from execsvc.market.types import MarketSource, MarketSourceError
from execsvc.settings import Settings
from tests.support.venue_servers import BybitServer, HyperliquidServer, OkxServer

HOUR_MS = 3_600_000
KEYS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture
def servers() -> Iterator[dict[str, BybitServer | OkxServer | HyperliquidServer]]:
    with BybitServer() as bybit, OkxServer() as okx, HyperliquidServer() as hyperliquid:
        yield {"bybit": bybit, "okx": okx, "hyperliquid": hyperliquid}


def live_settings(servers: dict, **overrides: object) -> Settings:
    options: dict[str, object] = {
        "source": "ccxt", "symbols": KEYS, "exchanges": list(servers), "ccxt_timeout_ms": 2_000,
        "exchange_base_urls": {venue: server.base_url for venue, server in servers.items()}}
    return Settings(_env_file=None, **{**options, **overrides})


async def close_all(sources: dict[str, MarketSource]) -> None:
    await asyncio.gather(*(source.close() for source in sources.values()))


async def test_each_venue_serves_its_own_market_data_through_ccxt(servers: dict) -> None:
    sources = build_market_sources(live_settings(servers), retry_attempts=1)
    try:
        assert list(sources) == ["bybit", "okx", "hyperliquid"]
        now = int(time.time() * 1000)
        for venue, source in sources.items():
            assert isinstance(source, MarketSource) and source.venue == venue
            await source.load()
            infos = source.symbols()
            assert [i.symbol for i in infos] == KEYS and {i.exchange for i in infos} == {venue}
            candles = await source.candles("BTCUSDT", now - 3 * HOUR_MS)
            assert 178 <= len(candles) <= 180 and candles.interval_ms == 60_000
            assert np.all(candles.open_time_ms + 60_000 <= int(time.time() * 1000))
            model = servers[venue].markets["BTCUSDT"]
            last = int(candles.open_time_ms[-1])
            assert candles.close[-1] == pytest.approx(float(model.kline(last, 60_000)[4]))
            book = await source.order_book("BTCUSDT", 50)
            assert book.bids[0][0] < book.asks[0][0]
            # base units everywhere: OKX's books come in contracts of 0.01 BTC
            assert book.bids[0][1] == pytest.approx(float(model.bids[0][1]), rel=1e-3)
            assert await source.mark_price("BTCUSDT") == pytest.approx(
                model.close_at(int(time.time() * 1000)), rel=1e-3)
        assert [i.quote_currency for i in sources["hyperliquid"].symbols()] == ["USDC"] * 2
    finally:
        await close_all(sources)


async def test_the_lot_is_in_base_units_like_the_book_on_a_venue_trading_contracts(
        servers: dict) -> None:
    """OKX sizes orders in contracts (lotSz 0.01 contracts of ctVal 0.01 BTC, 0.1 ETH): the
    book is converted to base units, so the lot must be too (0.0001 BTC, 0.001 ETH), or every
    quantity the service puts on the lot (slices, paper fills, take-profit zones) is off the
    exchange's grid by the contract value."""
    sources = build_market_sources(live_settings(servers), retry_attempts=1)
    try:
        okx = sources["okx"]
        await okx.load()
        for key, lot in (("BTCUSDT", 0.0001), ("ETHUSDT", 0.001)):
            grid = await okx.precision(key)
            assert grid.lot_size == pytest.approx(lot, rel=1e-12), key
            book = await okx.order_book(key, 20)
            assert book.precision is not None
            assert book.precision.lot_size == pytest.approx(lot, rel=1e-12), key
        bybit = await sources["bybit"].precision("BTCUSDT")  # sizes in base: unchanged
        assert bybit.lot_size == pytest.approx(0.001)
    finally:
        await close_all(sources)


async def test_open_interest_history_or_a_polled_sample_in_quote_notional(
        servers: dict) -> None:
    sources = build_market_sources(live_settings(servers), retry_attempts=1)
    try:
        now = int(time.time() * 1000)
        for venue in ("bybit", "okx"):
            oi = await sources[venue].open_interest("BTCUSDT", now - 2 * HOUR_MS)
            assert oi is not None and 23 <= len(oi) <= 25  # 5-minute samples
            assert np.all(np.diff(oi.time_ms) == 300_000)
            model = servers[venue].markets["BTCUSDT"]
            stamp = int(oi.time_ms[-1])
            expected = model.open_interest_at(stamp) * model.close_at(stamp)
            assert oi.oi_quote[-1] == pytest.approx(expected, rel=2e-3)  # Bybit: base x close
        assert not sources["bybit"].oi_is_polled and not sources["okx"].oi_is_polled
        polled = sources["hyperliquid"]
        assert polled.oi_is_polled
        sample = await polled.open_interest("BTCUSDT", now - 2 * HOUR_MS)
        assert sample is not None and len(sample) == 1
        model = servers["hyperliquid"].markets["BTCUSDT"]
        assert int(sample.time_ms[0]) % 60_000 == 0
        assert sample.oi_quote[0] == pytest.approx(
            model.open_interest_at(now) * model.close_at(now), rel=2e-3)
    finally:
        await close_all(sources)


async def test_leverage_tiers_come_from_each_venue_or_its_bundled_table(servers: dict) -> None:
    sources = build_market_sources(live_settings(servers), retry_attempts=1)
    try:
        bybit = await sources["bybit"].leverage_brackets("BTCUSDT")
        assert [(b.mmr, b.max_leverage) for b in bybit] == [(0.005, 100.0), (0.01, 57.14),
                                                             (0.015, 40.0)]
        assert [b.notional_floor for b in bybit] == [0.0, 2e6, 4e6]
        okx = await sources["okx"].leverage_brackets("ETHUSDT")
        assert [(b.mmr, b.max_leverage) for b in okx] == [(0.004, 100.0)]
        assert await sources["hyperliquid"].leverage_brackets("BTCUSDT") == hyperliquid_brackets(
            "BTC")  # Hyperliquid serves no tiers through ccxt: the bundled table
        assert "/api/v5/public/position-tiers" in servers["okx"].paths()
        servers["bybit"].delay_s = 5.0  # tiers unreadable: the stated bundled fallback
        fresh = build_market_sources(live_settings(servers, ccxt_timeout_ms=300),
                                     retry_attempts=1)
        servers["bybit"].delay_s = 0.0
        try:
            await fresh["bybit"].load()
            servers["bybit"].delay_s = 5.0
            fallback = await fresh["bybit"].leverage_brackets("BTCUSDT")
            assert [b.mmr for b in fallback] == [0.005, 0.01, 0.015]  # liqmap.venue_rules
        finally:
            servers["bybit"].delay_s = 0.0
            await close_all(fresh)
    finally:
        await close_all(sources)


def test_okx_tiers_in_contracts_become_quote_notional() -> None:
    tier = {"minNotional": 1000.0, "maxNotional": 2000.0, "maintenanceMarginRate": 0.004}
    converted = _tier_in_quote(tier, 0.01 * 64_000.0)
    assert (converted["minNotional"], converted["maxNotional"]) == (640_000.0, 1_280_000.0)
    assert tier["minNotional"] == 1000.0


async def test_a_timing_out_venue_fails_with_a_reason_while_the_others_answer(
        servers: dict) -> None:
    servers["okx"].delay_s = 3.0
    sources = build_market_sources(live_settings(servers, ccxt_timeout_ms=400),
                                   retry_attempts=1)
    since = int(time.time() * 1000) - HOUR_MS
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(source.candles("BTCUSDT", since) for source in sources.values()),
            return_exceptions=True)
        elapsed = time.monotonic() - started
        outcome = dict(zip(sources, results, strict=True))
        assert isinstance(outcome["okx"], MarketSourceError)
        assert "okx candles BTCUSDT failed" in str(outcome["okx"])
        assert "RequestTimeout" in str(outcome["okx"])
        assert elapsed < 2.5  # the 0.4 s timeout, not the server's 3 s delay
        for venue in ("bybit", "hyperliquid"):
            assert len(outcome[venue]) >= 58
    finally:
        servers["okx"].delay_s = 0.0
        await close_all(sources)


def test_configured_venues_and_base_urls() -> None:
    replay = Settings(_env_file=None)
    assert configured_venues(replay) == ["hyperliquid", "lighter", "ftx"]
    assert configured_venues(Settings(_env_file=None, symbols=["ETHUSDT"])) == [
        "hyperliquid", "lighter"]
    assert configured_venues(Settings(_env_file=None, exchanges="lighter")) == ["lighter"]
    with pytest.raises(MarketSourceError, match="bundled: hyperliquid, lighter, ftx"):
        configured_venues(Settings(_env_file=None, exchanges="okx"))
    with pytest.raises(MarketSourceError, match="records none"):
        configured_venues(Settings(_env_file=None, exchanges="ftx", symbols=["BTCUSDT"]))
    live = Settings(_env_file=None, source="ccxt", exchange_base_url="http://127.0.0.1:9")
    assert configured_venues(live) == ["binanceusdm"]
    assert venue_base_url(live, "binanceusdm") == "http://127.0.0.1:9"
    assert venue_base_url(live, "bybit") is None


async def test_replay_sources_share_one_clock() -> None:
    clock = ReplayClock(720.0, lambda: 1_000.0)
    sources = build_market_sources(Settings(_env_file=None), replay_clock=clock)
    assert list(sources) == ["hyperliquid", "lighter", "ftx"]
    assert [i.symbol for i in sources["ftx"].symbols()] == ["BTC-PERP"]
    assert {i.exchange for i in sources["lighter"].symbols()} == {"lighter"}
    sources["hyperliquid"].advance(5 * HOUR_MS)
    moments = {await sources[v].now_ms("BTCUSDT") for v in ("hyperliquid", "lighter")}
    assert len(moments) == 1
    assert sources["lighter"].elapsed_ms() >= 5 * HOUR_MS


async def test_the_live_like_configuration_of_four_venues(servers: dict, binance_stub) -> None:
    """Binance USD-M (its stub), Bybit, OKX and Hyperliquid, configured as in the README: each
    venue answers with its own candles, open interest, tiers and mark for the same keys."""
    urls = {"binanceusdm": binance_stub.base_url,
            **{venue: server.base_url for venue, server in servers.items()}}
    config = Settings(_env_file=None, source="ccxt", symbols=KEYS,
                      exchanges="binanceusdm,bybit,okx,hyperliquid", exchange_base_urls=urls)
    sources = build_market_sources(config, retry_attempts=1)
    since = int(time.time() * 1000) - HOUR_MS
    try:
        assert list(sources) == ["binanceusdm", "bybit", "okx", "hyperliquid"]
        for venue, source in sources.items():
            candles = await source.candles("ETHUSDT", since)
            oi = await source.open_interest("ETHUSDT", since)
            brackets = await source.leverage_brackets("ETHUSDT")
            mark = await source.mark_price("ETHUSDT")
            assert len(candles) >= 58 and oi is not None and len(oi) >= 1, venue
            assert brackets and mark > 0 and source.symbols()[1].exchange == venue
        assert "/fapi/v1/klines" in [r.path for r in binance_stub.requests]
    finally:
        await close_all(sources)
