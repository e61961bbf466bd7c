"""`LiveRouter`: orders to Binance USD-M through async ccxt (`TRADING_MODE=live` only).

Mapping of `OrderRequest` to Binance (`client_order_id` is sent as the exchange's client id,
so every order can be looked up by it):

- market -> `POST /fapi/v1/order` type MARKET, `newClientOrderId`;
- limit -> type LIMIT with `timeInForce` GTC, IOC, or GTX for POST_ONLY;
- stop -> a stop-market order. Since 2025-12-09 Binance takes conditional orders only on its
  algo service, so ccxt sends it to `POST /fapi/v1/algoOrder` (type STOP_MARKET,
  `algoType=CONDITIONAL`, `triggerPrice`, `clientAlgoId`); it is looked up and cancelled
  there too, and once triggered its fills are those of the market order it became;
- `reduce_only` -> `reduceOnly=true`. `leverage` is not sent: the account's leverage setting
  for the symbol applies.

Quantities and prices must lie on the symbol's step and tick grid: the router refuses an order
rather than let ccxt round it. Orders the router or the exchange refuses come back with status
`rejected` and the reason; infrastructure failures raise `LiveRoutingError`.

No order is sent twice. A `create_order` that fails without a definite answer from the exchange
(timeout, dropped connection, 5xx, unparseable answer) may still have placed the order, so it is
never simply retried: the router looks the order up by its client id. An order found is the
answer. "Order does not exist" (-2013) is only believed once the original request can no longer
be accepted, i.e. once its `recvWindow` (plus a clock-skew margin) has passed since the failure,
because Binance refuses requests older than that; before then the router waits and asks again.
Only then is the order sent again (with a fresh timestamp), at most `max_sends` times in all,
and only after a transport failure (ccxt's `OperationFailed`: network errors, timeouts, bad or
empty answers); any other error is raised once the lookup has found nothing. A lookup that
itself cannot get an answer raises `OrderStateUnknownError` and nothing is resent.
A resend refused as a duplicate client id (-4116) is resolved by the same lookup. Other
requests (market load, lookups, fetch, cancel) are retried on network errors only.

API keys are `SecretStr`; the router refuses to exist without them, so a live service without
keys fails at start-up. They never appear in logs (ccxt's debug log of request headers is
redacted), in exception messages or in `repr`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt
from pydantic import SecretStr
from tenacity import RetryCallState

from execsvc.domain.orders import (
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    order_shape_problem,
)
from execsvc.market.ccxt_client import (
    build_exchange_client,
    network_retrying,
    redacting_logger,
)
from execsvc.market.types import MarketSourceError
from execsvc.venues.errors import (
    LiveRoutingError,
    MissingExchangeKeysError,
    OrderStateUnknownError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

SUPPORTED_EXCHANGE = "binanceusdm"
CLIENT_ID_PATTERN = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
ORDER_DOES_NOT_EXIST = -2013
UNKNOWN_ORDER_SENT = -2011
CLIENT_ID_DUPLICATED = -4116
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "POST_ONLY": "GTX"}
TERMINAL_CCXT_STATUSES: dict[str, OrderStatus] = {
    "closed": "filled", "canceled": "canceled", "rejected": "rejected", "expired": "expired",
    "failed": "rejected",
}
_CODE = re.compile(r'"code"\s*:\s*"?(-?\d+)')


@dataclass(frozen=True, slots=True)
class _Placement:
    """The arguments of one `create_order` call."""

    symbol: str
    type: str
    side: str
    amount: float
    price: float | None
    params: dict[str, Any]


def binance_error_code(exc: BaseException) -> int | None:
    """The Binance error code (`{"code": -2013, ...}`) carried in a ccxt error's text."""
    match = _CODE.search(str(exc))
    return int(match.group(1)) if match else None


def _order_absent(exc: BaseException) -> bool:
    """Whether a lookup failed because the exchange holds no such order (-2013)."""
    code = binance_error_code(exc)
    if code is not None:
        return code == ORDER_DOES_NOT_EXIST
    return isinstance(exc, ccxt.OrderNotFound)


