"""`CcxtSource`: live market data through async ccxt (default exchange `binanceusdm`).

Symbol keys are exchange market ids (`BTCUSDT`); they map to ccxt unified symbols
(`BTC/USDT:USDT`) through the loaded markets. Times are epoch milliseconds (UTC), prices quote
currency per base unit, quantities base units, open interest quote notional.

Binance specifics, used when the exchange has them (`binanceusdm`, `binance`):

- candles come from the raw klines endpoint (`fapiPublicGetKlines`), which carries the taker
  buy base volume that ccxt's parsed OHLCV drops; other exchanges use `fetch_ohlcv` and report
  `taker_buy_volume` as NaN;
- only linear markets are loaded, and Binance keeps 30 days of open-interest history, so no
  exchange is asked for more;
- order-book depth is rounded up to a limit Binance accepts (5, 10, 20, 50, 100, 500, 1000).

Every request goes through ccxt (so its rate limiter and URL overrides apply) and is retried
with exponential backoff on `ccxt.NetworkError` only (timeouts, 5xx, rate limits); exchange
errors are not retried. Any failure surfaces as `MarketSourceError` naming the exchange, the
operation and the symbol, chained to the original exception. API keys are optional, are never
logged (ccxt's own debug log of request headers is redacted) and never appear in errors.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import ccxt
import numpy as np
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
)

from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import Bracket, brackets_from_floors, bundled_table
from execsvc.domain.units import MarketPrecision
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.venue_rules import venue_brackets
from execsvc.market.ccxt_client import (
    BINANCE_FAMILY,
    build_exchange_client,
    network_retrying,
    redacting_logger,
)
from execsvc.market.precision import PrecisionError, contract_size, precision_from_ccxt
from execsvc.market.types import MarketSourceError, OpenInterest, SymbolInfo
from execsvc.market.venue_symbols import split_key

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_EXCHANGE = "binanceusdm"
KLINES_PAGE_LIMIT = 1500
OI_PAGE_LIMIT = 500
OI_HISTORY_MS = 30 * 86_400_000
OI_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
BINANCE_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
BRACKET_CACHE_S = 3600.0
MAX_PAGES = 1000
VENUE_OI_PERIODS = {"bybit": ("5m", "15m", "30m", "1h", "4h", "1d"), "okx": ("5m", "1h", "1d")}
"""Open-interest periods each venue serves (ccxt timeframes); others: `OI_PERIODS`."""
VENUE_OI_PAGE_LIMITS = {"bybit": 200, "okx": 100}
"""Open-interest samples one request returns at most (ccxt's docs of each venue)."""
TIERS_IN_CONTRACTS = frozenset({"okx"})
"""Venues whose ccxt tiers give `minNotional`/`maxNotional` in contracts, not quote."""
VENUE_DEPTH_LIMITS = {"bybit": 500, "okx": 400}
"""Deepest book one REST request returns (linear perpetuals)."""


class CcxtSource:
    """A `MarketSource` reading one exchange live through async ccxt.

    `symbols` are the configured symbol keys (exchange ids such as `BTCUSDT`). `timeframe` is a
    ccxt timeframe (`1m`, `5m`, ...), `timeout_ms` the per-request HTTP timeout in ms. Keys are
    only needed for the signed leverage-bracket endpoint. `base_url` replaces the origin
    `https://fapi.binance.com` of every Binance USD-M REST endpoint (tests point it at a local
    server); `urls_override` sets individual `exchange.urls['api']` entries. A failing request
    is tried `retry_attempts` times in all, waiting `retry_wait_s * 2**k` seconds (at most
    `retry_max_wait_s`) in between, so one call takes at most about
    `retry_attempts * timeout_ms / 1000 + waits` seconds. `clock` returns seconds (wall time).
    `symbol_map` maps service keys to ccxt unified symbols (`market.venue_symbols`); without
    it a symbol key is the exchange's market id (`BTCUSDT` on Binance).
    """

    name = "ccxt"

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        exchange_id: str = DEFAULT_EXCHANGE,
        timeframe: str = "1m",
        timeout_ms: int = 10_000,
        api_key: SecretStr | None = None,
        secret: SecretStr | None = None,
        base_url: str | None = None,
        urls_override: Mapping[str, str] | None = None,
        retry_attempts: int = 4,
        retry_wait_s: float = 0.5,
        retry_max_wait_s: float = 8.0,
        clock: Callable[[], float] = time.time,
        symbol_map: Mapping[str, str] | None = None,
    ) -> None:
        if (api_key is None) != (secret is None):
            raise MarketSourceError("an exchange API key and secret must be given together")
        self._symbols = [s.upper() for s in symbols]
        self._symbol_map = {k.upper(): v for k, v in (symbol_map or {}).items()}
        self._exchange_id = exchange_id
        self._timeframe = timeframe
        self._has_keys = api_key is not None
        self._retry_attempts = max(1, retry_attempts)
        self._retry_wait_s = retry_wait_s
        self._retry_max_wait_s = retry_max_wait_s
        self._clock = clock
        self._log = redacting_logger(log, [api_key, secret])
        self._exchange = build_exchange_client(
            exchange_id, timeout_ms=timeout_ms, api_key=api_key, secret=secret, logger=self._log,
            base_url=base_url, urls_override=urls_override,
        )
        if timeframe not in (self._exchange.timeframes or {}):
            raise MarketSourceError(f"{exchange_id} does not offer the timeframe {timeframe!r}")
        self._interval_ms = int(self._exchange.parse_timeframe(timeframe) * 1000)
        self._markets_lock = asyncio.Lock()
        self._markets_loaded = False
        self._brackets: dict[str, tuple[float, list[Bracket]]] = {}

    @property
    def exchange_id(self) -> str:
        return self._exchange_id

    @property
    def venue(self) -> str:
        """The venue id (the ccxt exchange id) this source reads."""
        return self._exchange_id

    @property
    def oi_is_polled(self) -> bool:
        """True when the venue reports open interest only as the present value (ccxt
        `fetchOpenInterest` without `fetchOpenInterestHistory`: Hyperliquid)."""
        has = self._exchange.has
        return bool(has.get("fetchOpenInterest") and not has.get("fetchOpenInterestHistory"))

    @property
    def _is_binance(self) -> bool:
        return self._exchange_id in BINANCE_FAMILY

    # ---- MarketSource -------------------------------------------------------------------------

    def symbols(self) -> list[SymbolInfo]:
        """The configured symbols; once markets are loaded (`load()` or any data call), only
        those the exchange lists, with their quote currency."""
        infos = []
        for symbol in self._symbols:
            market = self._find_market(symbol) if self._markets_loaded else None
            if self._markets_loaded and market is None:
                continue
            quote = market["quote"] if market is not None else _guess_quote(symbol)
            has_oi = bool(self._exchange.has.get("fetchOpenInterestHistory")
                          or self._exchange.has.get("fetchOpenInterest"))
            infos.append(SymbolInfo(symbol, self._exchange_id, quote, has_oi))
        return infos

    async def load(self) -> None:
        """Load the exchange's markets; warns about configured symbols it does not list."""
        await self._guard("load_markets", ",".join(self._symbols), self._ensure_markets())
        for symbol in self._symbols:
            if self._find_market(symbol) is None:
                self._log.warning("%s lists no market %s; it is skipped", self._exchange_id, symbol)

    async def candles(self, symbol: str, since_ms: int) -> Candles:
        """Closed candles from `since_ms` (open time, ms) to now, oldest first; volumes in base
        units, `taker_buy_volume` NaN unless the exchange reports it (Binance does)."""
        return await self._guard("candles", symbol, self._candles(symbol, since_ms))

    async def open_interest(self, symbol: str, since_ms: int) -> OpenInterest | None:
        """Open-interest history (quote notional) from `since_ms`, at most the last 30 days, at
        the supported period closest to the timeframe; None if the exchange has none."""
        return await self._guard("open_interest", symbol, self._open_interest(symbol, since_ms))

    async def order_book(self, symbol: str, depth: int) -> OrderBook:
        """The top `depth` levels each side: bids descending, asks ascending, (price, base)."""
        return await self._guard("order_book", symbol, self._order_book(symbol, depth))

    async def leverage_brackets(self, symbol: str) -> list[Bracket]:
        """Maintenance brackets (quote notional, rate as a fraction, cum in quote), cached for
        an hour: from the exchange with keys, else Binance's bundled table."""
        return await self._guard("leverage_brackets", symbol, self._leverage_brackets(symbol))

    async def mark_price(self, symbol: str) -> float:
        """The exchange's mark price (quote per base)."""
        return await self._guard("mark_price", symbol, self._mark_price(symbol))

    async def precision(self, symbol: str) -> MarketPrecision:
        """Tick and lot step of the loaded ccxt market (`market.precision`)."""
        return await self._guard("precision", symbol, self._precision(symbol))

    async def now_ms(self, symbol: str) -> int:
        """Wall-clock time in ms (live data)."""
        return self._now_ms()

    async def close(self) -> None:
        """Close the ccxt client's HTTP session."""
        await self._exchange.close()

    # ---- plumbing -----------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _reason(self, operation: str, symbol: str, exc: BaseException, stage: str = "") -> str:
        """`<exchange> <operation> <symbol> failed[ <stage>]: <error type>: <redacted text>`."""
        detail = self._log.redact(str(exc)) or "no detail"
        where = f" {stage}" if stage else ""
        return (f"{self._exchange_id} {operation} {symbol} failed{where}: "
                f"{type(exc).__name__}: {detail}")

    async def _guard(self, operation: str, symbol: str, work: Awaitable[T]) -> T:
        """Await `work`, turning any failure into a `MarketSourceError` naming the call."""
        try:
            return await work
        except MarketSourceError:
            raise
        except Exception as exc:
            raise MarketSourceError(self._reason(operation, symbol, exc)) from exc

    async def _request(
        self, operation: str, symbol: str, call: Callable[..., Awaitable[T]], *args: Any
    ) -> T:
        """One ccxt call, retried with exponential backoff on `ccxt.NetworkError` only."""
        retrying = network_retrying(self._retry_attempts, self._retry_wait_s,
                                    self._retry_max_wait_s, self._log_retry(operation, symbol))

        async def attempt() -> T:
            # ccxt's implicit API methods are plain functions returning a coroutine, which
            # tenacity would not await: wrap every call in a real coroutine function.
            return await call(*args)

        return await retrying(attempt)

    def _log_retry(self, operation: str, symbol: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            wait_s = state.next_action.sleep if state.next_action is not None else 0.0
            self._log.warning(
                "%s; attempt %d of %d, retrying in %.2f s",
                self._reason(operation, symbol, exc) if exc else operation,
                state.attempt_number, self._retry_attempts, wait_s,
            )

        return before_sleep

    async def _ensure_markets(self) -> None:
        if self._markets_loaded:
            return
        async with self._markets_lock:
            if not self._markets_loaded:
                await self._request("load_markets", ",".join(self._symbols),
                                    self._exchange.load_markets)
                self._markets_loaded = True

    def _find_market(self, symbol: str) -> dict[str, Any] | None:
        """The loaded market of service key `symbol`: its unified symbol's when mapped, else
        the market with exchange id `symbol` (ccxt keeps a list per id)."""
        unified = self._symbol_map.get(symbol)
        if unified is not None:
            return (self._exchange.markets or {}).get(unified)
        found = (self._exchange.markets_by_id or {}).get(symbol)
        if isinstance(found, list):
            return found[0] if found else None
        return found

    async def _market(self, symbol: str, operation: str) -> dict[str, Any]:
        try:
            await self._ensure_markets()
        except ccxt.BaseError as exc:
            stage = "while loading markets"
            raise MarketSourceError(self._reason(operation, symbol, exc, stage)) from exc
        market = self._find_market(symbol)
        if market is None:
            raise MarketSourceError(
                f"{self._exchange_id} {operation} {symbol} failed: unknown symbol, the exchange "
                f"lists no market with id {symbol!r} (symbol keys are exchange ids like BTCUSDT)"
            )
        return market

    async def _paginate(
        self,
        fetch_page: Callable[[int], Awaitable[list[T]]],
        time_of: Callable[[T], int],
        since_ms: int,
        until_ms: int,
        step_ms: int,
        page_limit: int,
    ) -> list[T]:
        """Rows from `since_ms` on, page after page, until a short page or `until_ms`."""
        rows: list[T] = []
        cursor = since_ms
        for _ in range(MAX_PAGES):
            if cursor > until_ms:
                break
            page = await fetch_page(cursor)
            rows.extend(page)
            if len(page) < page_limit:
                break
            next_cursor = time_of(page[-1]) + step_ms
            if next_cursor <= cursor:
                break
            cursor = next_cursor
        return rows

    # ---- candles ------------------------------------------------------------------------------

    async def _candles(self, symbol: str, since_ms: int) -> Candles:
        market = await self._market(symbol, "candles")
        now = self._now_ms()
        if self._uses_binance_klines(market):
            rows = await self._binance_klines(symbol, market, since_ms, now)
        else:
            rows = await self._unified_ohlcv(symbol, market, since_ms, now)
        return _candles_from_rows(rows, self._interval_ms, now)

    def _uses_binance_klines(self, market: dict[str, Any]) -> bool:
        """Whether candles come from Binance's raw USD-M klines (with the taker split)."""
        return hasattr(self._exchange, "fapiPublicGetKlines") and bool(market.get("linear"))

    async def _binance_klines(
        self, symbol: str, market: dict[str, Any], since_ms: int, now_ms: int
    ) -> list[list[Any]]:
        """Raw Binance klines (12 columns, column 9 the taker buy base volume)."""
        interval = self._exchange.timeframes[self._timeframe]

        async def page(cursor: int) -> list[list[Any]]:
            request = {"symbol": market["id"], "interval": interval, "startTime": cursor,
                       "limit": KLINES_PAGE_LIMIT}
            return await self._request("candles", symbol, self._exchange.fapiPublicGetKlines,
                                       request)

        rows = await self._paginate(page, lambda r: int(r[0]), since_ms, now_ms,
                                    self._interval_ms, KLINES_PAGE_LIMIT)
        return [[r[0], r[1], r[2], r[3], r[4], r[5], r[9]] for r in rows]

    async def _unified_ohlcv(
        self, symbol: str, market: dict[str, Any], since_ms: int, now_ms: int
    ) -> list[list[Any]]:
        """ccxt's parsed OHLCV (no taker split: NaN), in pages of the venue's own limit, each
        page bounded on both sides (`until`): Bybit and OKX walk back from the end of a window
        and would otherwise answer the newest candles whatever `since` says."""
        limit = self._ohlcv_page_limit()

        async def page(cursor: int) -> list[list[Any]]:
            until = min(cursor + limit * self._interval_ms - 1, now_ms)
            return await self._request("candles", symbol, self._exchange.fetch_ohlcv,
                                       market["symbol"], self._timeframe, cursor, limit,
                                       {"until": until})

        rows = await self._paginate(page, lambda r: int(r[0]), since_ms, now_ms,
                                    self._interval_ms, limit)
        return [[*r[:6], math.nan] for r in rows]

    def _ohlcv_page_limit(self) -> int:
        """Candles one request returns at most: ccxt's `features` for linear swaps (Bybit
        1000, OKX 300, Hyperliquid 5000), else `KLINES_PAGE_LIMIT`."""
        features = (self._exchange.features or {}).get("swap", {}).get("linear") or {}
        limit = (features.get("fetchOHLCV") or {}).get("limit")
        return int(limit) if limit else KLINES_PAGE_LIMIT

    # ---- open interest ------------------------------------------------------------------------

    def _oi_period(self) -> str:
        """The supported open-interest period closest to (not above) the timeframe; 5m for
        shorter timeframes."""
        parse = self._exchange.parse_timeframe
        periods = VENUE_OI_PERIODS.get(self._exchange_id, OI_PERIODS)
        fitting = [p for p in periods if parse(p) * 1000 <= self._interval_ms]
        return fitting[-1] if fitting else periods[0]

    async def _open_interest(self, symbol: str, since_ms: int) -> OpenInterest | None:
        market = await self._market(symbol, "open_interest")
        if self._exchange.has.get("fetchOpenInterestHistory"):
            return await self._open_interest_history(symbol, market, since_ms)
        if self._exchange.has.get("fetchOpenInterest"):
            return await self._open_interest_now(symbol, market)
        return None

    async def _open_interest_now(self, symbol: str, market: dict[str, Any]) -> OpenInterest:
        """One polled sample (quote notional): the venue's value, else base open interest
        times the mark price (Hyperliquid reports base units with `markPx` beside them),
        stamped with the open of the timeframe interval it was polled in (so polls within one
        interval share a time and the latest wins once stored).
        `maps.oi_history.PolledOpenInterest` builds a history of them."""
        entry = await self._request("open_interest", symbol, self._exchange.fetch_open_interest,
                                    market["symbol"])
        value = entry.get("openInterestValue")
        if value is None and entry.get("openInterestAmount") is not None:
            info = entry.get("info") or {}
            mark = info.get("markPx") or await self._mark_price(symbol)
            value = float(entry["openInterestAmount"]) * contract_size(market) * float(mark)
        if value is None or not math.isfinite(float(value)) or float(value) < 0:
            raise MarketSourceError(
                f"{self._exchange_id} open_interest {symbol} failed: no valid open interest "
                f"({value!r})")
        stamp = self._now_ms() // self._interval_ms * self._interval_ms
        return OpenInterest(np.array([stamp], dtype=np.int64), np.array([float(value)]))

    async def _open_interest_history(
        self, symbol: str, market: dict[str, Any], since_ms: int
    ) -> OpenInterest:
        period = self._oi_period()
        period_ms = int(self._exchange.parse_timeframe(period) * 1000)
        now = self._now_ms()
        start = max(since_ms, now - OI_HISTORY_MS + period_ms)

        page_limit = VENUE_OI_PAGE_LIMITS.get(self._exchange_id, OI_PAGE_LIMIT)

        async def page(cursor: int) -> list[dict[str, Any]]:
            return await self._request(
                "open_interest", symbol, self._exchange.fetch_open_interest_history,
                market["symbol"], period, cursor, page_limit,
            )

        entries = await self._paginate(page, lambda e: int(e["timestamp"]), start, now,
                                       period_ms, page_limit)
        if any(_oi_value(e) is None for e in entries):
            closes = await self._candles(symbol, start - self._interval_ms)
            entries = [_valued_by_close(e, closes, market) for e in entries]
        return _open_interest_from_entries(entries)

    # ---- order book, mark price ---------------------------------------------------------------

    async def _order_book(self, symbol: str, depth: int) -> OrderBook:
        if depth < 1:
            raise MarketSourceError(f"order_book {symbol}: depth must be >= 1, got {depth}")
        market = await self._market(symbol, "order_book")
        limit = (_binance_depth_limit(depth) if self._is_binance
                 else min(depth, VENUE_DEPTH_LIMITS.get(self._exchange_id, depth)))
        book = await self._request("order_book", symbol, self._exchange.fetch_order_book,
                                   market["symbol"], limit)
        size = contract_size(market)
        bids = _levels(book.get("bids"), depth, descending=True, contract_size=size)
        asks = _levels(book.get("asks"), depth, descending=False, contract_size=size)
        if len(bids) == 0 or len(asks) == 0:
            raise MarketSourceError(
                f"{self._exchange_id} order_book {symbol} failed: a side of the book is empty"
            )
        timestamp = book.get("timestamp") or self._now_ms()
        try:
            precision = precision_from_ccxt(market, self._exchange.precisionMode)
        except PrecisionError:
            precision = None
        return OrderBook(bids, asks, int(timestamp), f"{self._exchange_id}:rest",
                         precision=precision)

    async def _mark_price(self, symbol: str) -> float:
        market = await self._market(symbol, "mark_price")
        if self._exchange.has.get("fetchMarkPrice"):
            ticker = await self._request("mark_price", symbol, self._exchange.fetch_mark_price,
                                         market["symbol"])
        else:
            ticker = await self._request("mark_price", symbol, self._exchange.fetch_ticker,
                                         market["symbol"])
        price = (ticker.get("markPrice") or (ticker.get("info") or {}).get("markPx")
                 or ticker.get("last"))
        if price is None or not math.isfinite(float(price)) or float(price) <= 0:
            raise MarketSourceError(
                f"{self._exchange_id} mark_price {symbol} failed: no valid mark price ({price!r})"
            )
        return float(price)

    async def _precision(self, symbol: str) -> MarketPrecision:
        market = await self._market(symbol, "precision")
        try:
            return precision_from_ccxt(market, self._exchange.precisionMode)
        except PrecisionError as exc:
            raise MarketSourceError(f"{self._exchange_id} precision {symbol} failed: {exc}"
                                    ) from exc

    # ---- leverage brackets --------------------------------------------------------------------

    async def _leverage_brackets(self, symbol: str) -> list[Bracket]:
        """The venue's tiers when readable; if reading public tiers fails, the bundled table
        of the venue (`liqmap.venue_rules`, logged). Binance's signed tiers never fall back: a
        refused key is a configuration error to see."""
        cached = self._brackets.get(symbol)
        if cached is not None and self._clock() - cached[0] < BRACKET_CACHE_S:
            return cached[1]
        if self._tiers_readable:
            try:
                brackets = await self._fetch_brackets(symbol)
            except (MarketSourceError, ccxt.BaseError) as exc:
                fallback = None if self._is_binance else self._bundled_or_none(symbol)
                if fallback is None:
                    raise
                reason = (str(exc) if isinstance(exc, MarketSourceError)
                          else self._reason("leverage_brackets", symbol, exc))
                self._log.warning("%s; using the bundled %s margin table", reason,
                                  self._exchange_id)
                brackets = fallback
        else:
            brackets = self._bundled_brackets(symbol)
        self._brackets[symbol] = (self._clock(), brackets)
        return brackets

    @property
    def _tiers_readable(self) -> bool:
        """Whether the venue's tiers can be read: Binance's endpoint is signed (keys needed),
        Bybit's and OKX's are public; Hyperliquid serves none through ccxt."""
        if self._is_binance:
            return self._has_keys
        has = self._exchange.has
        return bool(has.get("fetchMarketLeverageTiers") or has.get("fetchLeverageTiers"))

    async def _fetch_brackets(self, symbol: str) -> list[Bracket]:
        """The venue's tiers for `symbol` as brackets (Binance: signed
        `/fapi/v1/leverageBracket`; Bybit: `/v5/market/risk-limit`; OKX:
        `/api/v5/public/position-tiers`, whose sizes are contracts: converted to quote
        notional at `contractSize * mark price` of the moment they are read)."""
        market = await self._market(symbol, "leverage_brackets")
        if self._exchange.has.get("fetchMarketLeverageTiers"):
            symbol_tiers = await self._request(
                "leverage_brackets", symbol, self._exchange.fetch_market_leverage_tiers,
                market["symbol"])
        else:
            tiers = await self._request("leverage_brackets", symbol,
                                        self._exchange.fetch_leverage_tiers, [market["symbol"]])
            symbol_tiers = tiers.get(market["symbol"])
        if not symbol_tiers:
            raise MarketSourceError(
                f"{self._exchange_id} leverage_brackets {symbol} failed: no tiers returned"
            )
        if self._exchange_id in TIERS_IN_CONTRACTS:
            per_contract = contract_size(market) * await self._mark_price(symbol)
            symbol_tiers = [_tier_in_quote(t, per_contract) for t in symbol_tiers]
        return _brackets_from_tiers(symbol_tiers)

    def _bundled_or_none(self, symbol: str) -> list[Bracket] | None:
        """The bundled table of `symbol` on this venue: Binance's own table of the symbol
        (never a stand-in for live data), else `liqmap.venue_rules.venue_brackets`; None if none."""
        if self._is_binance:
            return bundled_table(symbol)
        market = self._find_market(symbol) if self._markets_loaded else None
        parts = split_key(symbol)
        coin = market["base"] if market is not None else (parts[0] if parts else symbol)
        try:
            return venue_brackets(self._exchange_id, coin)
        except KeyError:
            return None

    def _bundled_brackets(self, symbol: str) -> list[Bracket]:
        table = self._bundled_or_none(symbol)
        if table is None:
            hint = ("set EXECSVC_EXCHANGE_API_KEY and EXECSVC_EXCHANGE_SECRET so they can be "
                    "fetched from the exchange" if self._is_binance
                    else "the venue serves no tiers through ccxt")
            raise MarketSourceError(
                f"{self._exchange_id} leverage_brackets {symbol} failed: no bundled bracket "
                f"table for this symbol; {hint}"
            )
        return table


def _guess_quote(symbol: str) -> str:
    """Quote currency from an id like `BTCUSDT` before markets are loaded."""
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "USD"):
        if symbol.endswith(quote):
            return quote
    return "USDT"


