"""Orders, positions and the account, behind API keys.

A paper order must be on the symbol's grid (quantity in whole lots, prices on the tick, as the
map document states it): off it is a 422 naming the field and the nearest accepted value, as
the exchange would refuse it (live orders are checked against the exchange's own grid).
Every order is risk-checked against the active policy (with the map of the window the policy
names, the venues' sum by default or the venue in `exchange`, which must be fresh, except for
reduce-only orders: closing stays possible on an old map or none, at the last stored price;
`risk_map_exchange` in the answer says which map it read) before it reaches the venue: paper
accounts or, with
`TRADING_MODE=live`, the exchange. Idempotent on `client_order_id` per API key: the same
request again returns the same order; the same id with a different request is refused (409,
`DUPLICATE_ORDER`), also when the two arrive together. Over the policy's order rate the answer
is 429 with `Retry-After`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

from execsvc.api.auth import ApiKeyId
from execsvc.api.deps import Ctx
from execsvc.api.problems import Problem, body_problem, problems
from execsvc.api.responses import FastJSONResponse
from execsvc.api.schemas import (
    AccountResponse,
    OrderBody,
    OrderOut,
    PositionsResponse,
    order_out,
)
from execsvc.domain.orders import (
    Order,
    OrderRequest,
    off_grid_problem,
    order_shape_problem,
    request_digest,
)
from execsvc.domain.units import significant
from execsvc.venues.live import MAX_LIVE_CLIENT_ID

router = APIRouter(tags=["orders"])
OrderId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                              description="the order id, or your client_order_id")]


def _request(body: OrderBody, symbol: str, mode: str) -> OrderRequest:
    """The order as the venues take it; 422 naming the field when its shape is wrong."""
    problem = order_shape_problem(body.type, body.quantity, body.price, body.stop_price,
                                  body.time_in_force)
    if problem is not None:
        raise body_problem(*problem)
    if mode == "live" and len(body.client_order_id) > MAX_LIVE_CLIENT_ID:
        raise body_problem("client_order_id", f"at most {MAX_LIVE_CLIENT_ID} characters in "
                           "live mode (the exchange id carries a prefix naming your key)")
    return OrderRequest(
        client_order_id=body.client_order_id, symbol=symbol, side=body.side, type=body.type,
        quantity=body.quantity, price=body.price, stop_price=body.stop_price,
        reduce_only=body.reduce_only, time_in_force=body.time_in_force, leverage=body.leverage,
    )


@router.post("/orders", status_code=201, response_model=OrderOut,
             responses={200: {"model": OrderOut, "description": "A retry: the order the same "
                              "request already created"},
                        **problems(400, 401, 404, 409, 413, 429, 502, 503, 504)},
             summary="Place an order (risk-checked; idempotent on client_order_id)")
async def place_order(body: OrderBody, key: ApiKeyId, ctx: Ctx) -> FastJSONResponse:
    venue = ctx.venue
    symbol = ctx.known_symbol(body.symbol, "body.symbol")
    order_request = _request(body, symbol, venue.mode)
    existing = await venue.existing(key, order_request)
    if existing is not None:
        return FastJSONResponse(order_out(existing, venue.mode), status_code=200)
    view = await ctx.order_map(symbol, order_request.reduce_only, body.exchange)
    map_exchange = view.document["exchange"] if view is not None else None
    if venue.mode == "paper" and view is not None:
        problem = off_grid_problem(order_request, view.precision)
        if problem is not None:
            raise body_problem(*problem)
    context = await ctx.order_context(key, symbol, view)
    decision = await ctx.risk_gate.admit(
        ctx.policy, order_request, context, key, request_digest(order_request)
    )
    if not decision.allowed:
        raise Problem(
            422, "refused by the risk policy: " + ", ".join(decision.codes),
            type_="urn:execsvc:risk-rejected", policy=ctx.policy.label,
            risk_map_exchange=map_exchange,
            max_quantity=(view.precision.quantity_down(decision.max_quantity)
                          if view is not None else significant(decision.max_quantity)),
            violations=[asdict(v) for v in decision.violations],
        )
    try:
        order = await venue.submit(key, order_request)
    except Exception:
        await ctx.risk_gate.placed(key, order_request, decision, None)
        raise
    await ctx.risk_gate.placed(key, order_request, decision, order.id)
    return FastJSONResponse({**order_out(order, venue.mode), "risk_map_exchange": map_exchange},
                            status_code=201)


def _found(order: Order | None, order_id: str, mode: str) -> FastJSONResponse:
    if order is None:
        raise Problem(404, f"no order {order_id!r} for this API key", field="path.order_id",
                      reason="unknown_order")
    return FastJSONResponse(order_out(order, mode))


@router.get("/orders/{order_id}", response_model=OrderOut,
            responses=problems(401, 404, 502, 503, 504),
            summary="An order with its fills, by order id or client_order_id")
async def get_order(order_id: OrderId, key: ApiKeyId, ctx: Ctx) -> FastJSONResponse:
    return _found(await ctx.venue.get(key, order_id), order_id, ctx.venue.mode)


@router.delete("/orders/{order_id}", response_model=OrderOut,
               responses=problems(401, 404, 502, 503, 504),
               summary="Cancel a working order")
async def cancel_order(order_id: OrderId, key: ApiKeyId, ctx: Ctx) -> FastJSONResponse:
    return _found(await ctx.venue.cancel(key, order_id), order_id, ctx.venue.mode)


@router.get("/positions", response_model=PositionsResponse,
            responses=problems(401, 502, 503, 504),
            summary="Open positions, marked to market")
async def positions(key: ApiKeyId, ctx: Ctx) -> FastJSONResponse:
    return FastJSONResponse({"positions": await ctx.venue.positions(key),
                             "mode": ctx.venue.mode})


@router.get("/account", response_model=AccountResponse, responses=problems(401, 502, 503, 504),
            summary="Balance, margin and PnL")
async def account(key: ApiKeyId, ctx: Ctx) -> FastJSONResponse:
    return FastJSONResponse({**await ctx.venue.account(key), "mode": ctx.venue.mode})
