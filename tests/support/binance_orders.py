"""Order routing on the local Binance USD-M stub: `BinanceOrderStub` is `BinanceStub` plus an
in-memory account of orders behind the signed order endpoints, and faults that hit an order
after (or before) the exchange accepted it.

Endpoints, answering like Binance USD-M (payload shapes from Binance's API documentation):

- `POST /fapi/v1/order`: MARKET and LIMIT (`timeInForce` GTC, IOC, GTX = post-only) orders.
  `newClientOrderId` must match Binance's pattern (-4015) and be unique among open orders
  (-4116 "ClientOrderId is duplicated."). Market orders fill at once by walking the stub's depth
  (the book is not consumed); a limit order that crosses the book fills up to its price (a
  crossing GTX order is refused, -5022), and the rest rests (GTC) or expires (IOC). Conditional
  types are refused with -4120, as Binance does since 2025-12-09.
- `GET /fapi/v1/order` by `orderId` or `origClientOrderId` (-2013 "Order does not exist.");
  `DELETE /fapi/v1/order` cancels an open order (-2011 "Unknown order sent." otherwise).
- `POST|GET|DELETE /fapi/v1/algoOrder`: conditional orders (STOP_MARKET, TAKE_PROFIT_MARKET,
  `algoType=CONDITIONAL`, `triggerPrice`, `clientAlgoId`), which rest until `trigger_stop()`
  executes one as a market order (its `actualOrderId`, status FINISHED).

Fault knobs, on top of `fail_with_status`, `delay` and `exchange_error`:
`hold_after_accept` (the order is accepted, its answer held so the client times out),
`drop_after_accept` (accepted, then the connection is closed unanswered),
`fail_before_accept` (a 503 before the order reaches the book) and `fail_requests` (any method
and path, e.g. make order lookups fail). All requests are still recorded.

Prices are USDT per base unit, quantities base units, times epoch milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.binance_stub import (
    BinanceStub,
    RecordedRequest,
    Response,
    StubMarket,
    binance_error,
)

ORDER_PATH = "/fapi/v1/order"
ALGO_ORDER_PATH = "/fapi/v1/algoOrder"
CLIENT_ID_PATTERN = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
ALGO_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
CONDITIONAL_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                               "TRAILING_STOP_MARKET"})
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """A symbol's price and quantity grid from exchangeInfo."""

    tick_size: float
    step_size: float
    price_precision: int
    quantity_precision: int

    @classmethod
    def from_exchange_info(cls, entry: dict[str, Any]) -> SymbolRules:
        filters = {f["filterType"]: f for f in entry["filters"]}
        return cls(
            tick_size=float(filters["PRICE_FILTER"]["tickSize"]),
            step_size=float(filters["LOT_SIZE"]["stepSize"]),
            price_precision=int(entry["pricePrecision"]),
            quantity_precision=int(entry["quantityPrecision"]),
        )

    def price(self, value: float) -> str:
        return f"{value:.{self.price_precision}f}"

    def quantity(self, value: float) -> str:
        return f"{value:.{self.quantity_precision}f}"


def _on_grid(value: float, step: float) -> bool:
    units = value / step
    return abs(units - round(units)) < 1e-6


@dataclass(slots=True)
class StubOrder:
    """One order in the matching engine (`fills` are (price, quantity) pairs)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    quantity: float
    price: float
    time_in_force: str
    reduce_only: bool
    status: str
    time_ms: int
    update_ms: int
    fills: list[tuple[float, float]] = field(default_factory=list)
    account: str = ""

    @property
    def executed(self) -> float:
        return sum(qty for _, qty in self.fills)

    @property
    def cum_quote(self) -> float:
        return sum(price * qty for price, qty in self.fills)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def payload(self, rules: SymbolRules, with_time: bool = True) -> dict[str, Any]:
        """Binance's order JSON (`time` only in query answers, like Binance)."""
        executed = self.executed
        average = self.cum_quote / executed if executed > 0 else 0.0
        body: dict[str, Any] = {
            "orderId": self.order_id, "symbol": self.symbol, "status": self.status,
            "clientOrderId": self.client_order_id, "price": rules.price(self.price),
            "avgPrice": f"{average:.5f}", "origQty": rules.quantity(self.quantity),
            "executedQty": rules.quantity(executed), "cumQty": rules.quantity(executed),
            "cumQuote": f"{self.cum_quote:.5f}", "timeInForce": self.time_in_force,
            "type": self.type, "reduceOnly": self.reduce_only, "closePosition": False,
            "side": self.side, "positionSide": "BOTH", "stopPrice": "0",
            "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": self.type,
            "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0, "updateTime": self.update_ms,
        }
        if with_time:
            body["time"] = self.time_ms
        return body