# ---- parsing helpers -----------------------------------------------------------------------------


def _candles_from_rows(rows: list[list[Any]], interval_ms: int, now_ms: int) -> Candles:
    """Rows `(open_time, open, high, low, close, volume, taker_buy_volume)` to `Candles`:
    deduplicated by open time, oldest first, only candles closed at `now_ms`."""
    table = np.array(rows, dtype=np.float64).reshape(-1, 7)
    times = table[:, 0].astype(np.int64)
    times, first = np.unique(times, return_index=True)
    table = table[first]
    closed = times + interval_ms <= now_ms
    table, times = table[closed], times[closed]
    return Candles(
        open_time_ms=times,
        open=table[:, 1].copy(),
        high=table[:, 2].copy(),
        low=table[:, 3].copy(),
        close=table[:, 4].copy(),
        volume=table[:, 5].copy(),
        taker_buy_volume=table[:, 6].copy(),
        interval_ms=interval_ms,
    )


def _oi_value(entry: dict[str, Any]) -> Any:
    """A ccxt open-interest structure's quote notional: `openInterestValue`, else Binance's
    `info.sumOpenInterestValue`; None when the venue reports base units only (Bybit)."""
    value = entry.get("openInterestValue")
    if value is None:
        value = (entry.get("info") or {}).get("sumOpenInterestValue")
    return value