def _same_quantity(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


class LiveRouter:
    """Routes orders to Binance USD-M through async ccxt with the no-duplicate protocol of the
    module doc.

    `api_key`/`secret` are required. `timeout_ms` is the per-request HTTP timeout;
    `recv_window_ms` the validity Binance gives each signed request, and `clock_skew_ms` a
    margin for the difference between our clock and Binance's: together they are how long
    after an ambiguous failure "order does not exist" becomes final. `max_sends` bounds the
    sends of one order; other requests are tried `retry_attempts` times on network errors,
    waiting `retry_wait_s * 2**k` (at most `retry_max_wait_s`) seconds in between. `base_url`
    replaces `https://fapi.binance.com` (tests point it at a local server), `urls_override`
    sets individual `exchange.urls['api']` entries.
    """

    def __init__(
        self,
        *,
        api_key: SecretStr | None,
        secret: SecretStr | None,
        exchange_id: str = SUPPORTED_EXCHANGE,
        timeout_ms: int = 10_000,
        recv_window_ms: int = 5_000,
        clock_skew_ms: int = 1_000,
        max_sends: int = 3,
        retry_attempts: int = 4,
        retry_wait_s: float = 0.5,
        retry_max_wait_s: float = 8.0,
        base_url: str | None = None,
        urls_override: dict[str, str] | None = None,
    ) -> None:
        if exchange_id != SUPPORTED_EXCHANGE:
            raise LiveRoutingError(
                f"live order routing supports {SUPPORTED_EXCHANGE} only (its client order id "
                f"lookup makes resends safe), not {exchange_id!r}"
            )
        _require_keys(api_key, secret)
        self._exchange_id = exchange_id
        self._settle_s = (recv_window_ms + clock_skew_ms) / 1000.0
        self._max_sends = max(1, max_sends)
        self._retry_attempts = max(1, retry_attempts)
        self._retry_wait_s = retry_wait_s
        self._retry_max_wait_s = retry_max_wait_s
        self._log = redacting_logger(log, [api_key, secret])
        try:
            self._exchange = build_exchange_client(
                exchange_id, timeout_ms=timeout_ms, api_key=api_key, secret=secret,
                logger=self._log, base_url=base_url, urls_override=urls_override,
            )
        except MarketSourceError as exc:
            raise LiveRoutingError(str(exc)) from exc
        self._exchange.options["recvWindow"] = recv_window_ms
        self._markets_lock = asyncio.Lock()
        self._markets_loaded = False

    def __repr__(self) -> str:
        return f"LiveRouter(exchange={self._exchange_id!r}, keys='***')"

    @property
    def exchange_id(self) -> str:
        return self._exchange_id

    @property
    def settle_s(self) -> float:
        """Seconds after which a request signed at some moment can no longer be accepted by
        the exchange (recvWindow plus the clock-skew margin)."""
        return self._settle_s

    # ---- public API -----------------------------------------------------------------------

    async def submit(self, request: OrderRequest, timeout_s: float | None = None) -> Order:
        """Place `request` once: the order as the exchange reports it, or a `rejected` order
        with the reason. Raises `OrderStateUnknownError` when it cannot tell whether the
        exchange holds the order (also when `timeout_s` passes first: nothing is sent after
        it), `LiveRoutingError` for other failures."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self._submit(request)
        except TimeoutError as exc:
            raise OrderStateUnknownError(
                f"{self._exchange_id} submit {request.client_order_id} failed: no answer "
                f"within {timeout_s:g} s; the order may exist, it was not sent again"
            ) from exc

    async def find(self, request: OrderRequest) -> Order | None:
        """The exchange's order with the request's client id, or None when it holds none (a
        final answer only once a send can no longer arrive: `settle_s` after the last one).
        Raises `OrderStateUnknownError` when the lookup gets no answer, `LiveRoutingError`
        when the id names a different order."""
        market = await self._known_market(request, "lookup")
        raw = await self._lookup(request, market)
        if raw is None:
            return None
        self._check_same_order(request, raw)
        return await self._order(request, market, raw)

    async def _submit(self, request: OrderRequest) -> Order:
        problem = _request_problem(request)
        if problem is not None:
            return self._rejected(request, problem)
        market = await self._market(request, "submit")
        if market is None:
            return self._rejected(request, f"the exchange lists no market {request.symbol}")
        placement = self._placement(request, market)
        if isinstance(placement, str):
            return self._rejected(request, placement)
        for send in range(1, self._max_sends + 1):
            try:
                raw = await self._create(placement)
            except ccxt.ExchangeError as exc:
                return await self._refused(request, market, exc)
            except Exception as exc:
                raw = await self._recover(request, market, exc, send)
                if raw is None and not isinstance(exc, ccxt.OperationFailed):
                    # Not a transport failure but a local one: sending again would repeat it.
                    reason = self._reason("submit", request.client_order_id, exc)
                    raise LiveRoutingError(reason + "; the exchange holds no such order") from exc
                if raw is None:
                    continue
            return await self._order(request, market, raw)
        raise LiveRoutingError(
            f"{self._exchange_id} submit {request.client_order_id} failed: no answer after "
            f"{self._max_sends} sends, and the exchange holds no order with this client id"
        )

    async def fetch(self, order: Order) -> Order:
        """The order's current state at the exchange, looked up by its client order id."""
        request = order.request
        market = await self._known_market(request, "fetch")
        try:
            raw = await self._call("fetch", request.client_order_id, self._exchange.fetch_order,
                                   None, market["symbol"], _lookup_params(request))
        except ccxt.BaseError as exc:
            raise LiveRoutingError(self._reason("fetch", request.client_order_id, exc)) from exc
        return await self._order(request, market, raw)

    async def cancel(self, order: Order) -> Order:
        """Cancel the order; an order that is no longer open comes back in its final state."""
        request = order.request
        market = await self._known_market(request, "cancel")
        try:
            raw = await self._call("cancel", request.client_order_id,
                                   self._exchange.cancel_order, None, market["symbol"],
                                   _lookup_params(request))
        except ccxt.BaseError as exc:
            if binance_error_code(exc) in (UNKNOWN_ORDER_SENT, ORDER_DOES_NOT_EXIST):
                return await self.fetch(order)
            raise LiveRoutingError(self._reason("cancel", request.client_order_id, exc)) from exc
        if raw.get("status") is None:
            # Binance answers an algo-order cancel with the ids only.
            return await self.fetch(order)
        return await self._order(request, market, raw)

    async def positions(self) -> list[Position]:
        """Open positions on the exchange account (`fetch_positions`), sizes signed."""
        return [p for p, _, _ in await self.marked_positions()]

    async def marked_positions(self) -> list[tuple[Position, float | None, float]]:
        """(position, mark price, unrealised PnL in quote) for every non-zero position."""
        try:
            raw = await self._call("positions", "-", self._exchange.fetch_positions)
        except ccxt.BaseError as exc:
            raise LiveRoutingError(self._reason("positions", "-", exc)) from exc
        marked = []
        for item in raw:
            contracts = float(item.get("contracts") or 0.0)
            if contracts == 0.0:
                continue
            size = contracts if item.get("side") == "long" else -contracts
            market_id = (item.get("info") or {}).get("symbol") or item.get("symbol")
            position = Position(
                symbol=str(market_id), size=size,
                entry_price=float(item.get("entryPrice") or 0.0),
                leverage=float(item.get("leverage") or 0.0),
                margin_quote=float(item.get("initialMargin") or item.get("collateral") or 0.0),
                liquidation_price=_float_or_none(item.get("liquidationPrice")),
            )
            marked.append((position, _float_or_none(item.get("markPrice")),
                           float(item.get("unrealizedPnl") or 0.0)))
        return marked

    async def balance(self) -> dict[str, Any]:
        """Wallet figures of the futures account in its settle currency (`fetch_balance`)."""
        try:
            raw = await self._call("balance", "-", self._exchange.fetch_balance)
        except ccxt.BaseError as exc:
            raise LiveRoutingError(self._reason("balance", "-", exc)) from exc
        info = raw.get("info") or {}
        return {
            "balance_quote": float(info.get("totalWalletBalance") or 0.0),
            "unrealized_pnl_quote": float(info.get("totalUnrealizedProfit") or 0.0),
            "margin_balance_quote": float(info.get("totalMarginBalance") or 0.0),
            "position_margin_quote": float(info.get("totalPositionInitialMargin")
                                           or info.get("totalInitialMargin") or 0.0),
            "available_quote": float(info.get("availableBalance") or 0.0),
        }

    async def close(self) -> None:
        """Close the ccxt client's HTTP session."""
        await self._exchange.close()

    # ---- submit protocol ------------------------------------------------------------------

    async def _create(self, placement: _Placement) -> dict[str, Any]:
        return await self._exchange.create_order(
            placement.symbol, placement.type, placement.side, placement.amount, placement.price,
            dict(placement.params),
        )

    async def _recover(
        self, request: OrderRequest, market: dict[str, Any], exc: Exception, send: int
    ) -> dict[str, Any] | None:
        """After a send with no definite answer: the order if the exchange holds it, None once
        it certainly does not (so it may be sent again)."""
        failed_at = time.monotonic()
        self._log.warning(
            "%s; looking the order up before any resend",
            self._reason("submit", request.client_order_id, exc,
                         f"(send {send} of {self._max_sends})"),
        )
        raw = await self._lookup(request, market)
        remaining = failed_at + self._settle_s - time.monotonic()
        if raw is None and remaining > 0:
            # The request may still be in flight: wait until Binance would refuse it.
            await asyncio.sleep(remaining)
            raw = await self._lookup(request, market)
        if raw is not None:
            self._check_same_order(request, raw)
        return raw

    async def _refused(
        self, request: OrderRequest, market: dict[str, Any], exc: ccxt.ExchangeError
    ) -> Order:
        """A definite refusal: a rejected order, except a duplicate client id (the order we
        sent earlier: returned) and authentication errors (raised)."""
        cid = request.client_order_id
        if binance_error_code(exc) == CLIENT_ID_DUPLICATED:
            raw = await self._lookup(request, market)
            if raw is None:
                raise OrderStateUnknownError(
                    self._reason("submit", cid, exc) + "; yet no order with this id was found"
                ) from exc
            self._check_same_order(request, raw)
            return await self._order(request, market, raw)
        if isinstance(exc, ccxt.AuthenticationError):
            raise LiveRoutingError(self._reason("submit", cid, exc)) from exc
        reason = self._reason("submit", cid, exc)
        self._log.warning("%s", reason)
        return self._rejected(request, reason)

    async def _lookup(self, request: OrderRequest, market: dict[str, Any]) -> dict[str, Any] | None:
        """The exchange's order with the request's client id, or None if it holds none."""
        cid = request.client_order_id
        try:
            return await self._call("lookup", cid, self._exchange.fetch_order, None,
                                    market["symbol"], _lookup_params(request))
        except Exception as exc:
            if _order_absent(exc):
                return None
            raise OrderStateUnknownError(
                self._reason("lookup", cid, exc) + "; the order may exist, it was not sent again"
            ) from exc

    def _check_same_order(self, request: OrderRequest, raw: dict[str, Any]) -> None:
        """Refuse an exchange order with our client id that is not the one requested."""
        side = raw.get("side")
        amount = raw.get("amount")
        same = side == request.side and (
            amount is None or _same_quantity(float(amount), request.quantity)
        )
        if not same:
            raise LiveRoutingError(
                f"{self._exchange_id} submit {request.client_order_id} failed: the exchange "
                f"already holds a different order with this client id ({side} {amount})"
            )

    # ---- mapping ----------------------------------------------------------------------------

    def _placement(self, request: OrderRequest, market: dict[str, Any]) -> _Placement | str:
        """The `create_order` arguments for `request`, or why it cannot be sent."""
        symbol = market["symbol"]
        off_grid = self._off_grid(request, symbol)
        if off_grid is not None:
            return off_grid
        params: dict[str, Any] = {}
        price = None
        order_type = request.type
        if request.type == "stop":
            order_type = "market"
            params["clientAlgoId"] = request.client_order_id
            params["triggerPrice"] = request.stop_price
        else:
            params["newClientOrderId"] = request.client_order_id
        if request.type == "limit":
            price = request.price
            params["timeInForce"] = TIME_IN_FORCE[request.time_in_force]
        if request.reduce_only:
            params["reduceOnly"] = True
        return _Placement(symbol, order_type, request.side, request.quantity, price, params)

    def _off_grid(self, request: OrderRequest, symbol: str) -> str | None:
        """Why the quantity or a price is off the symbol's step or tick grid, or None."""
        checks = [("quantity", request.quantity, self._exchange.amount_to_precision)]
        if request.type == "limit" and request.price is not None:
            checks.append(("price", request.price, self._exchange.price_to_precision))
        if request.type == "stop" and request.stop_price is not None:
            checks.append(("stop_price", request.stop_price, self._exchange.price_to_precision))
        for name, value, to_precision in checks:
            try:
                snapped = float(to_precision(symbol, value))
            except ccxt.BaseError as exc:
                return f"{name} {value} is not accepted for {request.symbol}: {exc}"
            if not _same_quantity(snapped, value):
                return (f"{name} {value} is not a multiple of the {request.symbol} "
                        f"{'step size' if name == 'quantity' else 'tick size'} "
                        f"(nearest accepted: {snapped})")
        return None

    async def _order(
        self, request: OrderRequest, market: dict[str, Any], raw: dict[str, Any]
    ) -> Order:
        """`Order` from a ccxt order; a triggered stop reports the fills of the market order
        it became."""
        info = raw.get("info") or {}
        actual_id = info.get("actualOrderId") if request.type == "stop" else None
        fills_from = raw
        if actual_id:
            cid = request.client_order_id
            try:
                fills_from = await self._call("fetch", cid, self._exchange.fetch_order,
                                              str(actual_id), market["symbol"])
            except ccxt.BaseError as exc:
                stage = f"reading triggered order {actual_id}"
                raise LiveRoutingError(self._reason("fetch", cid, exc, stage)) from exc
        return _to_order(request, raw, fills_from, market.get("quote"))

    def _rejected(self, request: OrderRequest, reason: str) -> Order:
        now = int(time.time() * 1000)
        return Order(id=request.client_order_id, request=request, status="rejected",
                     created_at_ms=now, updated_at_ms=now, reason=reason)

    # ---- plumbing -----------------------------------------------------------------------------

    def _reason(self, operation: str, client_order_id: str, exc: BaseException,
                stage: str = "") -> str:
        """`<exchange> <operation> <client order id> failed[ <stage>]: <type>: <redacted>`."""
        detail = self._log.redact(str(exc)) or "no detail"
        where = f" {stage}" if stage else ""
        return (f"{self._exchange_id} {operation} {client_order_id} failed{where}: "
                f"{type(exc).__name__}: {detail}")

    async def _call(
        self, operation: str, client_order_id: str, call: Callable[..., Awaitable[T]], *args: Any
    ) -> T:
        """One ccxt call, retried with exponential backoff on `ccxt.NetworkError` only."""
        retrying = network_retrying(self._retry_attempts, self._retry_wait_s,
                                    self._retry_max_wait_s,
                                    self._log_retry(operation, client_order_id))

        async def attempt() -> T:
            return await call(*args)

        return await retrying(attempt)

    def _log_retry(self, operation: str, client_order_id: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            wait_s = state.next_action.sleep if state.next_action is not None else 0.0
            self._log.warning(
                "%s; attempt %d of %d, retrying in %.2f s",
                self._reason(operation, client_order_id, exc) if exc else operation,
                state.attempt_number, self._retry_attempts, wait_s,
            )

        return before_sleep

    async def _market(self, request: OrderRequest, operation: str) -> dict[str, Any] | None:
        """The ccxt market whose exchange id is `request.symbol` (None if not listed); loads
        markets once."""
        if not self._markets_loaded:
            async with self._markets_lock:
                if not self._markets_loaded:
                    try:
                        await self._call("load_markets", request.client_order_id,
                                         self._exchange.load_markets)
                    except Exception as exc:
                        reason = self._reason(operation, request.client_order_id, exc,
                                              "while loading markets")
                        raise LiveRoutingError(reason) from exc
                    self._markets_loaded = True
        found = (self._exchange.markets_by_id or {}).get(request.symbol)
        if isinstance(found, list):
            return found[0] if found else None
        return found

    async def _known_market(self, request: OrderRequest, operation: str) -> dict[str, Any]:
        market = await self._market(request, operation)
        if market is None:
            raise LiveRoutingError(
                f"{self._exchange_id} {operation} {request.client_order_id} failed: the "
                f"exchange lists no market {request.symbol}"
            )
        return market


# ---- helpers -------------------------------------------------------------------------------------


def _require_keys(api_key: SecretStr | None, secret: SecretStr | None) -> None:
    """Raise `MissingExchangeKeysError` naming the settings that are unset or blank."""
    missing = [
        name for name, value in (("EXECSVC_EXCHANGE_API_KEY", api_key),
                                 ("EXECSVC_EXCHANGE_SECRET", secret))
        if value is None or not value.get_secret_value().strip()
    ]
    if missing:
        raise MissingExchangeKeysError(
            "live trading needs exchange API keys; set " + " and ".join(missing)
        )


def _request_problem(request: OrderRequest) -> str | None:
    """Why `request` cannot be routed as it stands, or None."""
    if not CLIENT_ID_PATTERN.match(request.client_order_id):
        return ("client_order_id must be 1-36 characters of letters, digits and . : / _ - "
                f"for Binance, got {request.client_order_id!r}")
    problem = order_shape_problem(request.type, request.quantity, request.price,
                                  request.stop_price, request.time_in_force)
    return None if problem is None else problem[1]


def _float_or_none(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def _lookup_params(request: OrderRequest) -> dict[str, Any]:
    """ccxt params naming the order by its client id (stops live on Binance's algo service)."""
    if request.type == "stop":
        return {"clientAlgoId": request.client_order_id, "trigger": True}
    return {"origClientOrderId": request.client_order_id}


def _status(raw_status: str | None, filled: float) -> tuple[OrderStatus, str | None]:
    """Our status for a ccxt status, and a note when the exchange's status is unfamiliar (such
    an order is kept open so it is not forgotten)."""
    status = (raw_status or "").lower()
    if status in TERMINAL_CCXT_STATUSES:
        return TERMINAL_CCXT_STATUSES[status], None
    open_status: OrderStatus = "partially_filled" if filled > 0 else "new"
    if status == "open":
        return open_status, None
    return open_status, f"unrecognised exchange order status {raw_status!r}"


def _fees_quote(raw: dict[str, Any], quote: str | None) -> float:
    """Fees in the quote currency reported with the order (Binance's order endpoints report
    none: commissions come with the account's trades)."""
    fees = raw.get("fees") or ([raw["fee"]] if raw.get("fee") else [])
    return sum(float(f["cost"]) for f in fees
               if f and f.get("cost") is not None and f.get("currency") in (None, quote))


def _positive(value: Any) -> float | None:
    return float(value) if value is not None and float(value) > 0 else None


def _to_order(
    request: OrderRequest, raw: dict[str, Any], fills_from: dict[str, Any], quote: str | None
) -> Order:
    """`Order` with identity from the ccxt order `raw` and status and fills from `fills_from`
    (the same order, or the market order a triggered stop became)."""
    filled = float(fills_from.get("filled") or 0.0)
    status, note = _status(fills_from.get("status"), filled)
    created = int(raw.get("timestamp") or 0)
    updated = int(fills_from.get("lastUpdateTimestamp") or fills_from.get("timestamp") or created)
    exchange_id = raw.get("id")
    return Order(
        id=request.client_order_id,
        request=request,
        status=status,
        filled_quantity=filled,
        average_price=_positive(fills_from.get("average")) if filled > 0 else None,
        fees_quote=_fees_quote(fills_from, quote),
        created_at_ms=created,
        updated_at_ms=updated,
        reason=note,
        exchange_order_id=str(exchange_id) if exchange_id is not None else None,
    )
