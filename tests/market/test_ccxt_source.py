"""`CcxtSource` against the local Binance USD-M stub: a real async ccxt client over real HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import ccxt
import numpy as np
import pytest
from pydantic import SecretStr

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.market.ccxt_source import CcxtSource
from execsvc.market.types import MarketSource, MarketSourceError
from execsvc.runtime import ccxt_source
from execsvc.settings import Settings
from tests.support.binance_stub import MINUTE_MS, BinanceStub

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

SourceFactory = Callable[..., CcxtSource]


@pytest.fixture
async def make_source(binance_stub: BinanceStub) -> AsyncIterator[SourceFactory]:
    """Builds sources pointed at the stub (fast retries, short timeouts); closes them after."""
    sources: list[CcxtSource] = []

    def make(keys: bool = False, cls: type[CcxtSource] = CcxtSource, **kwargs: Any) -> CcxtSource:
        symbols = kwargs.pop("symbols", ["BTCUSDT", "ETHUSDT"])
        options: dict[str, Any] = {
            "base_url": binance_stub.base_url, "timeout_ms": 2_000,
            "retry_attempts": 3, "retry_wait_s": 0.01, "retry_max_wait_s": 0.05,
        }
        if keys:
            options["api_key"] = SecretStr(binance_stub.api_key)
            options["secret"] = SecretStr(binance_stub.secret)
        options.update(kwargs)
        source = cls(symbols, **options)
        sources.append(source)
        return source

    yield make
    for source in sources:
        await source.close()


def _paths(stub: BinanceStub) -> list[str]:
    return [r.path for r in stub.requests]


async def test_implements_the_protocol_and_loads_linear_markets_only(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source(keys=True, symbols=["BTCUSDT", "ETHUSDT", "BTC-PERP"])
    assert isinstance(source, MarketSource)
    assert [i.symbol for i in source.symbols()] == ["BTCUSDT", "ETHUSDT", "BTC-PERP"]
    await source.load()
    infos = source.symbols()
    assert [(i.symbol, i.exchange, i.quote_currency) for i in infos] == [
        ("BTCUSDT", "binanceusdm", "USDT"), ("ETHUSDT", "binanceusdm", "USDT"),
    ]
    assert all(i.has_open_interest for i in infos)
    # Only the USD-M exchangeInfo: no spot, COIN-M or signed sapi currency calls, even with keys.
    assert _paths(binance_stub) == ["/fapi/v1/exchangeInfo"]


async def test_candles_paginate_and_carry_taker_buy_volume(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source()
    now = await source.now_ms("BTCUSDT")
    since = now - 26 * HOUR_MS
    candles = await source.candles("BTCUSDT", since)

    calls = binance_stub.requests_to("/fapi/v1/klines")
    assert len(calls) == 2
    assert calls[0].query == {"symbol": "BTCUSDT", "interval": "1m", "startTime": str(since),
                              "limit": "1500"}
    first_page_last_open = -(-since // MINUTE_MS) * MINUTE_MS + 1499 * MINUTE_MS
    assert calls[1].query["startTime"] == str(first_page_last_open + MINUTE_MS)

    times = candles.open_time_ms
    assert candles.interval_ms == MINUTE_MS
    assert len(candles) == (times[-1] - times[0]) // MINUTE_MS + 1 > 1500
    assert np.all(np.diff(times) == MINUTE_MS)
    assert times[0] >= since and times[-1] + MINUTE_MS <= time.time() * 1000  # closed only
    assert candles.close.dtype == np.float64 and candles.taker_buy_volume.dtype == np.float64

    market = binance_stub.markets["BTCUSDT"]
    expected = np.array([float(market.kline(int(t), MINUTE_MS)[9]) for t in times])
    np.testing.assert_array_equal(candles.taker_buy_volume, expected)
    assert np.all(candles.taker_buy_volume <= candles.volume)
    expected_close = np.array([float(market.kline(int(t), MINUTE_MS)[4]) for t in times])
    np.testing.assert_array_equal(candles.close, expected_close)


async def test_candles_without_binance_klines_use_fetch_ohlcv_with_nan_taker_split(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    class UnifiedOnly(CcxtSource):
        def _uses_binance_klines(self, market: dict[str, Any]) -> bool:
            return False

    source = make_source(cls=UnifiedOnly)
    now = await source.now_ms("BTCUSDT")
    candles = await source.candles("BTCUSDT", now - HOUR_MS)
    assert 59 <= len(candles) <= 60
    assert np.all(np.isnan(candles.taker_buy_volume))
    assert np.all(candles.volume > 0)


async def test_open_interest_history_is_quote_notional(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source()
    now = await source.now_ms("BTCUSDT")
    oi = await source.open_interest("BTCUSDT", now - 3 * DAY_MS)
    assert oi is not None

    calls = binance_stub.requests_to("/futures/data/openInterestHist")
    assert len(calls) == 2  # 864 five-minute samples, 500 per page
    assert all(c.query["period"] == "5m" and c.query["limit"] == "500" for c in calls)
    assert len(oi) in (864, 865)
    assert np.all(np.diff(oi.time_ms) == 5 * MINUTE_MS)

    market = binance_stub.markets["BTCUSDT"]
    expected = [market.open_interest_at(int(t)) * market.close_at(int(t)) for t in oi.time_ms]
    np.testing.assert_allclose(oi.oi_quote, expected, rtol=1e-9)
    assert 3e9 < float(oi.oi_quote.mean()) < 8e9  # ~82k BTC at ~64k USDT


async def test_open_interest_asks_no_more_than_30_days(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source(timeframe="1h")
    now = await source.now_ms("BTCUSDT")
    oi = await source.open_interest("BTCUSDT", now - 90 * DAY_MS)
    assert oi is not None and 710 <= len(oi) <= 720
    calls = binance_stub.requests_to("/futures/data/openInterestHist")
    assert int(calls[0].query["startTime"]) > now - 30 * DAY_MS
    assert {c.query["period"] for c in calls} == {"1h"}


@pytest.mark.parametrize(("timeframe", "period"), [("1m", "5m"), ("15m", "15m"), ("8h", "6h")])
async def test_open_interest_period_follows_the_timeframe(
    binance_stub: BinanceStub,
    make_source: SourceFactory,
    timeframe: str,
    period: str,
) -> None:
    source = make_source(timeframe=timeframe)
    await source.open_interest("ETHUSDT", await source.now_ms("ETHUSDT") - DAY_MS)
    assert binance_stub.requests_to("/futures/data/openInterestHist")[0].query["period"] == period


async def test_order_book_is_ordered_and_trimmed(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source()
    book = await source.order_book("BTCUSDT", 60)
    # 60 is not a depth Binance accepts: the next one up is asked for and trimmed.
    assert binance_stub.requests_to("/fapi/v1/depth")[0].query == {"symbol": "BTCUSDT",
                                                                     "limit": "100"}
    assert book.bids.shape == (60, 2) and book.asks.shape == (60, 2)
    assert book.bids.dtype == np.float64
    assert np.all(np.diff(book.bids[:, 0]) < 0) and np.all(np.diff(book.asks[:, 0]) > 0)
    assert book.bids[0, 0] < book.asks[0, 0]
    fixture_bids = binance_stub.markets["BTCUSDT"].bids
    assert book.bids[0].tolist() == [float(fixture_bids[0][0]), float(fixture_bids[0][1])]
    assert book.source == "binanceusdm:rest"
    assert abs(book.timestamp_ms - time.time() * 1000) < 60_000


async def test_mark_price_comes_from_premium_index(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    binance_stub.markets["ETHUSDT"].mark_price = 3456.78
    source = make_source()
    assert await source.mark_price("ETHUSDT") == pytest.approx(3456.78)
    assert binance_stub.requests_to("/fapi/v1/premiumIndex")[0].query == {"symbol": "ETHUSDT"}


async def test_brackets_with_keys_come_from_the_signed_endpoint(
    binance_stub: BinanceStub,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Make the exchange's cum differ from the continuity rule to see which one is used.
    btc = next(e for e in binance_stub.leverage_brackets if e["symbol"] == "BTCUSDT")
    for bracket in btc["brackets"]:
        bracket["cum"] += 1.5
    source = make_source(keys=True)

    brackets = await source.leverage_brackets("BTCUSDT")
    again = await source.leverage_brackets("BTCUSDT")

    assert again is brackets  # cached: one signed request
    (call,) = binance_stub.requests_to("/fapi/v1/leverageBracket")
    assert call.headers["x-mbx-apikey"] == binance_stub.api_key
    assert {"timestamp", "signature"} <= call.query.keys()
    assert binance_stub.signature_error(call) is None  # the stub verified the HMAC too
    assert [b.mmr for b in brackets] == [float(b["maintMarginRatio"]) for b in btc["brackets"]]
    assert [b.cum for b in brackets] == [b["cum"] for b in btc["brackets"]]
    assert [b.notional_cap for b in brackets][-1] == btc["brackets"][-1]["notionalCap"]

    secret = binance_stub.secret
    assert all(secret not in r.query_string + r.body + str(r.headers)
               for r in binance_stub.requests)
    assert binance_stub.api_key not in caplog.text  # ccxt's debug log of headers is redacted
    assert secret not in caplog.text


async def test_signed_errors_never_leak_the_keys(
    binance_stub: BinanceStub,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    binance_stub.fail_with_status(times=1, status=503, path="/fapi/v1/leverageBracket")
    binance_stub.exchange_error(code=-2015, msg="Invalid API-key, IP, or permissions for action.",
                                status=401, path="/fapi/v1/leverageBracket")
    source = make_source(keys=True)
    with pytest.raises(MarketSourceError) as caught:
        await source.leverage_brackets("ETHUSDT")
    text = f"{caught.value} {caught.value.__cause__!r} {caplog.text}"
    assert "ETHUSDT" in str(caught.value) and "leverage_brackets" in str(caught.value)
    assert isinstance(caught.value.__cause__, ccxt.AuthenticationError)
    assert binance_stub.secret not in text and binance_stub.api_key not in text


async def test_brackets_without_keys_use_the_bundled_table(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source()
    assert await source.leverage_brackets("ETHUSDT") == BINANCE_USDM_BRACKETS["ETHUSDT"]
    assert binance_stub.requests_to("/fapi/v1/leverageBracket") == []


async def test_brackets_without_keys_or_table_say_keys_are_needed(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    listed = dict(binance_stub.exchange_info["symbols"][1], symbol="SOLUSDT", baseAsset="SOL")
    binance_stub.exchange_info["symbols"].append(listed)
    source = make_source(symbols=["SOLUSDT"])
    with pytest.raises(MarketSourceError, match=r"SOLUSDT.*EXECSVC_EXCHANGE_API_KEY"):
        await source.leverage_brackets("SOLUSDT")


async def test_transient_503s_are_retried(
    binance_stub: BinanceStub,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    binance_stub.fail_with_status(times=2, status=503, path="/fapi/v1/premiumIndex")
    source = make_source()
    assert await source.mark_price("BTCUSDT") > 0
    assert len(binance_stub.requests_to("/fapi/v1/premiumIndex")) == 3
    assert "mark_price BTCUSDT failed: ExchangeNotAvailable" in caplog.text


async def test_a_failed_klines_request_is_retried(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source()
    await source.load()
    binance_stub.fail_with_status(times=1, status=502, path="/fapi/v1/klines")
    candles = await source.candles("BTCUSDT", await source.now_ms("BTCUSDT") - 2 * HOUR_MS)
    assert 119 <= len(candles) <= 120
    assert len(binance_stub.requests_to("/fapi/v1/klines")) == 2


async def test_exchange_errors_are_not_retried(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    binance_stub.exchange_error(code=-1121, msg="Invalid symbol.", path="/fapi/v1/depth")
    source = make_source()
    with pytest.raises(MarketSourceError) as caught:
        await source.order_book("BTCUSDT", 20)
    message = str(caught.value)
    assert "BTCUSDT" in message and "order_book" in message and "Invalid symbol." in message
    assert isinstance(caught.value.__cause__, ccxt.BadSymbol)
    assert len(binance_stub.requests_to("/fapi/v1/depth")) == 1


async def test_unknown_symbol_is_refused_before_any_data_request(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source()
    with pytest.raises(MarketSourceError, match=r"candles DOGEUSDT failed: unknown symbol"):
        await source.candles("DOGEUSDT", 0)
    assert _paths(binance_stub) == ["/fapi/v1/exchangeInfo"]


async def test_timeouts_are_bounded(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    source = make_source(timeout_ms=200)
    await source.load()
    binance_stub.delay(seconds=3.0, times=None, path="/fapi/v1/premiumIndex")
    started = time.monotonic()
    with pytest.raises(MarketSourceError, match=r"mark_price BTCUSDT failed: RequestTimeout"):
        await source.mark_price("BTCUSDT")
    assert time.monotonic() - started < 1.5  # 3 attempts of 0.2 s plus short waits
    assert len(binance_stub.requests_to("/fapi/v1/premiumIndex")) == 3


async def test_failed_market_load_names_the_operation(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    binance_stub.fail_with_status(times=None, status=503, path="/fapi/v1/exchangeInfo")
    source = make_source()
    with pytest.raises(MarketSourceError, match=r"mark_price BTCUSDT failed while loading markets"):
        await source.mark_price("BTCUSDT")
    assert len(binance_stub.requests_to("/fapi/v1/exchangeInfo")) == 3


async def test_from_settings(binance_stub: BinanceStub) -> None:
    settings = Settings(
        symbols="ethusdt", ccxt_timeframe="5m", ccxt_timeout_ms=1_500,
        exchange_api_key=SecretStr(binance_stub.api_key),
        exchange_secret=SecretStr(binance_stub.secret),
    )
    source = ccxt_source(settings, base_url=binance_stub.base_url)
    try:
        assert [i.symbol for i in source.symbols()] == ["ETHUSDT"]
        assert len(await source.leverage_brackets("ETHUSDT")) == 10
        now = await source.now_ms("ETHUSDT")
        candles = await source.candles("ETHUSDT", now - 2 * HOUR_MS)
        assert candles.interval_ms == 5 * MINUTE_MS
    finally:
        await source.close()


def test_keys_must_come_in_pairs() -> None:
    with pytest.raises(MarketSourceError, match="together"):
        CcxtSource(["BTCUSDT"], api_key=SecretStr("k"))


def test_unknown_exchange_or_timeframe_is_refused() -> None:
    with pytest.raises(MarketSourceError, match="no exchange"):
        CcxtSource(["BTCUSDT"], exchange_id="nosuchexchange")
    with pytest.raises(MarketSourceError, match="timeframe"):
        CcxtSource(["BTCUSDT"], timeframe="7m")


async def test_precision_is_the_markets_tick_and_lot_and_the_book_carries_it(
    binance_stub: BinanceStub, make_source: SourceFactory
) -> None:
    """The recorded exchangeInfo's PRICE_FILTER tickSize 0.01 and LOT_SIZE stepSize 0.001."""
    source = make_source(symbols=["BTCUSDT", "ETHUSDT"])
    btc = await source.precision("BTCUSDT")
    assert (btc.tick_size, btc.lot_size, btc.source) == (0.01, 0.001, "exchange markets")
    book = await source.order_book("BTCUSDT", 50)
    assert book.precision == btc
    assert all(btc.on_price_grid(p) and btc.on_lot_grid(q) for p, q in book.asks)
    with pytest.raises(MarketSourceError, match="precision DOGEUSDT"):
        await source.precision("DOGEUSDT")
