"""Local REST servers for Bybit v5, OKX v5 and Hyperliquid, answering the paths ccxt's real
clients (`bybit`, `okx`, `hyperliquid`) call for market data, with the venues' own payload
shapes (from ccxt's parsers and the venues' documented examples; the Bybit instruments are a
recorded answer, `fixtures/bybit_v5/README.md`).

Prices, volumes and books come from the Binance stub's market model (`binance_stub.
default_markets`: recorded BTCUSDT klines and book, ETHUSDT scaled by the ETH/BTC ratio), so
every venue quotes the same market: what differs is each venue's shape, units and paging.

- Bybit: `/v5/market/instruments-info`, `/kline` (newest first, walking back from `end`),
  `/open-interest` (base units, newest first), `/risk-limit`, `/orderbook`, `/tickers`.
- OKX: `/api/v5/public/instruments`, `/market/candles` and `/history-candles` (exclusive
  `before`/`after`, newest first), `/rubik/stat/contracts/open-interest-history` (contracts,
  base, USD; exclusive `begin`/`end`), `/public/position-tiers` (sizes in contracts),
  `/market/books` (sizes in contracts), `/public/mark-price`.
- Hyperliquid: `POST /info` with `metaAndAssetCtxs` (open interest in base units beside
  `markPx`), `candleSnapshot`, `l2Book`, `spotMeta` (the USDC token only: ccxt reads the
  currencies from it).

`delay_s` makes every answer wait (a venue that times out); `requests` records what came in.
Times are epoch ms; prices USDT (USDC on Hyperliquid) per base unit.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.background_server import BackgroundServer
from tests.support.binance_stub import KLINE_INTERVALS_MS, StubMarket, default_markets

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINUTE_MS = 60_000


class VenueServer(BackgroundServer):
    """One venue's REST server over the shared market model; subclasses route requests."""

    venue = ""

    def __init__(self, clock_ms: Any = None) -> None:
        self.markets: dict[str, StubMarket] = default_markets()
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str, dict[str, Any]]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(method, path, query or JSON body) of every request, oldest first."""
        with self._lock:
            return list(self._requests)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            params = await request.json()
        with self._lock:
            self._requests.append((request.method, request.path, params))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, payload = self.route(request.method, request.path, params)
        return web.Response(status=status, text=json.dumps(payload),
                            content_type="application/json")

    def route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        raise NotImplementedError

    def bars(self, symbol: str, interval_ms: int, first_ms: int, last_ms: int, limit: int,
             newest: bool) -> list[list[Any]]:
        """Binance-shaped bars opening in `[first_ms, last_ms]` (open no later than now), at
        most `limit`: the newest ones when `newest`, else the oldest."""
        now = self.clock_ms()
        last_ms = min(last_ms, now)
        start = -(-first_ms // interval_ms) * interval_ms
        opens = list(range(start, last_ms + 1, interval_ms))
        opens = opens[-limit:] if newest else opens[:limit]
        return [self.markets[symbol].kline(t, interval_ms) for t in opens]


def grid(first_ms: int, last_ms: int, step_ms: int) -> list[int]:
    """Multiples of `step_ms` in `[first_ms, last_ms]`."""
    return list(range(-(-first_ms // step_ms) * step_ms, last_ms + 1, step_ms))


# ---- Bybit v5 -------------------------------------------------------------------------------

BYBIT_INTERVALS = {"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h",
                   "120": "2h", "240": "4h", "360": "6h", "720": "12h", "D": "1d"}
BYBIT_OI_INTERVALS = {"5min": 5 * MINUTE_MS, "15min": 15 * MINUTE_MS, "30min": 30 * MINUTE_MS,
                      "1h": 60 * MINUTE_MS, "4h": 240 * MINUTE_MS, "1d": 1440 * MINUTE_MS}
BYBIT_RISK_LIMITS = [("2000000", "0.005", "0.01", "100.00", "0"),
                     ("4000000", "0.01", "0.0175", "57.14", "10000"),
                     ("6000000", "0.015", "0.025", "40.00", "30000")]


class BybitServer(VenueServer):
    venue = "bybit"

    def __init__(self, clock_ms: Any = None) -> None:
        super().__init__(clock_ms)
        self.instruments = json.loads((FIXTURES / "bybit_v5" / "instruments_linear.json")
                                      .read_text())

    def envelope(self, result: Any) -> tuple[int, Any]:
        return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                     "time": self.clock_ms()}

    def route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        handlers = {
            "/v5/market/instruments-info": self.instruments_info,
            "/v5/market/kline": self.kline,
            "/v5/market/open-interest": self.open_interest,
            "/v5/market/risk-limit": self.risk_limit,
            "/v5/market/orderbook": self.orderbook,
            "/v5/market/tickers": self.tickers,
        }
        handler = handlers.get(path)
        if handler is None:
            return 404, {"retCode": 10001, "retMsg": f"no route {path}"}
        if "symbol" in params and params["symbol"] not in self.markets:
            return 200, {"retCode": 10001, "retMsg": "params error: symbol invalid",
                         "result": {}, "retExtInfo": {}, "time": self.clock_ms()}
        return handler(params)

    def instruments_info(self, params: dict[str, Any]) -> tuple[int, Any]:
        if params.get("status") == "PreLaunch":
            return self.envelope({"category": "linear", "list": [], "nextPageCursor": ""})
        return 200, self.instruments

    def kline(self, params: dict[str, Any]) -> tuple[int, Any]:
        interval_ms = KLINE_INTERVALS_MS[BYBIT_INTERVALS[params["interval"]]]
        end = int(params.get("end", self.clock_ms()))
        rows = self.bars(params["symbol"], interval_ms, int(params.get("start", 0)), end,
                         int(params.get("limit", 200)), newest=True)
        rows = [[str(r[0]), r[1], r[2], r[3], r[4], r[5], r[7]] for r in reversed(rows)]
        return self.envelope({"symbol": params["symbol"], "category": "linear", "list": rows})

    def open_interest(self, params: dict[str, Any]) -> tuple[int, Any]:
        step = BYBIT_OI_INTERVALS[params["intervalTime"]]
        market = self.markets[params["symbol"]]
        end = min(int(params.get("endTime", self.clock_ms())), self.clock_ms())
        start = int(params.get("startTime", end - 50 * step))
        stamps = grid(start, end, step)[-int(params.get("limit", 50)):]
        rows = [{"openInterest": f"{market.open_interest_at(t):.3f}", "timestamp": str(t)}
                for t in reversed(stamps)]
        return self.envelope({"symbol": market.symbol, "category": "linear", "list": rows,
                              "nextPageCursor": ""})

    def risk_limit(self, params: dict[str, Any]) -> tuple[int, Any]:
        rows = [{"id": k + 1, "symbol": params["symbol"], "riskLimitValue": cap,
                 "maintenanceMargin": mmr, "initialMargin": imr, "isLowestRisk": int(k == 0),
                 "maxLeverage": lev, "mmDeduction": deduction}
                for k, (cap, mmr, imr, lev, deduction) in enumerate(BYBIT_RISK_LIMITS)]
        return self.envelope({"category": "linear", "list": rows, "nextPageCursor": ""})

    def orderbook(self, params: dict[str, Any]) -> tuple[int, Any]:
        market = self.markets[params["symbol"]]
        limit = int(params.get("limit", 25))
        now = self.clock_ms()
        return self.envelope({"s": market.symbol, "b": market.bids[:limit],
                              "a": market.asks[:limit], "ts": now, "u": market.last_update_id,
                              "seq": market.last_update_id, "cts": now})

    def tickers(self, params: dict[str, Any]) -> tuple[int, Any]:
        market = self.markets[params["symbol"]]
        now = self.clock_ms()
        mark = market.close_at(now)
        oi = market.open_interest_at(now)
        row = {"symbol": market.symbol, "lastPrice": f"{mark:.2f}", "indexPrice": f"{mark:.2f}",
               "markPrice": f"{mark:.2f}", "prevPrice24h": f"{mark:.2f}",
               "price24hPcnt": "0.000000", "highPrice24h": f"{mark:.2f}",
               "lowPrice24h": f"{mark:.2f}", "prevPrice1h": f"{mark:.2f}",
               "openInterest": f"{oi:.3f}", "openInterestValue": f"{oi * mark:.2f}",
               "turnover24h": "0", "volume24h": "0", "fundingRate": "0.0001",
               "nextFundingTime": str(now // 28_800_000 * 28_800_000 + 28_800_000),
               "bid1Price": market.bids[0][0], "bid1Size": market.bids[0][1],
               "ask1Price": market.asks[0][0], "ask1Size": market.asks[0][1]}
        return self.envelope({"category": "linear", "list": [row]})


# ---- OKX v5 ---------------------------------------------------------------------------------

OKX_CONTRACT = {"BTC-USDT-SWAP": ("BTCUSDT", "BTC", "0.01", "0.1", 1000),
                "ETH-USDT-SWAP": ("ETHUSDT", "ETH", "0.1", "0.01", 5000)}
"""instId -> (market model key, base, contract value in base, tick, tier-1 max contracts)."""
OKX_BARS = {"1m": "1m", "5m": "5m", "15m": "15m", "1H": "1h", "4H": "4h", "1Dutc": "1d"}
OKX_OI_PERIODS = {"5m": 5 * MINUTE_MS, "1H": 60 * MINUTE_MS, "1D": 1440 * MINUTE_MS}


class OkxServer(VenueServer):
    venue = "okx"

    def envelope(self, data: Any) -> tuple[int, Any]:
        return 200, {"code": "0", "msg": "", "data": data}

    def route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        handlers = {
            "/api/v5/public/instruments": self.instruments,
            "/api/v5/market/candles": self.candles,
            "/api/v5/market/history-candles": self.candles,
            "/api/v5/rubik/stat/contracts/open-interest-history": self.open_interest,
            "/api/v5/public/position-tiers": self.position_tiers,
            "/api/v5/market/books": self.books,
            "/api/v5/public/mark-price": self.mark_price,
        }
        handler = handlers.get(path)
        if handler is None:
            return 404, {"code": "50000", "msg": f"no route {path}"}
        if "instId" in params and params["instId"] not in OKX_CONTRACT:
            return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
        return handler(params)

    def model(self, inst_id: str) -> StubMarket:
        return self.markets[OKX_CONTRACT[inst_id][0]]

    def instruments(self, params: dict[str, Any]) -> tuple[int, Any]:
        if params.get("instType") != "SWAP":
            return self.envelope([])
        rows = []
        for inst_id, (_, base, ct_val, tick, _) in OKX_CONTRACT.items():
            rows.append({
                "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear",
                "ctVal": ct_val, "ctValCcy": base, "expTime": "", "instFamily": f"{base}-USDT",
                "instId": inst_id, "instType": "SWAP", "lever": "100", "listTime": "1611916828000",
                "lotSz": "0.01", "maxLmtSz": "100000000", "maxMktSz": "12000", "minSz": "0.01",
                "optType": "", "quoteCcy": "", "settleCcy": "USDT", "state": "live", "stk": "",
                "tickSz": tick, "uly": f"{base}-USDT", "ruleType": "normal"})
        return self.envelope(rows)

    def candles(self, params: dict[str, Any]) -> tuple[int, Any]:
        inst_id = params["instId"]
        interval_ms = KLINE_INTERVALS_MS[OKX_BARS[params["bar"]]]
        size = float(OKX_CONTRACT[inst_id][2])
        before = int(params.get("before", -1))
        after = int(params.get("after", self.clock_ms() + interval_ms))
        rows = self.bars(OKX_CONTRACT[inst_id][0], interval_ms, before + 1, after - 1,
                         int(params.get("limit", 100)), newest=True)
        now = self.clock_ms()
        data = [[str(r[0]), r[1], r[2], r[3], r[4], f"{float(r[5]) / size:.2f}", r[5], r[7],
                 "1" if r[0] + interval_ms <= now else "0"] for r in reversed(rows)]
        return self.envelope(data)

    def open_interest(self, params: dict[str, Any]) -> tuple[int, Any]:
        inst_id = params["instId"]
        step = OKX_OI_PERIODS[params["period"]]
        size = float(OKX_CONTRACT[inst_id][2])
        market = self.model(inst_id)
        end = min(int(params.get("end", self.clock_ms() + 1)) - 1, self.clock_ms())
        begin = int(params.get("begin", end - 100 * step)) + 1
        stamps = grid(begin, end, step)[-int(params.get("limit", 100)):]
        data = []
        for t in reversed(stamps):
            base = market.open_interest_at(t)
            data.append([str(t), f"{base / size:.2f}", f"{base:.4f}",
                         f"{base * market.close_at(t):.2f}"])
        return self.envelope(data)

    def position_tiers(self, params: dict[str, Any]) -> tuple[int, Any]:
        family = params["instFamily"]
        inst_id = f"{family}-SWAP"
        if params.get("instType") != "SWAP" or inst_id not in OKX_CONTRACT:
            return 200, {"code": "51000", "msg": "Parameter instFamily error", "data": []}
        max_contracts = OKX_CONTRACT[inst_id][4]
        return self.envelope([{"baseMaxLoan": "", "imr": "0.01", "instFamily": family,
                               "instId": "", "maxLever": "100", "maxSz": str(max_contracts),
                               "minSz": "0", "mmr": "0.004", "optMgnFactor": "0",
                               "quoteMaxLoan": "", "tier": "1", "uly": family}])

    def books(self, params: dict[str, Any]) -> tuple[int, Any]:
        inst_id = params["instId"]
        size = float(OKX_CONTRACT[inst_id][2])
        market = self.model(inst_id)
        depth = int(params.get("sz", 1))

        def side(levels: list[list[str]]) -> list[list[str]]:
            return [[p, f"{float(q) / size:.2f}", "0", "1"] for p, q in levels[:depth]]

        return self.envelope([{"asks": side(market.asks), "bids": side(market.bids),
                               "ts": str(self.clock_ms())}])

    def mark_price(self, params: dict[str, Any]) -> tuple[int, Any]:
        inst_id = params["instId"]
        now = self.clock_ms()
        return self.envelope([{"instId": inst_id, "instType": "SWAP",
                               "markPx": f"{self.model(inst_id).close_at(now):.1f}",
                               "ts": str(now)}])


# ---- Hyperliquid ----------------------------------------------------------------------------

HYPERLIQUID_COINS = {"BTC": ("BTCUSDT", 5, 40), "ETH": ("ETHUSDT", 4, 25)}
"""coin -> (market model key, szDecimals, maxLeverage)."""


class HyperliquidServer(VenueServer):
    venue = "hyperliquid"

    def route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method != "POST" or path != "/info":
            return 404, {"error": f"no route {method} {path}"}
        kind = params.get("type")
        if kind == "metaAndAssetCtxs":
            return 200, self.meta_and_asset_ctxs()
        if kind == "candleSnapshot":
            return 200, self.candle_snapshot(params["req"])
        if kind == "l2Book":
            return 200, self.l2_book(params["coin"])
        if kind == "spotMeta":
            return 200, {"universe": [], "tokens": [
                {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0,
                 "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054", "isCanonical": True,
                 "evmContract": None, "fullName": None}]}
        return 422, {"error": f"Failed to deserialize the JSON body: unknown type {kind!r}"}

    def meta_and_asset_ctxs(self) -> list[Any]:
        now = self.clock_ms()
        universe, contexts = [], []
        for coin, (key, decimals, leverage) in HYPERLIQUID_COINS.items():
            market = self.markets[key]
            mark = market.close_at(now)
            universe.append({"szDecimals": decimals, "name": coin, "maxLeverage": leverage,
                             "marginTableId": 56 if coin == "BTC" else 55})
            contexts.append({
                "funding": "0.0000125", "openInterest": f"{market.open_interest_at(now):.5f}",
                "prevDayPx": f"{mark:.1f}", "dayNtlVlm": "1234567890.0", "premium": "0.0001",
                "oraclePx": f"{mark:.1f}", "markPx": f"{mark:.1f}", "midPx": f"{mark:.1f}",
                "impactPxs": [market.bids[0][0], market.asks[0][0]], "dayBaseVlm": "12345.6"})
        return [{"universe": universe, "marginTables": []}, contexts]

    def candle_snapshot(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        coin = req["coin"]
        interval = req["interval"]
        interval_ms = KLINE_INTERVALS_MS[interval]
        rows = self.bars(HYPERLIQUID_COINS[coin][0], interval_ms, int(req["startTime"]),
                         int(req["endTime"]), 5000, newest=True)
        return [{"t": r[0], "T": r[0] + interval_ms - 1, "s": coin, "i": interval, "o": r[1],
                 "c": r[4], "h": r[2], "l": r[3], "v": r[5], "n": int(r[8])} for r in rows]

    def l2_book(self, coin: str) -> dict[str, Any]:
        market = self.markets[HYPERLIQUID_COINS[coin][0]]

        def side(levels: list[list[str]]) -> list[dict[str, Any]]:
            return [{"px": p, "sz": q, "n": 1} for p, q in levels[:20]]

        return {"coin": coin, "time": self.clock_ms(),
                "levels": [side(market.bids), side(market.asks)]}
