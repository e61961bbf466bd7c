"""Orders, positions and the account, behind API keys.

Every order is risk-checked against the active policy (with the map the policy names, which
must be fresh) before it reaches the paper engine or, with `TRADING_MODE=live`, the exchange.
Idempotent on `client_order_id` per API key: the same request again returns the same order;
the same id with a different request is refused (409, `DUPLICATE_ORDER`).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Request
from pydantic import Field

from execsvc.api.advice_cache import AdviceCache
from execsvc.api.auth import ApiKeyId
from execsvc.api.context import ApiContext
from execsvc.api.problems import Problem, body_problem
from execsvc.api.responses import FastJSONResponse
from execsvc.api.routes_risk import brackets_for
from execsvc.api.routes_suggest import fresh_map
from execsvc.api.schemas import PositivePrice, PositiveQuantity, Symbol
from execsvc.api.schemas import Request as Body
from execsvc.orders.model import Order, OrderRequest
from execsvc.orders.venues import MAX_LIVE_CLIENT_ID, DuplicateOrder, OrderVenue
from execsvc.risk import RiskContext

router = APIRouter(tags=["orders"])
OrderId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class OrderBody(Body):
    client_order_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,36}$",
                                 description="your id; retries with the same id are safe")
    symbol: Symbol
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop"]
    quantity: PositiveQuantity = Field(le=1e9)
    price: PositivePrice | None = Field(None, le=1e12, description="limit price")
    stop_price: PositivePrice | None = Field(None, le=1e12, description="stop trigger")
    reduce_only: bool = False
    time_in_force: Literal["GTC", "IOC", "POST_ONLY"] = "GTC"
    leverage: float = Field(10.0, ge=1, le=125)

    def check_fields(self) -> None:
        """422 naming the field when the prices do not fit the order type."""
        if self.type == "limit" and self.price is None:
            raise body_problem("price", "a limit order needs price")
        if self.type != "limit" and self.price is not None:
            raise body_problem("price", "price applies to limit orders only")
        if self.type == "stop" and self.stop_price is None:
            raise body_problem("stop_price", "a stop order needs stop_price")
        if self.type != "stop" and self.stop_price is not None:
            raise body_problem("stop_price", "stop_price applies to stop orders only; "
                                 "send the stop as its own order")
        if self.type != "limit" and self.time_in_force != "GTC":
            raise body_problem("time_in_force", "time_in_force applies to limit orders only")

    def order_request(self, symbol: str) -> OrderRequest:
        return OrderRequest(
            client_order_id=self.client_order_id, symbol=symbol, side=self.side,
            type=self.type, quantity=self.quantity, price=self.price,
            stop_price=self.stop_price, reduce_only=self.reduce_only,
            time_in_force=self.time_in_force, leverage=self.leverage,
        )


def request_digest(order: OrderRequest) -> str:
    """Names one exact request: a retry of it matches, a different body under the same
    `client_order_id` does not."""
    body = orjson.dumps(asdict(order), option=orjson.OPT_SORT_KEYS)
    return f"{order.client_order_id}#{hashlib.sha256(body).hexdigest()[:16]}"



def order_json(order: Order, mode: str) -> dict[str, Any]:
    request = order.request
    return {
        "id": order.id,
        **{k: v for k, v in asdict(request).items()},
        "status": order.status,
        "filled_quantity": order.filled_quantity,
        "remaining_quantity": order.remaining_quantity,
        "average_price": order.average_price,
        "fees_quote": order.fees_quote,
        "created_at_ms": order.created_at_ms,
        "updated_at_ms": order.updated_at_ms,
        "reason": order.reason,
        "exchange_order_id": order.exchange_order_id,
        "fills": [
            {"quantity": f.quantity, "price": f.price, "fee_quote": f.fee_quote,
             "liquidity": f.liquidity, "timestamp_ms": f.timestamp_ms}
            for f in order.fills
        ],
        "mode": mode,
    }


def _venue(request: Request) -> OrderVenue:
    return request.app.state.venue


@router.post("/orders", status_code=201, response_model=None, summary="Place an order")
async def place_order(body: OrderBody, key: ApiKeyId, request: Request) -> FastJSONResponse:
    ctx: ApiContext = request.app.state.ctx
    venue = _venue(request)
    body.check_fields()
    if venue.mode == "live" and len(body.client_order_id) > MAX_LIVE_CLIENT_ID:
        raise body_problem("client_order_id", f"at most {MAX_LIVE_CLIENT_ID} characters in "
                             "live mode (the exchange id carries a prefix naming your key)")
    symbol = ctx.known_symbol(body.symbol)
    order_request = body.order_request(symbol)
    try:
        existing = await venue.existing(key, order_request)
    except DuplicateOrder as exc:
        raise Problem(409, str(exc), code="DUPLICATE_ORDER", order_id=exc.order_id) from exc
    if existing is not None:
        return FastJSONResponse(order_json(existing, venue.mode), status_code=200)
    policy = request.app.state.policy
    cache: AdviceCache = request.app.state.advice
    _, view, _ = await fresh_map(ctx, cache, symbol, policy.map_window, None)
    context = RiskContext(
        mark_price=view.price, brackets=brackets_for(symbol), clusters=view.clusters,
        position=await venue.position(key, symbol),
        quote_currency=view.document.get("quote_currency", "USDT"),
    )
    decision = await request.app.state.risk_gate.admit(
        policy, order_request, context, key, request_digest(order_request)
    )
    if not decision.allowed:
        raise Problem(
            422, "refused by the risk policy: " + ", ".join(decision.codes),
            type_="urn:execsvc:risk-rejected", policy=policy.label,
            max_quantity=decision.max_quantity,
            violations=[asdict(v) for v in decision.violations],
        )
    order = await venue.submit(key, order_request)
    return FastJSONResponse(order_json(order, venue.mode), status_code=201)


@router.get("/orders/{order_id}", response_model=None,
            summary="An order with its fills, by order id or client_order_id")
async def get_order(order_id: OrderId, key: ApiKeyId, request: Request) -> FastJSONResponse:
    venue = _venue(request)
    order = await venue.get(key, order_id)
    if order is None:
        raise Problem(404, f"no order {order_id!r} for this API key", field="path.order_id")
    return FastJSONResponse(order_json(order, venue.mode))


@router.delete("/orders/{order_id}", response_model=None, summary="Cancel a working order")
async def cancel_order(order_id: OrderId, key: ApiKeyId, request: Request) -> FastJSONResponse:
    venue = _venue(request)
    order = await venue.cancel(key, order_id)
    if order is None:
        raise Problem(404, f"no order {order_id!r} for this API key", field="path.order_id")
    return FastJSONResponse(order_json(order, venue.mode))


@router.get("/positions", response_model=None, summary="Open positions, marked to market")
async def positions(key: ApiKeyId, request: Request) -> FastJSONResponse:
    venue = _venue(request)
    return FastJSONResponse({"positions": await venue.positions(key), "mode": venue.mode})


@router.get("/account", response_model=None, summary="Balance, margin and PnL")
async def account(key: ApiKeyId, request: Request) -> FastJSONResponse:
    venue = _venue(request)
    return FastJSONResponse({**await venue.account(key), "mode": venue.mode})