def _valued_by_close(entry: dict[str, Any], candles: Candles, market: dict[str, Any]
                     ) -> dict[str, Any]:
    """`entry` with `openInterestValue = amount * contract size * close`, the close of the
    last candle opened at or before the sample (quote notional; base-unit venues)."""
    amount, stamp = entry.get("openInterestAmount"), entry.get("timestamp")
    if _oi_value(entry) is not None or amount is None or stamp is None or len(candles) == 0:
        return entry
    index = int(np.searchsorted(candles.open_time_ms, int(stamp), side="right")) - 1
    if index < 0:
        return entry
    value = float(amount) * contract_size(market) * float(candles.close[index])
    return {**entry, "openInterestValue": value}


def _open_interest_from_entries(entries: list[dict[str, Any]]) -> OpenInterest:
    """ccxt open-interest structures to `OpenInterest` (quote notional, `_oi_value`),
    deduplicated and oldest first; entries without a value dropped."""
    pairs: dict[int, float] = {}
    for entry in entries:
        value = _oi_value(entry)
        if value is not None and entry.get("timestamp") is not None:
            pairs[int(entry["timestamp"])] = float(value)
    times = np.array(sorted(pairs), dtype=np.int64)
    values = np.array([pairs[t] for t in times], dtype=np.float64)
    return OpenInterest(time_ms=times, oi_quote=values)


