"""A local Binance USD-M compatible REST server for tests.

`BinanceStub` is real HTTP on 127.0.0.1 (a free port), served by aiohttp on a background thread
with its own event loop, so sync and async tests (of any event-loop scope) can use it. Point a
ccxt `binanceusdm` client at `stub.base_url` (see `execsvc.market.ccxt_source`).

What it serves (payload origins in `tests/support/fixtures/binance_usdm/README.md`):

- `GET /fapi/v1/exchangeInfo`, `/fapi/v1/time`
- `GET /fapi/v1/klines` (recorded 1m rows cycled over the time grid, `startTime`/`endTime`/
  `limit` honoured like Binance), `/fapi/v1/depth`, `/fapi/v1/premiumIndex`
- `GET /futures/data/openInterestHist` (last 30 days only, like Binance)
- `GET /fapi/v1/leverageBracket`, signed: checks `X-MBX-APIKEY`, the HMAC-SHA256 signature and
  the timestamp's recvWindow, answering Binance's own error codes when they are wrong.

Every request is recorded (`stub.requests`) so tests can assert exactly what a client sent.
Faults are injected with `fail_with_status`, `delay` and `exchange_error`. More endpoints (order
routing, ...) are added with `add_route`; a handler takes `(stub, request)` and returns
`(http_status, json_payload)`.

Times are epoch milliseconds; prices are USDT per base unit; quantities are base units.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.background_server import BackgroundServer

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "binance_usdm"

DEFAULT_API_KEY = "stub-api-key-0123456789"
DEFAULT_SECRET = "stub-secret-do-not-leak-9876543210"

MINUTE_MS = 60_000
DAY_MS = 86_400_000
KLINE_INTERVALS_MS = {
    "1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS, "1h": 60 * MINUTE_MS, "2h": 120 * MINUTE_MS, "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS, "8h": 480 * MINUTE_MS, "12h": 720 * MINUTE_MS, "1d": DAY_MS,
}
OI_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
OI_HISTORY_MS = 30 * DAY_MS
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
FUNDING_INTERVAL_MS = 8 * 3_600_000

# ETHUSDT has no recording of its own here: its klines and book are BTCUSDT's scaled by the
# ETH/BTC price ratio of the book's day (2024-07-18, ~3430 / ~63940).
ETH_BTC_RATIO = 0.0537

Payload = Any
Response = tuple[int, Payload]
Handler = Callable[["BinanceStub", "RecordedRequest"], Response]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as received: header names lower-cased, `query_string` raw (as signed)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    query_string: str
    received_ms: int

    @property
    def params(self) -> dict[str, str]:
        """Query and form-body parameters together (Binance's `totalParams`)."""
        return {**self.query, **dict(parse_qsl(self.body, keep_blank_values=True))}


@dataclass(slots=True)
class Fault:
    """An injected fault for requests to `path` (any path if None), used `remaining` more times
    (forever if None). After `delay_s` seconds it answers `status`/`payload`, or the normal
    response when `status` is None (a pure delay, to trip client timeouts)."""

    path: str | None
    remaining: int | None
    status: int | None
    payload: Payload
    delay_s: float

    def matches(self, path: str) -> bool:
        return (self.path is None or self.path == path) and self.remaining != 0


def binance_error(code: int, msg: str, status: int = 400) -> Response:
    """A Binance error response: `{"code": <negative int>, "msg": ...}`."""
    return status, {"code": code, "msg": msg}


def load_fixture(name: str) -> Payload:
    return json.loads((FIXTURES_DIR / name).read_text())


def _scale_levels(levels: list[list[str]], price_scale: float, round_up: bool) -> list[list[str]]:
    """Book levels with prices scaled to 0.01 ticks (rounded away from the other side, `round_up`
    for asks, so the book never crosses; levels falling on one tick merged) and quantities
    divided by the scale, so each level keeps its quote notional."""
    merged: dict[int, float] = {}
    for price, qty in levels:
        cents = float(price) * price_scale * 100
        tick = math.ceil(cents - 1e-9) if round_up else math.floor(cents + 1e-9)
        merged[tick] = merged.get(tick, 0.0) + float(qty) / price_scale
    return [[f"{tick / 100:.2f}", f"{qty:.3f}"] for tick, qty in merged.items()]


@dataclass
class StubMarket:
    """Market data the stub serves for one symbol.

    `kline_rows` are recorded Binance 12-column kline rows; bar `k` of any interval (counted
    from the epoch) is row `k mod len(rows)` with prices times `price_scale`. Open interest is
    generated: `open_interest_base` (base units) with a +-3 % daily cycle, valued at the close of
    the 1m bar at that time. `mark_price` overrides the mark (default: the current 1m close).
    """

    symbol: str
    kline_rows: list[list[Any]]
    price_scale: float
    bids: list[list[str]]
    asks: list[list[str]]
    last_update_id: int
    open_interest_base: float
    mark_price: float | None = None

    def kline(self, open_ms: int, interval_ms: int) -> list[Any]:
        row = self.kline_rows[(open_ms // interval_ms) % len(self.kline_rows)]
        s = self.price_scale
        return [
            open_ms, f"{float(row[1]) * s:.2f}", f"{float(row[2]) * s:.2f}",
            f"{float(row[3]) * s:.2f}", f"{float(row[4]) * s:.2f}", f"{float(row[5]):.3f}",
            open_ms + interval_ms - 1, f"{float(row[7]) * s:.5f}", int(row[8]),
            f"{float(row[9]):.3f}", f"{float(row[10]) * s:.5f}", "0",
        ]

    def close_at(self, time_ms: int) -> float:
        """Close (USDT) of the 1m bar holding `time_ms`."""
        open_ms = time_ms // MINUTE_MS * MINUTE_MS
        return float(self.kline(open_ms, MINUTE_MS)[4])

    def open_interest_at(self, time_ms: int) -> float:
        """Open interest (base units) at `time_ms`."""
        return self.open_interest_base * (1.0 + 0.03 * math.sin(2 * math.pi * time_ms / DAY_MS))


def default_markets() -> dict[str, StubMarket]:
    """BTCUSDT from the recorded klines and book; ETHUSDT the same scaled by `ETH_BTC_RATIO`."""
    rows = load_fixture("klines_btcusdt_1m.json")
    book = load_fixture("depth_btcusdt.json")
    book_mid = (float(book["bids"][0][0]) + float(book["asks"][0][0])) / 2.0
    mean_close = sum(float(r[4]) for r in rows) / len(rows)
    btc_scale = book_mid / mean_close
    btc = StubMarket("BTCUSDT", rows, btc_scale, book["bids"], book["asks"],
                     int(book["lastUpdateId"]), open_interest_base=82_000.0)
    eth = StubMarket(
        "ETHUSDT", rows, btc_scale * ETH_BTC_RATIO,
        _scale_levels(book["bids"], ETH_BTC_RATIO, round_up=False),
        _scale_levels(book["asks"], ETH_BTC_RATIO, round_up=True),
        int(book["lastUpdateId"]) + 1, open_interest_base=2_100_000.0,
    )
    return {btc.symbol: btc, eth.symbol: eth}


def _int_param(params: dict[str, str], name: str, default: int | None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    return int(value)


@dataclass
class BinanceStub(BackgroundServer):
    """The server and its state. Use as a context manager, or `start()` / `stop()`."""

    thread_name = "binance-stub"

    api_key: str = DEFAULT_API_KEY
    secret: str = DEFAULT_SECRET
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    markets: dict[str, StubMarket] = field(default_factory=default_markets)
    exchange_info: dict[str, Any] = field(
        default_factory=lambda: load_fixture("exchange_info.json")
    )
    leverage_brackets: list[dict[str, Any]] = field(
        default_factory=lambda: load_fixture("leverage_brackets.json")
    )
    recv_window_ms: int = 5_000
    accounts: dict[str, str] = field(default_factory=dict)
    """API key -> secret of every account (the default key's is added)."""

    def __post_init__(self) -> None:
        self.accounts.setdefault(self.api_key, self.secret)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._routes: dict[tuple[str, str], tuple[Handler, bool]] = {}
        self._register_binance_routes()

    # ---- routes -------------------------------------------------------------------------

    def add_route(self, method: str, path: str, handler: Handler, signed: bool = False) -> None:
        """Serve `method path` with `handler`; `signed` routes check key, signature and time."""
        self._routes[(method.upper(), path)] = (handler, signed)

    def _register_binance_routes(self) -> None:
        self.add_route("GET", "/fapi/v1/exchangeInfo", BinanceStub._exchange_info)
        self.add_route("GET", "/fapi/v1/time", BinanceStub._time)
        self.add_route("GET", "/fapi/v1/klines", BinanceStub._klines)
        self.add_route("GET", "/fapi/v1/depth", BinanceStub._depth)
        self.add_route("GET", "/fapi/v1/premiumIndex", BinanceStub._premium_index)
        self.add_route("GET", "/futures/data/openInterestHist", BinanceStub._open_interest_hist)
        self.add_route("GET", "/fapi/v1/leverageBracket", BinanceStub._leverage_bracket,
                       signed=True)

    def market_for(self, request: RecordedRequest) -> StubMarket | Response:
        """The market named by the `symbol` parameter, or Binance's invalid-symbol error."""
        market = self.markets.get(request.params.get("symbol", ""))
        return market if market is not None else binance_error(-1121, "Invalid symbol.")

    def _exchange_info(self, request: RecordedRequest) -> Response:
        return 200, {**self.exchange_info, "serverTime": self.clock_ms()}

    def _time(self, request: RecordedRequest) -> Response:
        return 200, {"serverTime": self.clock_ms()}

    def _klines(self, request: RecordedRequest) -> Response:
        market = self.market_for(request)
        if not isinstance(market, StubMarket):
            return market
        params = request.params
        interval_ms = KLINE_INTERVALS_MS.get(params.get("interval", ""))
        if interval_ms is None:
            return binance_error(-1120, "Invalid interval.")
        limit = max(1, min(_int_param(params, "limit", 500) or 500, 1500))
        start = _int_param(params, "startTime", None)
        end = _int_param(params, "endTime", None)
        current_open = self.clock_ms() // interval_ms * interval_ms
        last = current_open if end is None else min(current_open, end // interval_ms * interval_ms)
        if start is None:
            first = last - (limit - 1) * interval_ms
        else:
            first = -(-start // interval_ms) * interval_ms
            last = min(last, first + (limit - 1) * interval_ms)
        opens = range(first, last + 1, interval_ms)
        return 200, [market.kline(open_ms, interval_ms) for open_ms in opens]

    def _depth(self, request: RecordedRequest) -> Response:
        market = self.market_for(request)
        if not isinstance(market, StubMarket):
            return market
        limit = _int_param(request.params, "limit", 500)
        if limit not in DEPTH_LIMITS:
            legal = ", ".join(str(n) for n in DEPTH_LIMITS)
            return binance_error(
                -1100, f"Illegal characters found in parameter 'limit'; legal range is '{legal}'."
            )
        now = self.clock_ms()
        return 200, {
            "lastUpdateId": market.last_update_id, "E": now, "T": now - 6,
            "bids": market.bids[:limit], "asks": market.asks[:limit],
        }

    def _premium_index(self, request: RecordedRequest) -> Response:
        symbol = request.params.get("symbol")
        if symbol is None:
            return 200, [self._premium_entry(m) for m in self.markets.values()]
        market = self.market_for(request)
        if not isinstance(market, StubMarket):
            return market
        return 200, self._premium_entry(market)

    def _premium_entry(self, market: StubMarket) -> dict[str, Any]:
        now = self.clock_ms()
        mark = market.mark_price if market.mark_price is not None else market.close_at(now)
        return {
            "symbol": market.symbol, "markPrice": f"{mark:.8f}",
            "indexPrice": f"{mark * 0.9999:.8f}", "estimatedSettlePrice": f"{mark:.8f}",
            "lastFundingRate": "0.00010000", "interestRate": "0.00010000",
            "nextFundingTime": (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS,
            "time": now,
        }

    def _open_interest_hist(self, request: RecordedRequest) -> Response:
        market = self.market_for(request)
        if not isinstance(market, StubMarket):
            return market
        params = request.params
        period = params.get("period", "")
        if period not in OI_PERIODS:
            return binance_error(-1130, "Data sent for parameter 'period' is not valid.")
        period_ms = KLINE_INTERVALS_MS[period]
        limit = max(1, min(_int_param(params, "limit", 30) or 30, 500))
        now = self.clock_ms()
        oldest = -(-(now - OI_HISTORY_MS) // period_ms) * period_ms
        latest = now // period_ms * period_ms
        start = max(oldest, _int_param(params, "startTime", oldest) or oldest)
        end = min(latest, _int_param(params, "endTime", latest) or latest)
        stamps = list(range(-(-start // period_ms) * period_ms, end + 1, period_ms))
        stamps = stamps[:limit] if "startTime" in params else stamps[-limit:]
        return 200, [self._oi_entry(market, stamp) for stamp in stamps]

    @staticmethod
    def _oi_entry(market: StubMarket, stamp: int) -> dict[str, Any]:
        amount = market.open_interest_at(stamp)
        return {
            "symbol": market.symbol, "sumOpenInterest": f"{amount:.8f}",
            "sumOpenInterestValue": f"{amount * market.close_at(stamp):.8f}",
            "timestamp": stamp,
        }

    def _leverage_bracket(self, request: RecordedRequest) -> Response:
        symbol = request.params.get("symbol")
        if symbol is None:
            return 200, self.leverage_brackets
        entries = [e for e in self.leverage_brackets if e["symbol"] == symbol]
        return (200, entries) if entries else binance_error(-1121, "Invalid symbol.")

    # ---- signing --------------------------------------------------------------------------

    def signature_error(self, request: RecordedRequest) -> Response | None:
        """Binance's answer to a badly authenticated signed request, or None if it is fine."""
        key = request.headers.get("x-mbx-apikey")
        if not key:
            return binance_error(-2014, "API-key format invalid.", status=401)
        secret = self.accounts.get(key)
        if secret is None:
            return binance_error(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        payload, signature = _split_signature(request.query_string, request.body)
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if signature is None or not hmac.compare_digest(signature, expected):
            return binance_error(-1022, "Signature for this request is not valid.")
        timestamp = _int_param(request.params, "timestamp", None)
        window = _int_param(request.params, "recvWindow", self.recv_window_ms) or 0
        if timestamp is None or abs(self.clock_ms() - timestamp) > window:
            return binance_error(
                -1021, "Timestamp for this request is outside of the recvWindow."
            )
        return None

    def add_account(self, api_key: str, secret: str) -> None:
        """Another exchange account: requests signed with its key see only its orders."""
        self.accounts[api_key] = secret

    # ---- recording and faults ---------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_with_status(
        self, times: int | None = 1, status: int = 503, path: str | None = None,
        payload: Payload = "Service Unavailable",
    ) -> Fault:
        """Answer the next `times` requests (to `path`) with `status` and `payload` (a str is
        sent as text/plain, like a gateway error page; anything else as JSON)."""
        return self._add_fault(Fault(path, times, status, payload, 0.0))

    def delay(self, seconds: float, times: int | None = 1, path: str | None = None) -> Fault:
        """Hold the next `times` requests (to `path`) for `seconds` before answering normally."""
        return self._add_fault(Fault(path, times, None, None, seconds))

    def exchange_error(
        self, code: int = -1121, msg: str = "Invalid symbol.", status: int = 400,
        path: str | None = None, times: int | None = None,
    ) -> Fault:
        """Answer with a Binance error body (by default forever)."""
        return self._add_fault(Fault(path, times, status, {"code": code, "msg": msg}, 0.0))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    # ---- HTTP plumbing ---------------------------------------------------------------------

    async def _handle(self, http_request: web.Request) -> web.Response:
        request = RecordedRequest(
            method=http_request.method,
            path=http_request.path,
            query=dict(http_request.query),
            headers={k.lower(): v for k, v in http_request.headers.items()},
            body=await http_request.text(),
            query_string=http_request.query_string,
            received_ms=self.clock_ms(),
        )
        with self._lock:
            self._requests.append(request)
        fault = self._take_fault(request.path)
        if fault is not None and fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.status is not None:
            return _response(fault.status, fault.payload)
        return _response(*self._dispatch(request))

    def _dispatch(self, request: RecordedRequest) -> Response:
        route = self._routes.get((request.method, request.path))
        if route is None:
            return binance_error(-1, f"stub has no route for {request.method} {request.path}", 404)
        handler, signed = route
        if signed:
            error = self.signature_error(request)
            if error is not None:
                return error
        return handler(self, request)

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: the origin that replaces `https://fapi.binance.com`."""
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app


def _split_signature(query_string: str, body: str) -> tuple[str, str | None]:
    """Binance's signed payload (query string then body, without the `signature` parameter) and
    the signature sent, found in either part."""
    signature = None
    parts = []
    for part in (query_string, body):
        kept = []
        for pair in part.split("&") if part else []:
            name, _, value = pair.partition("=")
            if name == "signature":
                signature = value
            else:
                kept.append(pair)
        parts.append("&".join(kept))
    return "".join(parts), signature


def _response(status: int, payload: Payload) -> web.Response:
    if isinstance(payload, str):
        return web.Response(status=status, text=payload, content_type="text/plain")
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")