@dataclass(slots=True)
class StubAlgoOrder:
    """One conditional order held by the algo service until triggered."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    order_type: str
    quantity: float
    trigger_price: float
    reduce_only: bool
    working_type: str
    status: str
    create_ms: int
    update_ms: int
    trigger_ms: int = 0
    actual_order_id: str = ""
    actual_price: float = 0.0
    account: str = ""

    def payload(self, rules: SymbolRules) -> dict[str, Any]:
        return {
            "algoId": self.algo_id, "clientAlgoId": self.client_algo_id,
            "algoType": "CONDITIONAL", "orderType": self.order_type, "symbol": self.symbol,
            "side": self.side, "positionSide": "BOTH", "timeInForce": "GTC",
            "quantity": rules.quantity(self.quantity), "algoStatus": self.status,
            "actualOrderId": self.actual_order_id, "actualPrice": f"{self.actual_price:.5f}",
            "triggerPrice": rules.price(self.trigger_price), "price": rules.price(0.0),
            "icebergQuantity": None, "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": self.working_type, "priceMatch": "NONE", "closePosition": False,
            "priceProtect": False, "reduceOnly": self.reduce_only,
            "createTime": self.create_ms, "updateTime": self.update_ms,
            "triggerTime": self.trigger_ms, "goodTillDate": 0,
        }


@dataclass(slots=True)
class MethodFault:
    """Answer `status`/`payload` to `method path` requests (after recording them, before the
    handler runs), `remaining` more times (forever if None)."""

    method: str
    path: str
    remaining: int | None
    status: int
    payload: Any

    def matches(self, method: str, path: str) -> bool:
        return self.method == method and self.path == path and self.remaining != 0


@dataclass(slots=True)
class Hold:
    """Process matching requests normally, then hold the answer `seconds` (or, with `drop`,
    close the connection without one), `remaining` more times (forever if None)."""

    method: str
    path: str
    remaining: int | None
    seconds: float
    drop: bool

    def matches(self, method: str, path: str) -> bool:
        return self.method == method and self.path == path and self.remaining != 0


def _fill_levels(market: StubMarket, side: str) -> list[tuple[float, float]]:
    """The levels a taker on `side` eats, best first."""
    levels = market.asks if side == "BUY" else market.bids
    return [(float(price), float(qty)) for price, qty in levels]


def _walk(levels: list[tuple[float, float]], quantity: float, side: str,
          limit: float | None) -> list[tuple[float, float]]:
    """Fills (price, quantity) taking `quantity` from `levels`, not beyond `limit`."""
    fills: list[tuple[float, float]] = []
    remaining = quantity
    for price, available in levels:
        if remaining <= EPSILON:
            break
        if limit is not None and (price > limit if side == "BUY" else price < limit):
            break
        take = min(available, remaining)
        fills.append((price, take))
        remaining -= take
    return fills


def _crosses(market: StubMarket, side: str, price: float) -> bool:
    best = _fill_levels(market, side)[0][0]
    return price >= best if side == "BUY" else price <= best


@dataclass
class BinanceOrderStub(BinanceStub):
    """`BinanceStub` with the order endpoints and an in-memory account (see the module doc)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._book_lock = threading.Lock()
        self._orders: list[StubOrder] = []
        self._algo_orders: list[StubAlgoOrder] = []
        self._holds: list[Hold] = []
        self._method_faults: list[MethodFault] = []
        self._order_ids = itertools.count(8_389_765_000_000_000_001)
        self._algo_ids = itertools.count(4_000_000_000_000_001)
        self.add_route("POST", ORDER_PATH, BinanceOrderStub._new_order, signed=True)
        self.add_route("GET", ORDER_PATH, BinanceOrderStub._query_order, signed=True)
        self.add_route("DELETE", ORDER_PATH, BinanceOrderStub._cancel_order, signed=True)
        self.add_route("POST", ALGO_ORDER_PATH, BinanceOrderStub._new_algo_order, signed=True)
        self.add_route("GET", ALGO_ORDER_PATH, BinanceOrderStub._query_algo_order, signed=True)
        self.add_route("DELETE", ALGO_ORDER_PATH, BinanceOrderStub._cancel_algo_order,
                       signed=True)
        self.add_route("GET", "/fapi/v3/positionRisk", BinanceOrderStub._position_risk,
                       signed=True)
        self.add_route("GET", "/fapi/v3/account", BinanceOrderStub._account, signed=True)

    # ---- account: positions from the filled orders, a fixed deposit ---------------------

    WALLET_USDT = 10_000.0

    def net_positions(self, account: str | None = None) -> dict[str, tuple[float, float]]:
        """symbol -> (signed base size, average entry price) from every fill so far (of one
        account's orders when `account` is given)."""
        sizes: dict[str, float] = {}
        costs: dict[str, float] = {}
        for order in self.orders:
            if account is not None and order.account != account:
                continue
            sign = 1.0 if order.side == "BUY" else -1.0
            sizes[order.symbol] = sizes.get(order.symbol, 0.0) + sign * order.executed
            costs[order.symbol] = costs.get(order.symbol, 0.0) + order.cum_quote
        return {s: (size, costs[s] / abs(size) if size else 0.0)
                for s, size in sizes.items() if abs(size) > 1e-12}

    def _position_risk(self, request: RecordedRequest) -> tuple[int, Any]:
        """`GET /fapi/v3/positionRisk`: Binance's V3 position fields for open positions."""
        rows = []
        for symbol, (size, entry) in self.net_positions(_account(request)).items():
            mark = entry
            rows.append({
                "symbol": symbol, "positionSide": "BOTH", "positionAmt": f"{size:.3f}",
                "entryPrice": f"{entry:.2f}", "breakEvenPrice": f"{entry:.2f}",
                "markPrice": f"{mark:.8f}", "unRealizedProfit": "0.00000000",
                "liquidationPrice": "0", "isolatedMargin": "0", "notional": f"{size * mark:.8f}",
                "marginAsset": "USDT", "isolatedWallet": "0",
                "initialMargin": f"{abs(size) * mark / 20:.8f}", "maintMargin": "0",
                "positionInitialMargin": f"{abs(size) * mark / 20:.8f}",
                "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0",
                "askNotional": "0", "updateTime": int(time.time() * 1000),
            })
        return 200, rows

    def _account(self, request: RecordedRequest) -> tuple[int, Any]:
        """`GET /fapi/v3/account`: the wallet summary fields Binance answers."""
        margin = sum(abs(size) * entry / 20
                     for size, entry in self.net_positions(_account(request)).values())
        wallet = f"{self.WALLET_USDT:.8f}"
        return 200, {
            "totalInitialMargin": f"{margin:.8f}", "totalMaintMargin": "0",
            "totalWalletBalance": wallet, "totalUnrealizedProfit": "0.00000000",
            "totalMarginBalance": wallet, "totalPositionInitialMargin": f"{margin:.8f}",
            "totalOpenOrderInitialMargin": "0", "totalCrossWalletBalance": wallet,
            "totalCrossUnPnl": "0", "availableBalance": f"{self.WALLET_USDT - margin:.8f}",
            "maxWithdrawAmount": f"{self.WALLET_USDT - margin:.8f}",
            "assets": [{"asset": "USDT", "walletBalance": wallet, "unrealizedProfit": "0",
                        "marginBalance": wallet, "maintMargin": "0",
                        "initialMargin": f"{margin:.8f}", "positionInitialMargin": "0",
                        "openOrderInitialMargin": "0", "crossWalletBalance": wallet,
                        "crossUnPnl": "0", "availableBalance": wallet,
                        "maxWithdrawAmount": wallet, "updateTime": 0}],
            "positions": [],
        }

    # ---- state, for assertions ----------------------------------------------------------

    @property
    def orders(self) -> list[StubOrder]:
        """Every order the matching engine accepted, oldest first (a copy)."""
        with self._book_lock:
            return list(self._orders)

    @property
    def algo_orders(self) -> list[StubAlgoOrder]:
        """Every conditional order the algo service accepted, oldest first (a copy)."""
        with self._book_lock:
            return list(self._algo_orders)

    def orders_with_client_id(self, client_order_id: str) -> list[StubOrder]:
        return [o for o in self.orders if o.client_order_id == client_order_id]

    def rules(self, symbol: str) -> SymbolRules:
        entry = next(s for s in self.exchange_info["symbols"] if s["symbol"] == symbol)
        return SymbolRules.from_exchange_info(entry)

    # ---- fault knobs ----------------------------------------------------------------------

    def hold_after_accept(self, seconds: float, times: int | None = 1, method: str = "POST",
                          path: str = ORDER_PATH) -> Hold:
        """Accept the next `times` orders but hold each answer `seconds` (a client with a
        shorter timeout gives up although the order exists)."""
        return self._add_hold(Hold(method, path, times, seconds, drop=False))

    def drop_after_accept(self, times: int | None = 1, method: str = "POST",
                          path: str = ORDER_PATH) -> Hold:
        """Accept the next `times` orders, then close the connection without an answer."""
        return self._add_hold(Hold(method, path, times, 0.0, drop=True))

    def fail_before_accept(self, times: int | None = 1, status: int = 503,
                           path: str = ORDER_PATH) -> MethodFault:
        """Answer the next `times` new orders (POST to `path`) with a gateway error before they
        reach the matching engine (no order is created)."""
        return self.fail_requests("POST", path, times=times, status=status)

    def fail_requests(self, method: str, path: str, times: int | None = 1, status: int = 503,
                      payload: Any = "Service Unavailable") -> MethodFault:
        """Answer the next `times` `method path` requests with `status` and `payload` (a str
        as text/plain, like a gateway error page)."""
        fault = MethodFault(method.upper(), path, times, status, payload)
        with self._book_lock:
            self._method_faults.append(fault)
        return fault

    def clear_holds(self) -> None:
        with self._book_lock:
            self._holds.clear()
            self._method_faults.clear()

    def _add_hold(self, hold: Hold) -> Hold:
        with self._book_lock:
            self._holds.append(hold)
        return hold

    def _take_hold(self, method: str, path: str) -> Hold | None:
        with self._book_lock:
            for hold in self._holds:
                if hold.matches(method, path):
                    if hold.remaining is not None:
                        hold.remaining -= 1
                    return hold
        return None

    def _dispatch(self, request: RecordedRequest) -> Response:
        with self._book_lock:
            fault = next((f for f in self._method_faults
                          if f.matches(request.method, request.path)), None)
            if fault is not None and fault.remaining is not None:
                fault.remaining -= 1
        if fault is not None:
            return fault.status, fault.payload
        return super()._dispatch(request)

    async def _handle(self, http_request: web.Request) -> web.StreamResponse:
        hold = self._take_hold(http_request.method, http_request.path)
        response = await super()._handle(http_request)
        if hold is None:
            return response
        if hold.drop:
            if http_request.transport is not None:
                http_request.transport.close()
            return response
        await asyncio.sleep(hold.seconds)
        return response

    # ---- trading ---------------------------------------------------------------------------

    def trigger_stop(self, client_algo_id: str) -> StubOrder:
        """Trigger the open conditional order `client_algo_id`: it becomes a market order
        filled against the depth, and the algo order FINISHED with its `actualOrderId`."""
        with self._book_lock:
            algo = next(a for a in self._algo_orders
                        if a.client_algo_id == client_algo_id and a.status == "NEW")
            order = self._execute_market(self.markets[algo.symbol], algo.client_algo_id,
                                         algo.side, algo.quantity, algo.reduce_only)
            order.account = algo.account
            self._orders.append(order)
            now = self.clock_ms()
            algo.status, algo.update_ms, algo.trigger_ms = "FINISHED", now, now
            algo.actual_order_id = str(order.order_id)
            algo.actual_price = order.cum_quote / order.executed if order.executed else 0.0
            return order

    def _execute_market(self, market: StubMarket, client_order_id: str, side: str,
                        quantity: float, reduce_only: bool) -> StubOrder:
        now = self.clock_ms()
        fills = _walk(_fill_levels(market, side), quantity, side, limit=None)
        order = StubOrder(next(self._order_ids), client_order_id, market.symbol, side, "MARKET",
                          quantity, 0.0, "GTC", reduce_only, "NEW", now, now, fills)
        order.status = "FILLED" if order.executed >= quantity - EPSILON else "EXPIRED"
        return order

    def _execute_limit(self, market: StubMarket, order: StubOrder) -> None:
        """Match a new limit order against the depth; the rest rests (GTC) or expires (IOC)."""
        if _crosses(market, order.side, order.price):
            order.fills = _walk(_fill_levels(market, order.side), order.quantity, order.side,
                                limit=order.price)
        executed = order.executed
        if executed >= order.quantity - EPSILON:
            order.status = "FILLED"
        elif order.time_in_force == "IOC":
            order.status = "EXPIRED"
        else:
            order.status = "PARTIALLY_FILLED" if executed > 0 else "NEW"

    # ---- /fapi/v1/order ---------------------------------------------------------------------

    def _new_order(self, request: RecordedRequest) -> Response:
        market = self.market_for(request)
        if not isinstance(market, StubMarket):
            return market
        params = request.params
        problem = self._order_problem(params, market)
        if problem is not None:
            return problem
        rules = self.rules(market.symbol)
        account = _account(request)
        with self._book_lock:
            client_id = params["newClientOrderId"]
            if any(o.client_order_id == client_id and o.is_open and o.account == account
                   for o in self._orders):
                return binance_error(-4116, "ClientOrderId is duplicated.")
            order = self._accept_order(market, params)
            if isinstance(order, tuple):
                return order
            order.account = account
            self._orders.append(order)
            return 200, order.payload(rules, with_time=False)

    def _order_problem(self, params: dict[str, str], market: StubMarket) -> Response | None:
        """Binance's error for a malformed new order, or None."""
        for name in ("side", "type", "quantity", "newClientOrderId"):
            if not params.get(name):
                return binance_error(
                    -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or "
                    "malformed."
                )
        if not CLIENT_ID_PATTERN.match(params["newClientOrderId"]):
            return binance_error(-4015, "Client order id is not valid.")
        if params["side"] not in ("BUY", "SELL"):
            return binance_error(-1117, "Invalid side.")
        order_type = params["type"]
        if order_type in CONDITIONAL_TYPES:
            return binance_error(-4120, "Order type not supported for this endpoint. Please use "
                                        "the Algo Order API endpoints instead.")
        if order_type not in ("MARKET", "LIMIT"):
            return binance_error(-1116, "Invalid orderType.")
        return self._grid_problem(params, market, price_needed=order_type == "LIMIT")

    def _grid_problem(self, params: dict[str, str], market: StubMarket,
                      price_needed: bool, price_name: str = "price") -> Response | None:
        rules = self.rules(market.symbol)
        quantity = float(params["quantity"])
        if quantity <= 0:
            return binance_error(-4003, "Quantity less than or equal to zero.")
        if not _on_grid(quantity, rules.step_size):
            return binance_error(-1111, "Precision is over the maximum defined for this asset.")
        if not price_needed:
            return None
        if not params.get(price_name):
            return binance_error(-1102, f"Mandatory parameter '{price_name}' was not sent, was "
                                        "empty/null, or malformed.")
        price = float(params[price_name])
        if price <= 0 or not _on_grid(price, rules.tick_size):
            return binance_error(-4014, "Price not increased by tick size.")
        return None

    def _accept_order(self, market: StubMarket, params: dict[str, str]) -> StubOrder | Response:
        """The order the matching engine makes of valid `params` (lock held), or an error."""
        side, quantity = params["side"], float(params["quantity"])
        reduce_only = params.get("reduceOnly", "false") == "true"
        client_id = params["newClientOrderId"]
        if params["type"] == "MARKET":
            return self._execute_market(market, client_id, side, quantity, reduce_only)
        time_in_force = params.get("timeInForce", "")
        if time_in_force not in ("GTC", "IOC", "GTX"):
            return binance_error(-1115, "Invalid timeInForce.")
        price = float(params["price"])
        if time_in_force == "GTX" and _crosses(market, side, price):
            return binance_error(-5022, "Due to the order could not be executed as maker, the "
                                        "Post Only order will be rejected.")
        now = self.clock_ms()
        order = StubOrder(next(self._order_ids), client_id, market.symbol, side, "LIMIT",
                          quantity, price, time_in_force, reduce_only, "NEW", now, now)
        self._execute_limit(market, order)
        return order

    def _find_order(self, params: dict[str, str], symbol: str, account: str
                    ) -> StubOrder | None:
        """The account's order named by `orderId` or `origClientOrderId` (the latest with that
        id)."""
        with self._book_lock:
            candidates = [o for o in self._orders if o.symbol == symbol and o.account == account]
        if params.get("orderId"):
            return next((o for o in candidates if str(o.order_id) == params["orderId"]), None)
        client_id = params.get("origClientOrderId")
        matching = [o for o in candidates if o.client_order_id == client_id]
        return matching[-1] if matching else None

    def _id_problem(self, params: dict[str, str], id_names: tuple[str, str]) -> Response | None:
        if not any(params.get(name) for name in id_names):
            first, second = id_names
            return binance_error(-1102, f"Param '{second}' or '{first}' must be sent, but both "
                                        "were empty/null!")
        return None

    def _query_order(self, request: RecordedRequest) -> Response:
        market = self.market_for(request)
        if not isinstance(market, StubMarket):
            return market
        problem = self._id_problem(request.params, ("orderId", "origClientOrderId"))
        if problem is not None:
            return problem
        order = self._find_order(request.params, market.symbol, _account(request))
        if order is None:
            return binance_error(-2013, "Order does not exist.")
        with self._book_lock:
            return 200, order.payload(self.rules(market.symbol))

    def _cancel_order(self, request: RecordedRequest) -> Response:
        market = self.market_for(request)
        if not isinstance(market, StubMarket):
            return market
        problem = self._id_problem(request.params, ("orderId", "origClientOrderId"))
        if problem is not None:
            return problem
        order = self._find_order(request.params, market.symbol, _account(request))
        with self._book_lock:
            if order is None or not order.is_open:
                return binance_error(-2011, "Unknown order sent.")
            order.status, order.update_ms = "CANCELED", self.clock_ms()
            return 200, order.payload(self.rules(market.symbol), with_time=False)

    # ---- /fapi/v1/algoOrder -----------------------------------------------------------------

    def _new_algo_order(self, request: RecordedRequest) -> Response:
        market = self.market_for(request)
        if not isinstance(market, StubMarket):
            return market
        params = request.params
        problem = self._algo_problem(params, market)
        if problem is not None:
            return problem
        account = _account(request)
        with self._book_lock:
            client_id = params["clientAlgoId"]
            if any(a.client_algo_id == client_id and a.status == "NEW" and a.account == account
                   for a in self._algo_orders):
                return binance_error(-4116, "ClientOrderId is duplicated.")
            now = self.clock_ms()
            algo = StubAlgoOrder(
                next(self._algo_ids), client_id, market.symbol, params["side"], params["type"],
                float(params["quantity"]), float(params["triggerPrice"]),
                params.get("reduceOnly", "false") == "true",
                params.get("workingType", "CONTRACT_PRICE"), "NEW", now, now, account=account,
            )
            self._algo_orders.append(algo)
            return 200, algo.payload(self.rules(market.symbol))

    def _algo_problem(self, params: dict[str, str], market: StubMarket) -> Response | None:
        for name in ("algoType", "side", "type", "quantity", "clientAlgoId"):
            if not params.get(name):
                return binance_error(
                    -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or "
                    "malformed."
                )
        if params["algoType"] != "CONDITIONAL":
            return binance_error(-1116, "Invalid algoType.")
        if not CLIENT_ID_PATTERN.match(params["clientAlgoId"]):
            return binance_error(-4015, "Client order id is not valid.")
        if params["side"] not in ("BUY", "SELL"):
            return binance_error(-1117, "Invalid side.")
        if params["type"] not in ALGO_TYPES:
            return binance_error(-1116, "Invalid orderType.")
        return self._grid_problem(params, market, price_needed=True, price_name="triggerPrice")

    def _find_algo(self, params: dict[str, str], account: str) -> StubAlgoOrder | None:
        with self._book_lock:
            algos = [a for a in self._algo_orders if a.account == account]
        if params.get("algoId"):
            return next((a for a in algos if str(a.algo_id) == params["algoId"]), None)
        matching = [a for a in algos if a.client_algo_id == params.get("clientAlgoId")]
        return matching[-1] if matching else None

    def _query_algo_order(self, request: RecordedRequest) -> Response:
        problem = self._id_problem(request.params, ("algoId", "clientAlgoId"))
        if problem is not None:
            return problem
        algo = self._find_algo(request.params, _account(request))
        if algo is None:
            return binance_error(-2013, "Order does not exist.")
        with self._book_lock:
            return 200, algo.payload(self.rules(algo.symbol))

    def _cancel_algo_order(self, request: RecordedRequest) -> Response:
        problem = self._id_problem(request.params, ("algoId", "clientAlgoId"))
        if problem is not None:
            return problem
        algo = self._find_algo(request.params, _account(request))
        with self._book_lock:
            if algo is None or algo.status != "NEW":
                return binance_error(-2011, "Unknown order sent.")
            algo.status, algo.update_ms = "CANCELED", self.clock_ms()
            return 200, {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id,
                         "code": "200", "msg": "success"}


def _account(request: RecordedRequest) -> str:
    """The account a signed request speaks for (its API key)."""
    return request.headers.get("x-mbx-apikey", "")


def vwap(fills: list[tuple[float, float]]) -> float:
    """Volume-weighted price of (price, quantity) fills (NaN without fills)."""
    quantity = sum(q for _, q in fills)
    return sum(p * q for p, q in fills) / quantity if quantity > 0 else math.nan