def _binance_depth_limit(depth: int) -> int:
    """The smallest depth limit Binance accepts that covers `depth` (1000 at most)."""
    return next((n for n in BINANCE_DEPTH_LIMITS if n >= depth), BINANCE_DEPTH_LIMITS[-1])


def _levels(raw: list[list[Any]] | None, depth: int, descending: bool,
            contract_size: float = 1.0) -> np.ndarray:
    """Book levels as an (n, 2) float64 array of (price, base quantity), sorted by price;
    sizes in contracts are multiplied by `contract_size`."""
    levels = np.array([level[:2] for level in raw or []], dtype=np.float64).reshape(-1, 2)
    levels[:, 1] *= contract_size
    order = np.argsort(-levels[:, 0] if descending else levels[:, 0], kind="stable")
    return levels[order][:depth]


def _brackets_from_tiers(tiers: list[dict[str, Any]]) -> list[Bracket]:
    """ccxt leverage tiers to brackets; `cum` is the exchange's own (`info.cum`) when every tier
    has it, else derived from the floors and rates."""
    ordered = sorted(tiers, key=lambda t: float(t.get("minNotional") or 0.0))
    cums = [(t.get("info") or {}).get("cum") for t in ordered]
    if any(c is None for c in cums):
        return brackets_from_floors(
            [(float(t.get("minNotional") or 0.0), float(t["maintenanceMarginRate"]),
              _tier_max_leverage(t)) for t in ordered]
        )
    brackets = []
    for tier, cum in zip(ordered, cums, strict=True):
        cap = tier.get("maxNotional")
        brackets.append(Bracket(
            notional_floor=float(tier.get("minNotional") or 0.0),
            notional_cap=float(cap) if cap is not None else math.inf,
            mmr=float(tier["maintenanceMarginRate"]),
            cum=float(cum),
            max_leverage=_tier_max_leverage(tier),
        ))
    return brackets


def _tier_in_quote(tier: dict[str, Any], per_contract_quote: float) -> dict[str, Any]:
    """A tier sized in contracts with its floor and cap as quote notional."""
    converted = dict(tier)
    for key in ("minNotional", "maxNotional"):
        if tier.get(key) is not None:
            converted[key] = float(tier[key]) * per_contract_quote
    return converted


def _tier_max_leverage(tier: dict[str, Any]) -> float:
    """A ccxt leverage tier's `maxLeverage` (inf when the venue does not give one)."""
    value = tier.get("maxLeverage")
    return float(value) if value else math.inf
